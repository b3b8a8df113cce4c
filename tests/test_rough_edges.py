"""Issue 20's rough edges that have no nearer test file: what `foundry-goldens record` prints
where (report on stdout, errors and warnings on stderr, never wrapped outside a terminal), the
project endpoint's shape, the CA bundle in effect, and a connection failure named by the
snippet (host and port, and why) yet masked by the harness wherever it prints.

Live-looking endpoints use planted canary hosts: name resolution is patched so that nothing
leaves the machine (the sign-in goes to the emulator's Entra ID stand-in on loopback)."""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import socket
import ssl
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import trustme

from foundry_goldens import config as config_module
from foundry_goldens.cli.main import main
from foundry_goldens.emulator.entra import EntraStandIn
from foundry_goldens.recording.progress import (
    UNWRAPPED_WIDTH,
    DialogueOutcome,
    make_console,
    print_outcomes,
)
from foundry_goldens.snippet.credentials import StaticTokenCredential
from tests.paths import DIALOGUE_DIR, INTEGRATION_PATH
from tests.scripted_foundry import CONV

# A customer's resource and project, as a live endpoint names them: never to be printed.
CANARY_RESOURCE = "canaryres-4b7e"
CANARY_PROJECT = "canaryproj-93d1"
CANARY_HOST = f"{CANARY_RESOURCE}.services.ai.azure.com"
CANARY_ENDPOINT = f"https://{CANARY_HOST}/api/projects/{CANARY_PROJECT}"


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def clean_environment(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AZURE_", "FOUNDRY_"))}
    for key in ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE", "SSL_CERT_DIR", "CI", "TTY_COMPATIBLE"):
        env.pop(key, None)
    return {**env, "NO_COLOR": "1", **extra}


def record_command(cwd: Path, *args: str | Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "foundry_goldens", "record", *map(str, args)],
        cwd=cwd,
        env=clean_environment(**env),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def project_dirs(root: Path) -> list[str | Path]:
    return [
        "--root", root, "--snippet", INTEGRATION_PATH, "--dialogues", root / "dialogues",
        "--cassettes", root / "cassettes", "--snapshots", root / "snapshots",
        "--env-file", root / ".env",
    ]  # fmt: skip


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "dialogues").mkdir()
    shutil.copyfile(DIALOGUE_DIR / "greeting.yaml", tmp_path / "dialogues" / "greeting.yaml")
    return tmp_path


# -- c: the report on stdout, errors and warnings on stderr --------------------------------------


def test_record_prints_its_report_on_stdout_and_failures_on_stderr(root: Path) -> None:
    (root / "dialogues" / "broken_promise.yaml").write_text(
        "name: broken_promise\nturns:\n  - user: Hello!\n    expect: {tools: [get_order]}\n",
        encoding="utf-8",
    )
    result = record_command(root, "--emulator", *project_dirs(root))

    assert result.returncode == 1, result.stdout + result.stderr
    assert "recording against the local Foundry emulator: 2 dialogue(s)" in result.stdout
    rows = {line.split("│")[1].strip(): line for line in result.stdout.splitlines() if "│" in line}
    assert " recorded " in rows["greeting"] and " failed " in rows["broken_promise"]
    [failure] = result.stderr.splitlines()
    assert failure.startswith("failed: broken_promise: turn 1: ")
    assert "failed:" not in result.stdout


def test_record_errors_go_to_stderr_alone(root: Path) -> None:
    result = record_command(root, *project_dirs(root))  # neither live settings nor --emulator
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.startswith("error: nothing to record against")


# -- h: no wrapping outside a terminal ----------------------------------------------------------


def long_path(root: Path) -> Path:
    """A path of exactly 300 characters under `root`, in segments of at most 60."""
    path = str(root)
    while 300 - len(path) > 62:
        path += "/" + "x" * 60
    return Path(path + "/" + "v" * (300 - len(path) - 1))


