"""scripts/record.py as a user runs it: a subprocess, real emulator, directories in tmp_path.

Covers Ctrl-C (exit 130, nothing written, no staging left), --check (drift report, writes
nothing), and the configuration and dialogue errors (exit 2, saying what to do).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from foundry_goldens.goldens.dialogues import load_dialogues
from foundry_goldens.recording.progress import SilentProgress
from foundry_goldens.recording.recorder import RecordOptions, record_dialogues
from foundry_goldens.recording.targets import EmulatorTarget
from tests.paths import DIALOGUE_DIR, PROJECT_ROOT

SCRIPT = PROJECT_ROOT / "scripts" / "record.py"
TIMEOUT = 60  # seconds; a hung recording fails the test instead of hanging the suite


def environment() -> dict[str, str]:
    """The caller's environment without Azure settings; wide, plain output for assertions."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AZURE_", "FOUNDRY_"))}
    env.update(COLUMNS="400", NO_COLOR="1", PYTHONUNBUFFERED="1", TERM="dumb")
    return env


def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *map(str, args)],
        cwd=PROJECT_ROOT,
        env=environment(),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )


def dirs(root: Path) -> list[str | Path]:
    return [
        "--dialogues",
        root / "dialogues",
        "--cassettes",
        root / "cassettes",
        "--snapshots",
        root / "snapshots",
    ]


def copy_dialogues(root: Path, *names: str) -> None:
    (root / "dialogues").mkdir(parents=True, exist_ok=True)
    for name in names:
        shutil.copyfile(DIALOGUE_DIR / f"{name}.yaml", root / "dialogues" / f"{name}.yaml")


def record_in_process(root: Path) -> None:
    options = RecordOptions(root / "cassettes", root / "snapshots")
    dialogues = load_dialogues(root / "dialogues")
    outcomes = record_dialogues(dialogues, EmulatorTarget(), options, SilentProgress())
    assert {o.status for o in outcomes} == {"recorded"}, [(o.name, o.detail) for o in outcomes]


