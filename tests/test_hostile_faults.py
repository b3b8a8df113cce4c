"""User mistakes and hostile surroundings, each run as a team runs the command (a subprocess in
a project made with `foundry-goldens init`):

- a golden test failing before its snapshot is compared never gets its snapshot called
  "unused", and `--snapshot-update` never deletes the golden of a dialogue that exists;
- a sign-in to an authority that accepts the connection and never answers ends within the
  dialogue's deadline;
- a snippet that does not compile, an emulator port out of range or taken, an env-file that
  is not UTF-8: exit 2 with one line naming the file or option, no traceback; a team's snippet
  without the reference snippet's constants records;
- `foundry-goldens emulator` removes its throwaway CA file on SIGTERM and Ctrl-C.

Generous time bounds only: nothing here depends on how fast the machine is.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from foundry_goldens.emulator import FoundryEmulator
from foundry_goldens.snippet.watchdog import DeadlineInterrupt, interrupt_after
from tests.paths import CASSETTE_DIR, SNAPSHOT_DIR

SNIPPET = Path("integration") / "run_inference.py"


def clean_environment(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AZURE_", "FOUNDRY_"))}
    env.pop("PYTEST_ADDOPTS", None)
    return {**env, **extra}


def command(
    cwd: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args],
        cwd=cwd,
        env=env or clean_environment(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def says(output: str, expected: str) -> bool:
    """`expected` is in `output`, whitespace aside: rich wraps (even inside a long path) at the
    terminal's width, whatever it is."""
    return "".join(expected.split()) in "".join(output.split())


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """`foundry-goldens init`, with the greeting golden this repository recorded (its
    dialogue and snippet are the scaffold's copies)."""
    root = tmp_path / "project"
    made = command(tmp_path, "foundry_goldens", "init", str(root))
    assert made.returncode == 0, made.stderr
    (root / "goldens" / "snapshots").mkdir(parents=True, exist_ok=True)
    (root / "cassettes").mkdir(exist_ok=True)
    shutil.copyfile(SNAPSHOT_DIR / "greeting.json", root / "goldens/snapshots/greeting.json")
    shutil.copyfile(CASSETTE_DIR / "greeting.json", root / "cassettes/greeting.json")
    return root