@pytest.mark.parametrize("columns", ["20", "300"])
def test_a_300_character_path_stays_on_one_line_whatever_columns_says(
    root: Path, columns: str
) -> None:
    missing = long_path(root)
    assert len(str(missing)) == 300
    result = record_command(
        root, "--emulator", "--root", root, "--snippet", INTEGRATION_PATH, "--dialogues", missing,
        COLUMNS=columns,
    )  # fmt: skip
    assert result.returncode == 2
    [line] = [x for x in result.stderr.splitlines() if str(missing) in x]
    assert line.startswith("error: [tool.foundry-goldens] dialogues in ")


@pytest.mark.parametrize(
    ("environment", "wraps"),
    [
        ({}, False),  # captured: not a terminal
        ({"CI": "true"}, False),
        ({"CI": "true", "TTY_COMPATIBLE": "1"}, False),  # a CI that claims a terminal
        ({"TTY_COMPATIBLE": "1"}, True),  # a person's terminal keeps rich's wrapping
        ({"FORCE_COLOR": "1"}, False),  # colour asked for on a pipe: still not a terminal's width
    ],
)
def test_the_summary_table_and_failures_stay_on_one_line_in_ci(
    root: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    environment: dict[str, str],
    wraps: bool,
) -> None:
    monkeypatch.setenv("COLUMNS", "40")
    monkeypatch.setenv("NO_COLOR", "1")
    for key in ("CI", "TTY_COMPATIBLE", "FORCE_COLOR"):
        monkeypatch.delenv(key, raising=False)
    for key, value in environment.items():
        monkeypatch.setenv(key, value)
    path = str(long_path(root))
    out, err = make_console(), make_console(stderr=True)
    assert out.width == (40 if wraps else UNWRAPPED_WIDTH)
    outcome = DialogueOutcome("greeting", 2, 1, "failed", f"turn 2: cannot write {path}")
    print_outcomes(out, [outcome], check=False, errors=err)
    captured = capsys.readouterr()
    if wraps:
        assert path not in captured.out
        return
    [row] = [line for line in captured.out.splitlines() if "greeting" in line]
    assert f"turn 2: cannot write {path}" in row
    assert captured.err.splitlines() == [f"failed: greeting: turn 2: cannot write {path}"]


# -- e: the project endpoint's shape ------------------------------------------------------------


@pytest.mark.parametrize("source", ["env-file", "environment"])
def test_an_endpoint_without_a_project_is_refused_naming_its_source_not_its_host(
    root: Path, source: str
) -> None:
    settings = {
        "AZURE_AI_PROJECT_ENDPOINT": f"https://{CANARY_HOST}/",
        "AZURE_FOUNDRY_AGENT_NAME": "support",
    }
    env: dict[str, str] = {}
    if source == "env-file":
        (root / ".env").write_text("".join(f"{k}={v}\n" for k, v in settings.items()), "utf-8")
    else:
        env = settings
    result = record_command(root, *project_dirs(root), **env)

    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stdout == ""
    origin = f"the env-file {root / '.env'}" if source == "env-file" else "the process environment"
    assert result.stderr == (
        f"error: AZURE_AI_PROJECT_ENDPOINT (from {origin}) is not a Foundry project endpoint: "
        "it has no path (the resource's endpoint, not a project's). Expected "
        "https://<resource>.services.ai.azure.com/api/projects/<project>, the project endpoint "
        "shown on the project's overview page in the Foundry portal\n"
    )
    assert CANARY_RESOURCE not in result.stderr
    assert not (root / "cassettes").exists()


# -- f and g: a live-looking recording, in process, resolving the canary host to loopback ------