def state(root: Path) -> dict[str, tuple[bytes, int]]:
    """Every file under root with its bytes and mtime: equal states mean nothing was written."""
    return {
        str(p.relative_to(root)): (p.read_bytes(), p.stat().st_mtime_ns)
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def staging_dirs(root: Path) -> list[Path]:
    """Staging left anywhere: beside the cassettes (where older versions staged) or a run
    directory."""
    return sorted(root.glob(".record-*")) + sorted(root.glob("cassettes/.record/run-*"))


# ---------------------------------------------------------------------------- Ctrl-C


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_ctrl_c_or_sigterm_exits_130_and_writes_nothing(
    tmp_path: Path, stop: signal.Signals
) -> None:
    names = ("greeting", "order_lookup", "long_conversation")
    copy_dialogues(tmp_path, *names)
    for directory, suffix in (("cassettes", "yaml"), ("snapshots", "json")):
        (tmp_path / directory).mkdir()
        for name in names:
            (tmp_path / directory / f"{name}.{suffix}").write_text(f"previous {name}\n")
    before = state(tmp_path)

    process = subprocess.Popen(
        [
            sys.executable,
            str(SCRIPT),
            "--emulator",
            "--emulator-latency-ms",
            "300",
            *dirs(tmp_path),
        ],
        cwd=PROJECT_ROOT,
        env=environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        # Python ignores Ctrl-C if it starts with SIGINT ignored (a background job inherits that).
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        # Interrupt mid-recording: once the staging directory exists, and well before the
        # shortest dialogue could finish (3 requests of 300 ms each).
        deadline = time.monotonic() + TIMEOUT  # only against a hang: start-up is slow under load
        while not staging_dirs(tmp_path) and process.poll() is None:
            assert time.monotonic() < deadline, "the recording never started"
            time.sleep(0.02)
        time.sleep(0.5)
        assert process.poll() is None, "the recording ended before it could be interrupted"
        process.send_signal(stop)
        output, _ = process.communicate(timeout=TIMEOUT)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()

    assert process.returncode == 130, output
    assert "interrupted: nothing was written; the committed goldens are untouched" in output
    assert "Traceback" not in output
    assert state(tmp_path) == before
    assert staging_dirs(tmp_path) == []


# ---------------------------------------------------------------------------- --check


def test_check_after_recording_reports_unchanged_and_writes_nothing(tmp_path: Path) -> None:
    copy_dialogues(tmp_path, "greeting", "multi_tool_turn")
    record_in_process(tmp_path)
    before = state(tmp_path)

    result = run("--emulator", "--check", *dirs(tmp_path))

    assert result.returncode == 0, result.stdout + result.stderr
    assert "checking drift against the local Foundry emulator: 2 dialogue(s)" in result.stdout
    rows = [line for line in result.stdout.splitlines() if "│" in line]
    for name in ("greeting", "multi_tool_turn"):
        [row] = [r for r in rows if f" {name} " in r]
        assert " unchanged " in row, row
    assert state(tmp_path) == before
    assert staging_dirs(tmp_path) == []


def test_check_reports_a_reworded_reply_as_information_and_strict_fails_on_it(
    tmp_path: Path,
) -> None:
    copy_dialogues(tmp_path, "greeting", "multi_tool_turn")
    record_in_process(tmp_path)
    snapshot = tmp_path / "snapshots" / "greeting.json"
    text = snapshot.read_text("utf-8")
    old_reply = "I can search the catalog, look up and track your orders, and start returns."
    edited = text.replace(f'"text": "{old_reply} How can I help?"', '"text": "Edited reply."')
    assert edited != text
    snapshot.write_text(edited, encoding="utf-8")
    before = state(tmp_path)

    result = run("--emulator", "--check", *dirs(tmp_path))

    # Wording is information: the drift check passes, and says what was reworded.
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    rows = [line for line in out.splitlines() if "│" in line]
    [greeting_row] = [r for r in rows if " greeting " in r]
    assert " reworded " in greeting_row
    [other_row] = [r for r in rows if " multi_tool_turn " in r]
    assert " unchanged " in other_row
    assert "turn 2 [wording] reply reworded (similarity 0.00)" in out
    assert state(tmp_path) == before  # the edited snapshot is not "fixed" by --check
    assert staging_dirs(tmp_path) == []

    strict = run("--emulator", "--check", "--strict", *dirs(tmp_path))
    assert strict.returncode == 1, strict.stdout + strict.stderr


def test_check_fails_on_a_behaviour_change_and_writes_markdown(tmp_path: Path) -> None:
    copy_dialogues(tmp_path, "greeting", "multi_tool_turn")
    record_in_process(tmp_path)
    snapshot = tmp_path / "snapshots" / "multi_tool_turn.json"
    data = json.loads(snapshot.read_text("utf-8"))
    items = data["turns"][1]["output"]["items"]
    # The committed golden had another argument: the fresh recording changes it back.
    call = next(i for i in items if i.get("name") == "search_products")
    call["arguments"] = '{"query":"tea cups"}'
    snapshot.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")

    result = run("--emulator", "--check", "--format", "markdown", *dirs(tmp_path))

    assert result.returncode == 1, result.stdout + result.stderr
    markdown = result.stdout
    assert markdown.startswith("## Golden drift check against the local Foundry emulator")
    assert "**1 behaviour change(s)**; the check fails" in markdown
    assert "#### `multi_tool_turn`" in markdown
    assert (
        '- turn 2: search\\_products `#1` arguments changed: query: "tea cups" -\\> "espresso cups"'
        in markdown
    )
    # A job summary: no progress bars, no box drawing.
    assert not set("━│┃┏┗") & set(markdown)


def test_check_options_need_check_and_vary_needs_the_emulator(tmp_path: Path) -> None:
    for args, message in (
        (("--emulator", "--strict"), "--strict and --format apply to the drift report"),
        (("--vary", "1", "--check"), "--vary needs --emulator"),
        (("--emulator", "--check", "--usage-threshold", "lots"), "--usage-threshold"),
    ):
        result = run(*args, *dirs(tmp_path))
        assert result.returncode == 2
        assert message in result.stderr


def test_check_reports_a_dialogue_without_snapshot_as_new(tmp_path: Path) -> None:
    copy_dialogues(tmp_path, "greeting")
    record_in_process(tmp_path)
    copy_dialogues(tmp_path, "failing_tool")  # scripted after the recording
    before = state(tmp_path)

    result = run("--emulator", "--check", *dirs(tmp_path))

    assert result.returncode == 1, result.stdout + result.stderr
    rows = [line for line in result.stdout.splitlines() if "│" in line]
    [new_row] = [r for r in rows if " failing_tool " in r]
    assert " new " in new_row and "no committed snapshot" in new_row
    [old_row] = [r for r in rows if " greeting " in r]
    assert " unchanged " in old_row
    assert state(tmp_path) == before
    assert not (tmp_path / "cassettes" / "failing_tool.json").exists()
    assert not (tmp_path / "snapshots" / "failing_tool.json").exists()
    assert staging_dirs(tmp_path) == []


# ---------------------------------------------------------------------------- errors


def test_without_live_settings_or_emulator_it_exits_2_saying_how_to_configure(
    tmp_path: Path,
) -> None:
    copy_dialogues(tmp_path, "greeting")

    # An env-file that does not exist: a developer's integration/.env must not configure it.
    result = run(*dirs(tmp_path), "--env-file", str(tmp_path / "absent.env"))

    assert result.returncode == 2, result.stdout + result.stderr
    assert "nothing to record against" in result.stderr
    assert "AZURE_AI_PROJECT_ENDPOINT and AZURE_FOUNDRY_AGENT_NAME not set" in result.stderr
    assert "--emulator" in result.stderr
    assert result.stdout == ""
    written = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*"))
    assert written == ["dialogues", "dialogues/greeting.yaml"]


def test_a_bad_dialogue_file_exits_2_naming_the_file_and_field(tmp_path: Path) -> None:
    (tmp_path / "dialogues").mkdir()
    bad = tmp_path / "dialogues" / "typo.yaml"
    bad.write_text("name: typo\nturns:\n  - user: Hello!\n    expects: {tools: [get_order]}\n")

    result = run("--emulator", *dirs(tmp_path))

    assert result.returncode == 2, result.stdout + result.stderr
    assert f"{bad}: invalid dialogue" in result.stderr
    assert "turns[0].expects: unknown key" in result.stderr
    assert not (tmp_path / "cassettes").exists()


@pytest.mark.parametrize(
    ("option", "value", "says"),
    [
        ("--emulator-latency-ms", "nan", "must be a finite number >= 0, got nan"),
        ("--emulator-latency-ms", "inf", "must be a finite number >= 0, got inf"),
        ("--emulator-latency-ms", "-5", "must be a finite number >= 0, got -5"),
        ("--concurrency", "0", "must be between 1 and 15 (the model's rate_limit), got 0"),
        ("--concurrency", "16", "must be between 1 and 15"),
        ("--concurrency", "two", "not a whole number: 'two'"),
        ("--dialogue-timeout", "0", "must be a finite number > 0, got 0"),
        ("--turn-timeout", "nan", "must be a finite number > 0, got nan"),
    ],
)
def test_a_bad_numeric_option_exits_2_naming_it(
    tmp_path: Path, option: str, value: str, says: str
) -> None:
    copy_dialogues(tmp_path, "greeting")

    result = run("--emulator", option, value, *dirs(tmp_path))

    assert result.returncode == 2, result.stdout + result.stderr
    assert f"argument {option}: {says}" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "cassettes").exists()


@pytest.mark.parametrize("make", [False, True], ids=["missing", "empty"])
def test_a_missing_or_empty_dialogue_directory_exits_2_naming_it(
    tmp_path: Path, make: bool
) -> None:
    directory = tmp_path / "nonexistent"
    if make:
        directory.mkdir()

    result = run("--emulator", "--dialogues", directory, "--cassettes", tmp_path / "c")

    assert result.returncode == 2, result.stdout + result.stderr
    assert str(directory) in result.stderr
    assert "0 dialogue(s)" not in result.stdout
    assert not (tmp_path / "c").exists()


def test_only_naming_an_unknown_dialogue_exits_2(tmp_path: Path) -> None:
    copy_dialogues(tmp_path, "greeting")

    result = run("--emulator", "--only", "greting", *dirs(tmp_path))

    assert result.returncode == 2, result.stdout + result.stderr
    assert "no dialogue named greting; known: greeting" in result.stderr


# ---------------------------------------------------------------------------- --missing


def test_missing_records_only_the_dialogues_without_a_golden(tmp_path: Path) -> None:
    copy_dialogues(tmp_path, "greeting", "multi_tool_turn")
    record_in_process(tmp_path)
    copy_dialogues(tmp_path, "failing_tool", "order_lookup")  # scripted after the recording
    (tmp_path / "snapshots" / "multi_tool_turn.json").unlink()  # half a golden: recorded again
    greeting = {
        kind: state(tmp_path / kind)["greeting.json"] for kind in ("cassettes", "snapshots")
    }

    result = run("--emulator", "--missing", "--only", "greeting", "--only", "failing_tool",
                 "--only", "multi_tool_turn", *dirs(tmp_path))  # fmt: skip

    assert result.returncode == 0, result.stdout + result.stderr
    [line] = [x for x in result.stdout.splitlines() if x.startswith("--missing:")]
    assert line == (
        "--missing: recording 2 without a golden: failing_tool (no cassette and no snapshot), "
        "multi_tool_turn (no snapshot); skipped 1 that already have a cassette and a snapshot: "
        "greeting"
    )
    assert "recording against the local Foundry emulator: 2 dialogue(s)" in result.stdout
    rows = [row for row in result.stdout.splitlines() if "│" in row]
    assert [r.split("│")[1].strip() for r in rows] == ["failing_tool", "multi_tool_turn"]
    # The golden that was there is untouched (bytes and mtime); --only left order_lookup out.
    assert {kind: state(tmp_path / kind)["greeting.json"] for kind in greeting} == greeting
    for name in ("failing_tool", "multi_tool_turn"):
        assert (tmp_path / "snapshots" / f"{name}.json").is_file()
        assert (tmp_path / "cassettes" / f"{name}.json").is_file()
    assert not (tmp_path / "cassettes" / "order_lookup.json").exists()
    assert staging_dirs(tmp_path) == []


def test_missing_with_nothing_missing_exits_0_saying_so(tmp_path: Path) -> None:
    copy_dialogues(tmp_path, "greeting", "multi_tool_turn")
    record_in_process(tmp_path)
    before = state(tmp_path)

    result = run("--emulator", "--missing", *dirs(tmp_path))

    assert (result.returncode, result.stderr) == (0, ""), result.stdout + result.stderr
    assert result.stdout.splitlines() == [
        "--missing: nothing to record: all 2 dialogue(s) already have a cassette and a snapshot"
    ]
    assert state(tmp_path) == before


def test_missing_and_check_exclude_each_other(tmp_path: Path) -> None:
    copy_dialogues(tmp_path, "greeting")
    result = run("--emulator", "--missing", "--check", *dirs(tmp_path))
    assert result.returncode == 2
    assert "--missing records what has no golden yet" in result.stderr
