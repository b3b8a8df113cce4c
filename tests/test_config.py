"""[tool.foundry-goldens]: paths relative to the project root, overrides from the command line,
and errors that name the key and the file."""

from __future__ import annotations

from pathlib import Path

import pytest

from foundry_goldens.config import ConfigError, check_project_endpoint, load_config


def project(tmp_path: Path, table: str) -> Path:
    root = tmp_path / "project"
    (root / "sub" / "deeper").mkdir(parents=True)
    (root / "pyproject.toml").write_text(f"[tool.foundry-goldens]\n{table}", encoding="utf-8")
    return root


def test_paths_resolve_against_the_project_root_from_any_directory_below(tmp_path: Path) -> None:
    root = project(tmp_path, 'dialogues = "specs"\nagent = "support"\n')
    config = load_config(cwd=root / "sub" / "deeper")
    assert config.root == root.resolve()
    assert config.source == (root / "pyproject.toml").resolve()
    assert config.dialogues == root.resolve() / "specs"
    assert config.snippet == root.resolve() / "integration" / "run_inference.py"  # default
    assert config.env_file == root.resolve() / "integration" / ".env"
    assert config.agent == "support"


def test_command_line_values_win_and_resolve_against_the_current_directory(
    tmp_path: Path,
) -> None:
    root = project(tmp_path, 'cassettes = "tapes"\n')
    here = root / "sub"
    config = load_config(cwd=here, overrides={"cassettes": Path("mine"), "agent": "other"})
    assert config.cassettes == here.resolve() / "mine"
    assert config.agent == "other"


@pytest.mark.parametrize(
    ("table", "named"),
    [
        ("snippets = 'x.py'\n", "snippets"),  # a typo is not ignored
        ("dialogues = 3\n", "dialogues"),
        ("agent = ''\n", "agent"),
        ("replay-env = { AZURE_AI_PROJECT_ENDPOINT = 'x' }\n", "replay-env"),
        ("replay-env = { FOUNDRY_MCP_APPROVAL = 1 }\n", "replay-env"),
    ],
)
def test_a_bad_value_names_the_key_and_the_file(tmp_path: Path, table: str, named: str) -> None:
    root = project(tmp_path, table)
    with pytest.raises(ConfigError) as raised:
        load_config(cwd=root)
    message = str(raised.value)
    assert f"[tool.foundry-goldens] {named} in {(root / 'pyproject.toml').resolve()}" in message


def test_a_missing_snippet_names_the_key_the_file_and_the_path(tmp_path: Path) -> None:
    root = project(tmp_path, 'snippet = "agent/run.py"\n')
    config = load_config(cwd=root)
    with pytest.raises(ConfigError) as raised:
        config.require_snippet()
    assert "[tool.foundry-goldens] snippet in " in str(raised.value)
    assert str(root.resolve() / "agent" / "run.py") in str(raised.value)


def test_no_configured_project_says_how_to_make_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="foundry-goldens init DIR"):
        load_config(cwd=tmp_path)


def test_env_file_values_yield_to_the_environment(tmp_path: Path) -> None:
    root = project(tmp_path, 'env-file = ".env"\nagent = "fallback"\n')
    (root / ".env").write_text("AZURE_AI_PROJECT_ENDPOINT=from-file\nFOO=file\n", "utf-8")
    settings = load_config(cwd=root).settings({"FOO": "environment"})
    assert settings["AZURE_AI_PROJECT_ENDPOINT"] == "from-file"
    assert settings["FOO"] == "environment"
    assert settings["AZURE_FOUNDRY_AGENT_NAME"] == "fallback"


def test_replay_env_reaches_the_snippet_on_replay_and_cannot_override_replay_keys(
    tmp_path: Path,
) -> None:
    from foundry_goldens.config import activate, active
    from foundry_goldens.replay.replayer import PLACEHOLDER_ENDPOINT, replay_environment

    root = project(tmp_path, 'replay-env = { FOUNDRY_MCP_APPROVAL = "deny" }\n')
    previous = active()
    activate(load_config(cwd=root))
    try:
        environment = replay_environment("support")
    finally:
        activate(previous)
    assert environment["FOUNDRY_MCP_APPROVAL"] == "deny"
    assert environment["AZURE_AI_PROJECT_ENDPOINT"] == PLACEHOLDER_ENDPOINT
    assert environment["FOUNDRY_MAX_RETRIES"] == "0"


