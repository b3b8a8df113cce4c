"""[tool.foundry-goldens]: paths relative to the project root, overrides from the command line,
and errors that name the key and the file."""

from __future__ import annotations

from pathlib import Path

import pytest

from foundry_goldens.config import ConfigError, load_config


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