@pytest.fixture
def in_process(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The command run in this process: its configuration and environment changes undone."""
    for key in list(os.environ):
        if key.startswith(("AZURE_", "FOUNDRY_")):
            monkeypatch.delenv(key)
    for key in ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE", "SSL_CERT_DIR", "CI"):
        monkeypatch.setenv(key, "")  # recorded, so that a value the command sets is undone
        monkeypatch.delenv(key)
    previous = config_module._active  # the command activates its own configuration
    yield
    config_module._active = previous


@pytest.fixture
def entra() -> Iterator[EntraStandIn]:
    with EntraStandIn() as stand_in:
        yield stand_in


def resolve_to(monkeypatch: pytest.MonkeyPatch, host: str, port: int) -> None:
    """`host` (any port) resolves to 127.0.0.1:`port`; every other name as before."""
    resolve = socket.getaddrinfo

    def patched(name: Any, service: Any, *args: Any, **kwargs: Any) -> Any:
        if name == host:
            return resolve("127.0.0.1", port, *args, **kwargs)
        return resolve(name, service, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", patched)


def sign_in_settings(entra: EntraStandIn) -> dict[str, str]:
    principal = entra.service_principal
    return {
        "AZURE_AI_PROJECT_ENDPOINT": CANARY_ENDPOINT,
        "AZURE_FOUNDRY_AGENT_NAME": "retail-support",
        "AZURE_TENANT_ID": principal.tenant_id,
        "AZURE_CLIENT_ID": principal.client_id,
        "AZURE_CLIENT_SECRET": principal.client_secret,
        "AZURE_AUTHORITY_HOST": entra.authority_host,
        "REQUESTS_CA_BUNDLE": entra.ca_bundle,
    }


def record_live(root: Path, settings: dict[str, str], capsys: pytest.CaptureFixture[str]) -> Any:
    (root / ".env").write_text("".join(f"{k}={v}\n" for k, v in settings.items()), "utf-8")
    code = main(["record", *map(str, project_dirs(root)), "--only", "greeting"])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_a_connection_failure_is_named_by_the_snippet_and_masked_by_the_recorder(
    root: Path,
    entra: EntraStandIn,
    in_process: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    resolve_to(monkeypatch, CANARY_HOST, closed_port())
    settings = sign_in_settings(entra)

    with caplog.at_level(logging.DEBUG):
        code, out, err = record_live(root, settings, capsys)
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "<RESOURCE_HOST>" in logged  # httpcore logs where it connects: masked
    assert CANARY_RESOURCE not in logged and CANARY_PROJECT not in logged

    assert code == 1, out + err
    [failure] = err.splitlines()
    assert failure.startswith("failed: greeting: turn 1: ")
    # Where it tried and why, with the host masked as every printed line masks it.
    assert "could not connect to Foundry at <RESOURCE_HOST>:443: connection refused" in failure
    for shown in (out, err):
        assert CANARY_RESOURCE not in shown and CANARY_PROJECT not in shown
        assert settings["AZURE_CLIENT_SECRET"] not in shown
    assert not (root / "cassettes" / "greeting.json").exists()


def test_a_machine_wide_ca_bundle_is_named_when_it_overrides_the_env_files(
    root: Path,
    entra: EntraStandIn,
    in_process: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """REQUESTS_CA_BUNDLE in the process environment wins over .env's (documented): it is said
    before the run, and the sign-in's TLS failure names the bundle used and its source."""
    machine = root / "machine-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(machine))  # not the CA the stand-in's cert is from
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(machine))
    settings = sign_in_settings(entra)  # .env trusts the stand-in's CA

    code, out, err = record_live(root, settings, capsys)

    assert code == 1, out + err
    warning, failure = err.splitlines()
    assert warning == (
        f"warning: REQUESTS_CA_BUNDLE is set in the process environment ({machine}) and in the "
        f"env-file {root / '.env'} to another file; the process environment's is used (it wins "
        "over the env-file): unset it to use the env-file's"
    )
    assert failure.startswith("failed: greeting: turn 1: ")
    assert "CERTIFICATE_VERIFY_FAILED" in failure
    assert failure.endswith(
        f"; the sign-in verified TLS against REQUESTS_CA_BUNDLE={machine} "
        "(from the process environment)"
    )
    assert settings["AZURE_CLIENT_SECRET"] not in out + err
    assert CANARY_RESOURCE not in out + err


