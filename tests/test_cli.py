"""The `foundry-goldens` command as a user runs it (a subprocess): its subcommands, the
configuration it reads, and errors naming the key and the file."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AZURE_", "FOUNDRY_"))}
    return subprocess.run(
        [sys.executable, "-m", "foundry_goldens", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_help_lists_every_subcommand(tmp_path: Path) -> None:
    result = cli("--help", cwd=tmp_path)
    assert result.returncode == 0
    for command in ("record", "diff", "emulator", "init", "config"):
        assert f"    {command} " in result.stdout


def test_config_resolves_the_table_and_the_overrides(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[tool.foundry-goldens]\ncassettes = "tapes"\n', encoding="utf-8"
    )
    (tmp_path / "deep").mkdir()
    result = cli("config", "--dialogues", "mine", cwd=tmp_path / "deep")
    assert result.returncode == 0, result.stderr
    assert f"cassettes  {tmp_path / 'tapes'}" in result.stdout
    assert f"dialogues  {tmp_path / 'deep' / 'mine'}" in result.stdout


def test_record_with_a_missing_snippet_names_the_key_and_the_file(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[tool.foundry-goldens]\nsnippet = "nowhere.py"\n', encoding="utf-8"
    )
    (tmp_path / "goldens" / "dialogues").mkdir(parents=True)
    result = cli("record", "--emulator", cwd=tmp_path)
    assert result.returncode == 2
    assert "[tool.foundry-goldens] snippet in" in result.stderr  # an error: stderr, not stdout
    assert str(tmp_path / "pyproject.toml") in result.stderr
    assert result.stdout == ""


def test_a_root_env_that_is_not_the_env_file_is_named_not_silently_ignored(
    tmp_path: Path,
) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.foundry-goldens]\n", encoding="utf-8")
    (tmp_path / ".env").write_text("AZURE_FOUNDRY_AGENT_NAME=x\n", encoding="utf-8")
    result = cli("record", cwd=tmp_path)
    assert result.returncode == 2  # no snippet, no live settings: nothing recorded
    # A warning, on stderr, and on one line: output that is not a terminal is never wrapped.
    [note] = [line for line in result.stderr.splitlines() if line.startswith("note:")]
    assert f"{tmp_path / '.env'} is not read; live settings come from" in note
    assert result.stdout == ""


@pytest.mark.parametrize(
    ("extra", "columns", "ci"),
    [
        (0, None, None),
        (0, "40", "true"),
        (30, "80", None),
        (75, "40", None),
        (75, "200", "true"),
        (160, "80", "true"),
    ],
)
def test_the_root_env_note_stays_whole_whatever_the_path_length_and_columns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, extra: int, columns: str | None, ci: str | None
) -> None:
    """Wrapped by rich at 80 columns, the note above would break for about a third of temp-path
    lengths: the line is checked whole, its start and its end, for paths that put the break, if
    there were one, anywhere in it."""
    root = tmp_path / ("p" * extra) if extra else tmp_path
    root.mkdir(exist_ok=True)
    (root / "pyproject.toml").write_text("[tool.foundry-goldens]\n", encoding="utf-8")
    (root / ".env").write_text("AZURE_FOUNDRY_AGENT_NAME=x\n", encoding="utf-8")
    for key, value in (("COLUMNS", columns), ("CI", ci)):
        if value is None:
            monkeypatch.delenv(key, raising=False)
        else:
            monkeypatch.setenv(key, value)
    result = cli("record", cwd=root)
    assert result.returncode == 2, result.stderr
    [note] = [line for line in result.stderr.splitlines() if line.startswith("note:")]
    assert note.startswith(f"note: {root / '.env'} is not read; live settings come from "), note
    assert note.endswith(f"{root / 'pyproject.toml'})"), note


def test_diff_reads_the_configured_directories(tmp_path: Path) -> None:
    import shutil

    from tests.paths import CASSETTE_DIR, DIALOGUE_DIR, SNAPSHOT_DIR

    (tmp_path / "pyproject.toml").write_text(
        '[tool.foundry-goldens]\ndialogues = "specs"\nsnapshots = "specs/out"\n'
        'cassettes = "tapes"\n',
        encoding="utf-8",
    )
    for source, target in (
        (DIALOGUE_DIR / "greeting.yaml", "specs/greeting.yaml"),
        (SNAPSHOT_DIR / "greeting.json", "specs/out/greeting.json"),
        (CASSETTE_DIR / "greeting.json", "tapes/greeting.json"),
    ):
        (tmp_path / target).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, tmp_path / target)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "init", "-q", "-b", "main"], cwd=tmp_path, check=True)
    subprocess.run([*git, "add", "-A"], cwd=tmp_path, check=True)
    subprocess.run([*git, "commit", "-q", "-m", "goldens"], cwd=tmp_path, check=True)
    snapshot = tmp_path / "specs" / "out" / "greeting.json"
    snapshot.write_text(snapshot.read_text("utf-8").replace("Contoso", "Fabrikam"), "utf-8")

    result = cli("diff", "--base", "HEAD", cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    assert "greeting" in result.stdout and "Fabrikam" in result.stdout


def test_emulator_serves_until_stopped(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "foundry_goldens", "emulator", "--port", "0", "--no-sign-in"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        assert first.startswith("AZURE_AI_PROJECT_ENDPOINT=http://127.0.0.1:"), first
    finally:
        process.terminate()
        process.wait(timeout=30)