def pytest_in(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return command(root, "pytest", "-p", "no:cacheprovider", "-p", "no:randomly", *args)


# ------------------------------------------------ a failed check never loses the golden


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text("utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), "utf-8")


BREAKAGES = {
    # an expect: block that no longer holds (its digest differs: checked again, and fails)
    "broken_expect": lambda root: _edit(
        root / "goldens/dialogues/greeting.yaml",
        '["Contoso Retail support assistant"]',
        '["Fabrikam"]',
    ),
    "changed_user_text": lambda root: _edit(
        root / "goldens/dialogues/greeting.yaml", '"Hello!"', '"Hello there!"'
    ),
    "snippet_syntax_error": lambda root: _edit(
        root / SNIPPET, "def run_inference(", "def run_inference(:\ndef _was("
    ),
    "missing_cassette": lambda root: (root / "cassettes/greeting.json").unlink(),
    "dialogue_with_aliases": lambda root: _edit(
        root / "goldens/dialogues/greeting.yaml", "name: greeting", "name: &n greeting"
    ),
}


@pytest.mark.parametrize("breakage", sorted(BREAKAGES))
def test_a_golden_failing_before_its_snapshot_keeps_it(project: Path, breakage: str) -> None:
    snapshot = project / "goldens/snapshots/greeting.json"
    golden = snapshot.read_bytes()
    BREAKAGES[breakage](project)

    failed = pytest_in(project, "-v")
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "test_golden[greeting] FAILED" in failed.stdout
    assert "unused" not in failed.stdout  # syrupy's, with its --snapshot-update hint
    assert "Re-run pytest with --snapshot-update" not in failed.stdout

    updated = pytest_in(project, "--snapshot-update")
    assert updated.returncode == 1, updated.stdout  # still failing, and saying so
    assert "deleted" not in updated.stdout
    assert snapshot.read_bytes() == golden


def test_a_snippet_syntax_error_fails_the_golden_naming_the_file(project: Path) -> None:
    BREAKAGES["snippet_syntax_error"](project)
    failed = pytest_in(project)
    snippet = project / SNIPPET
    assert f"{snippet}:" in failed.stdout
    assert "the snippet is not valid Python" in failed.stdout
    assert "Traceback" not in failed.stdout


def test_a_dialogue_that_is_gone_still_has_its_snapshot_deleted(project: Path) -> None:
    """The other side: what syrupy's hint is for still works."""
    (project / "goldens/dialogues/greeting.yaml").write_text(
        "name: other\nturns:\n  - user: hi\n", "utf-8"
    )
    (project / "goldens/dialogues/greeting.yaml").rename(project / "goldens/dialogues/other.yaml")
    pytest_in(project, "--snapshot-update")
    assert not (project / "goldens/snapshots/greeting.json").exists()


# ------------------------------------------------ a sign-in that never answers


@pytest.fixture
def silent_authority() -> Iterator[str]:
    """An authority host that accepts TCP connections and never says a word."""
    server = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except TimeoutError:
                continue
            except OSError:
                return

    thread = threading.Thread(target=accept, name="silent-authority", daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(timeout=5)
        for connection in held:
            connection.close()
        server.close()


@pytest.mark.parametrize("tls", [False, True], ids=["read", "tls-handshake"])
def test_the_watchdog_cuts_a_socket_call_that_never_returns(
    silent_authority: str, tls: bool
) -> None:
    """A blocked recv (or TLS handshake) runs no bytecode, so the interrupt alone cannot land."""
    host, _, port = silent_authority.partition(":")
    started = time.monotonic()
    with socket.create_connection((host, int(port))) as connection:
        connection.settimeout(60)  # as requests' 300 s: far past the deadline (and no hang)
        with (
            pytest.raises(DeadlineInterrupt, match=rf"no answer from {silent_authority}"),
            interrupt_after(0.5, "the sign-in was still waiting"),
        ):
            if tls:
                ssl.create_default_context().wrap_socket(connection, server_hostname=host)
            else:
                connection.recv(1)
    assert time.monotonic() - started < 30


def test_a_sign_in_that_never_answers_ends_within_the_dialogue_deadline(
    project: Path, silent_authority: str
) -> None:
    with FoundryEmulator() as emulator:  # where Foundry would be; never reached
        env = clean_environment(
            AZURE_AI_PROJECT_ENDPOINT=emulator.endpoint,
            AZURE_FOUNDRY_AGENT_NAME="retail-support",
            AZURE_TENANT_ID="00000000-0000-0000-0000-000000000001",
            AZURE_CLIENT_ID="00000000-0000-0000-0000-000000000002",
            AZURE_CLIENT_SECRET="not-a-real-secret",
            AZURE_AUTHORITY_HOST=f"https://{silent_authority}",
        )
        started = time.monotonic()
        result = command(
            project,
            "foundry_goldens",
            "record",
            "--dialogue-timeout",
            "3",
            "--turn-timeout",
            "5",
            env=env,
            timeout=120,
        )
        took = time.monotonic() - started
        assert sum(emulator.stats().requests.values()) == 0
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert took < 30, output  # 3 s deadline, 2 s grace, 1 s to cut the connection, start-up
    assert says(output, "the dialogue's deadline of 3 s (--dialogue-timeout) passed"), output
    assert says(output, f"no answer from {silent_authority}"), output
    assert "Traceback" not in output
    assert not (project / "cassettes" / ".record").exists() or not any(
        (project / "cassettes" / ".record").glob("run-*")
    )


# ------------------------------------------------ user mistakes: exit 2, one line


def test_record_with_a_snippet_that_does_not_compile_exits_2_naming_it(project: Path) -> None:
    BREAKAGES["snippet_syntax_error"](project)
    result = command(project, "foundry_goldens", "record", "--emulator")
    output = result.stdout + result.stderr
    assert result.returncode == 2, output
    assert "Traceback" not in output
    assert says(output, f"error: {project / SNIPPET}:"), output
    assert says(output, "the snippet is not valid Python: invalid syntax (snippet, --snippet)")
    # The golden is untouched.
    assert (project / "cassettes/greeting.json").read_bytes() == (
        CASSETTE_DIR / "greeting.json"
    ).read_bytes()


def test_a_snippet_without_the_reference_constants_records(project: Path) -> None:
    """The harness's turn deadline is its own (100 s), not a name of the team's snippet."""
    snippet = project / SNIPPET
    text = snippet.read_text("utf-8").replace("DEFAULT_TURN_TIMEOUT_SECONDS", "TURN_BUDGET")
    snippet.write_text(text, "utf-8")
    result = command(project, "foundry_goldens", "record", "--emulator")
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("port", ["99999", "-1"])
def test_an_emulator_port_out_of_range_exits_2_in_one_line(tmp_path: Path, port: str) -> None:
    result = command(tmp_path, "foundry_goldens", "emulator", "--port", port)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [f"error: --port must be between 0 and 65535, got {port}"]


def test_an_emulator_port_in_use_exits_2_in_one_line(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        result = command(tmp_path, "foundry_goldens", "emulator", "--port", str(port))
    assert result.returncode == 2
    [line] = result.stderr.splitlines()
    assert line.startswith(f"error: --port {port}: cannot listen on 127.0.0.1:{port}: "), line


@pytest.mark.parametrize(
    ("arguments", "prefix"),
    [
        (("diff", "--base", "HEAD"), "foundry-goldens diff: error: "),
        (("record", "--emulator"), "error: "),
    ],
)
def test_an_env_file_that_is_not_utf8_exits_2_naming_it(
    project: Path, arguments: tuple[str, ...], prefix: str
) -> None:
    env_file = project / "integration" / ".env"
    env_file.write_bytes(b"AZURE_CLIENT_SECRET=caf\xe9\n")
    result = command(project, "foundry_goldens", *arguments)
    assert result.returncode == 2
    output = "".join((result.stdout + result.stderr).split())  # rich wraps long paths
    expected = f"{prefix}{env_file} (env-file, --env-file): not UTF-8"
    assert "".join(expected.split()) in output
    assert "Traceback" not in output


# ------------------------------------------------ the emulator's CA file


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_the_emulator_removes_its_ca_file_when_stopped(tmp_path: Path, stop: int) -> None:
    temporary = tmp_path / "tmp"  # its own temporary directory: nobody else's files in it
    temporary.mkdir()
    process = subprocess.Popen(
        [sys.executable, "-m", "foundry_goldens", "emulator", "--port", "0"],
        cwd=tmp_path,
        env=clean_environment(TMPDIR=str(temporary)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        bundle = ""
        for line in process.stdout:
            if line.startswith("REQUESTS_CA_BUNDLE="):
                bundle = line.strip().partition("=")[2]
            if line.startswith("agents:"):
                break
        assert bundle and Path(bundle).is_file()
        assert Path(bundle).parent == temporary
        process.send_signal(stop)
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, stderr
    assert "Traceback" not in stderr
    assert list(temporary.iterdir()) == []


# ------------------------------------------------ secrets in an old golden


def test_a_failing_golden_does_not_print_the_secrets_an_old_golden_holds(project: Path) -> None:
    """A pull request planted secrets in the committed snapshot: the replay fails (the output
    differs) and its explanation quotes the old golden, masked."""
    secret = "Zq8~planted.Secret-Value_42"
    (project / "integration" / ".env").write_text(
        f"AZURE_CLIENT_SECRET={secret}\n", encoding="utf-8"
    )
    planted = [
        secret,
        "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8",
        "sk-proj-" + "Tq3v9Xw2Yz7Ab4Cd8Ef1Gh5Ij0Kl6Mn2Op9Qr3St7Uv",
        "Server=db;Database=x;User Id=sa;Password=Pl4nted!Passw0rd;",
    ]
    snapshot = project / "goldens" / "snapshots" / "greeting.json"
    text = snapshot.read_text(encoding="utf-8")
    reply = "Hello! I'm the Contoso Retail support assistant."
    assert reply in text
    snapshot.write_text(text.replace(reply, reply + " " + " ".join(planted), 1), encoding="utf-8")
    result = pytest_in(project)
    assert result.returncode == 1, result.stdout
    output = result.stdout + result.stderr
    assert "greeting" in output and "the output changed" in output
    for value in planted:
        assert "Pl4nted!Passw0rd" not in output
        assert value not in output, value