@contextlib.contextmanager
def tls_server(host: str) -> Iterator[int]:
    """A TLS listener on loopback whose certificate for `host` comes from a CA nobody trusts;
    it completes no handshake a client verifies. Yields its port."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    trustme.CA().issue_cert(host).configure_cert(context)
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    stop = threading.Event()

    def serve() -> None:
        while True:
            connection, _ = server.accept()
            if stop.is_set():
                connection.close()
                return
            with contextlib.suppress(OSError), connection:
                context.wrap_socket(connection, server_side=True).close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield port
    finally:
        stop.set()
        socket.create_connection(("127.0.0.1", port)).close()  # wakes the blocked accept()
        thread.join(timeout=10)
        server.close()


def test_the_env_files_ssl_cert_file_is_applied_and_named_when_foundrys_tls_fails(
    root: Path,
    entra: EntraStandIn,
    in_process: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """openai's client to Foundry trusts SSL_CERT_FILE from the process environment only: the
    env-file's is put there for the run (the environment would win), and a failed verification
    names it and its source."""
    bundle = root / "project-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(bundle))  # not the CA of the server's certificate
    with tls_server(CANARY_HOST) as port:
        resolve_to(monkeypatch, CANARY_HOST, port)
        settings = {**sign_in_settings(entra), "SSL_CERT_FILE": str(bundle)}
        code, out, err = record_live(root, settings, capsys)
        assert os.environ["SSL_CERT_FILE"] == str(bundle)  # undone by in_process

    assert code == 1, out + err
    [failure] = err.splitlines()
    assert (
        "Foundry error connection_error: could not connect to Foundry at <RESOURCE_HOST>:443: "
        "TLS certificate verification failed (" in failure
    )
    assert failure.endswith(
        f"; the connection to Foundry verified TLS against SSL_CERT_FILE={bundle} "
        f"(from the env-file {root / '.env'})"
    )
    assert CANARY_RESOURCE not in out + err and CANARY_PROJECT not in out + err


# -- f: the snippet's own message, as AI GO! stores it ------------------------------------------


def unreachable(endpoint: str) -> dict[str, Any]:
    return {
        "AZURE_AI_PROJECT_ENDPOINT": endpoint,
        "AZURE_FOUNDRY_AGENT_NAME": "retail-support",
        "AZURE_TOKEN_CREDENTIAL": StaticTokenCredential(),
        "FOUNDRY_MAX_RETRIES": "0",  # one attempt: the failure, not openai's backoff
    }


def connection_failure(snippet: ModuleType, environment: dict[str, Any]) -> str:
    model_input = snippet.ModelInput(conversation_id=CONV, user_message="hi")
    with pytest.raises(snippet.FoundryError) as caught:
        snippet.query_model(model_input, environment)
    assert caught.value.code == "connection_error"
    assert str(caught.value) == f"Foundry error connection_error: {caught.value.message}"
    return str(caught.value.message)


def test_a_refused_connection_names_the_host_port_and_reason(snippet: ModuleType) -> None:
    port = closed_port()
    message = connection_failure(snippet, unreachable(f"http://127.0.0.1:{port}/api/projects/x"))
    assert message == f"could not connect to Foundry at 127.0.0.1:{port}: connection refused"


def test_a_dns_failure_names_the_host_and_the_default_port(
    snippet: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    resolve = socket.getaddrinfo

    def no_such_host(name: Any, *args: Any, **kwargs: Any) -> Any:
        if name == CANARY_HOST:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return resolve(name, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", no_such_host)
    message = connection_failure(snippet, unreachable(CANARY_ENDPOINT))
    assert message == (
        f"could not connect to Foundry at {CANARY_HOST}:443: "
        f"DNS lookup of {CANARY_HOST} failed (Name or service not known)"
    )


def test_a_tls_verification_failure_says_so(snippet: ModuleType) -> None:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    trustme.CA().issue_cert("127.0.0.1").configure_cert(context)  # a CA nobody trusts
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]

        def handshake_once() -> None:
            connection, _ = server.accept()
            with contextlib.suppress(OSError), connection:
                context.wrap_socket(connection, server_side=True).close()

        thread = threading.Thread(target=handshake_once, daemon=True)
        thread.start()
        endpoint = f"https://127.0.0.1:{port}/api/projects/x"
        message = connection_failure(snippet, unreachable(endpoint))
        thread.join(timeout=10)
    assert message.startswith(
        f"could not connect to Foundry at 127.0.0.1:{port}: TLS certificate verification failed ("
    )