# -- the project endpoint's shape, and where a setting came from ---------------------------------

CANARY_HOST = "canaryres-5f1e.services.ai.azure.com"  # stands for a customer's resource


@pytest.mark.parametrize(
    "endpoint",
    [
        f"https://{CANARY_HOST}/api/projects/support",
        f"https://{CANARY_HOST}/api/projects/support/",
        f"https://{CANARY_HOST}:443/api/projects/support",
        "https://canaryres.services.ai.azure.us/api/projects/support",  # Azure Government
        "https://canaryres.services.ai.azure.cn/api/projects/support",  # Azure China
        "https://foundry.internal.example/api/projects/support",  # a private link's name
        "http://127.0.0.1:8123/api/projects/demo",  # the emulator
        "http://localhost:8123/api/projects/demo",
        "http://[::1]:8123/api/projects/demo",
    ],
)
def test_a_project_endpoint_on_any_host_is_accepted(endpoint: str) -> None:
    check_project_endpoint(endpoint, "the process environment")


def test_the_emulators_own_endpoint_is_accepted() -> None:
    from foundry_goldens.emulator import FoundryEmulator

    with FoundryEmulator(sign_in=False) as emulator:
        assert emulator.endpoint.startswith("http://127.0.0.1:")
        check_project_endpoint(emulator.endpoint, "the process environment")


@pytest.mark.parametrize(
    ("endpoint", "problem"),
    [
        (f"https://{CANARY_HOST}", "it has no path (the resource's endpoint, not a project's)"),
        (f"https://{CANARY_HOST}/", "it has no path"),
        (
            f"https://{CANARY_HOST}/api/projects/support/openai/v1",
            "its path is '/api/projects/<project>/openai/v1', not /api/projects/<project>",
        ),
        (f"https://{CANARY_HOST}/api/project/x", "its path is '/api/project/x'"),
        (f"https://{CANARY_HOST}/api/projects/", "its path is '/api/projects/'"),
        (f"{CANARY_HOST}/api/projects/support", "it is not an https:// URL with a host"),
        (f"ftp://{CANARY_HOST}/api/projects/support", "it is not an https:// URL with a host"),
        (f"http://{CANARY_HOST}/api/projects/support", "plain http, which only a local emulator"),
        (f"https://user:pw@{CANARY_HOST}/api/projects/x", "it holds credentials"),
        (f"https://{CANARY_HOST}/api/projects/x?api-version=1", "a query or a fragment"),
        (f"https://{CANARY_HOST}:port/api/projects/x", "its port is not a number"),
    ],
)
def test_a_malformed_endpoint_names_the_setting_and_its_source_never_the_host(
    endpoint: str, problem: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        check_project_endpoint(endpoint, "the env-file /p/integration/.env")
    message = str(raised.value)
    assert message.startswith(
        "AZURE_AI_PROJECT_ENDPOINT (from the env-file /p/integration/.env) is not a Foundry "
        "project endpoint: "
    )
    assert problem in message
    assert "Expected https://<resource>.services.ai.azure.com/api/projects/<project>" in message
    assert "canaryres" not in message and "user:pw" not in message


def test_origin_and_shadowed_say_where_a_setting_comes_from(tmp_path: Path) -> None:
    root = project(tmp_path, 'env-file = ".env"\n')
    (root / ".env").write_text(
        "REQUESTS_CA_BUNDLE=/project/ca.pem\nSSL_CERT_FILE=/same.pem\nAZURE_CLIENT_ID=x\n",
        "utf-8",
    )
    config = load_config(cwd=root)
    environ = {"REQUESTS_CA_BUNDLE": "/machine/ca.pem", "SSL_CERT_FILE": "/same.pem"}
    assert config.origin("REQUESTS_CA_BUNDLE", environ) == "the process environment"
    assert config.origin("AZURE_CLIENT_ID", environ) == f"the env-file {root.resolve() / '.env'}"
    assert config.origin("AZURE_TENANT_ID", environ) == "nowhere (not set)"
    keys = ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE", "SSL_CERT_DIR")
    assert config.shadowed(environ, keys) == ["REQUESTS_CA_BUNDLE"]  # the same value: no news
    assert config.settings(environ)["REQUESTS_CA_BUNDLE"] == "/machine/ca.pem"  # documented
