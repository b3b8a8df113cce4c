"""A dialogue's cassette and snapshot change together or not at all, even when the recorder is
killed between the two renames; staging lives in cassettes/.record/ and is cleaned next run.

The kills are real: a subprocess records and SIGKILLs itself at the chosen point (a wrapper
around foundry_goldens.goldens.publishing._move, set up inside that subprocess only).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import pytest
import yaml

from foundry_goldens.cassettes.format import find_cassette
from foundry_goldens.goldens.dialogues import Dialogue, load_dialogue, load_dialogues
from foundry_goldens.goldens.publishing import RecorderBusy, complete_pending, staging
from foundry_goldens.goldens.snapshots import render_snapshot
from foundry_goldens.recording.progress import SilentProgress
from foundry_goldens.recording.recorder import RecordOptions, record_dialogues
from foundry_goldens.recording.targets import EmulatorTarget
from foundry_goldens.replay.replayer import ReplayError, replay_dialogue
from tests.paths import DIALOGUE_DIR, PROJECT_ROOT

TIMEOUT = 60

CHANGED_GREETING = """\
name: greeting
agent: retail-support
turns:
  - user: "Hi there!"
  - user: "What can you do for me?"
"""

KILL_BEFORE_SNAPSHOT_MOVE = """
import os, signal, sys
from pathlib import Path
import foundry_goldens.goldens.publishing as publishing
from foundry_goldens.goldens.dialogues import load_dialogues
from foundry_goldens.recording.progress import SilentProgress
from foundry_goldens.recording.recorder import RecordOptions, record_dialogues
from foundry_goldens.recording.targets import EmulatorTarget

real_move = publishing._move

def move_then_die(source, target):
    if source.name == "snapshot.json":  # the cassette is already in place, the snapshot is not
        os.kill(os.getpid(), signal.SIGKILL)
    real_move(source, target)

publishing._move = move_then_die
root = Path(sys.argv[1])
options = RecordOptions(root / "cassettes", root / "snapshots")
record_dialogues(load_dialogues(root / "changed"), EmulatorTarget(), options, SilentProgress())
"""


def options(root: Path) -> RecordOptions:
    return RecordOptions(root / "cassettes", root / "snapshots")


def record(root: Path, dialogues: list[Dialogue]) -> None:
    outcomes = record_dialogues(dialogues, EmulatorTarget(), options(root), SilentProgress())
    assert {o.status for o in outcomes} == {"recorded"}, [(o.name, o.detail) for o in outcomes]


def run_python(code: str, *args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *map(str, args)],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )


def leftovers(root: Path) -> list[str]:
    work = root / "cassettes" / ".record"
    found = [*work.glob("run-*"), *work.glob("pending/*"), *root.glob(".record-*")]
    return sorted(str(p.relative_to(root)) for p in found)


def test_a_kill_between_the_two_renames_is_detected_by_replay_and_repaired_next_run(
    tmp_path: Path,
) -> None:
    shipped = load_dialogues(DIALOGUE_DIR, ["greeting", "order_lookup"])
    record(tmp_path, [shipped[0]])
    cassette = tmp_path / "cassettes" / "greeting.json"
    snapshot = tmp_path / "snapshots" / "greeting.json"
    old_cassette, old_snapshot = cassette.read_bytes(), snapshot.read_bytes()
    (tmp_path / "changed").mkdir()
    (tmp_path / "changed" / "greeting.yaml").write_text(CHANGED_GREETING, encoding="utf-8")
    changed = load_dialogue(tmp_path / "changed" / "greeting.yaml")

    killed = run_python(KILL_BEFORE_SNAPSHOT_MOVE, tmp_path)

    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert cassette.read_bytes() != old_cassette  # the new cassette is in place ...
    assert snapshot.read_bytes() == old_snapshot  # ... beside the old snapshot
    pending, dead_run = leftovers(tmp_path)
    assert pending == "cassettes/.record/pending/greeting"
    assert dead_run.startswith("cassettes/.record/run-")

    with pytest.raises(ReplayError) as caught:
        replay_dialogue(changed, cassette)
    message = str(caught.value)
    assert "greeting: a recording of greeting was interrupted" in message
    assert f"already new: {cassette.resolve()}" in message
    assert f"still old: {snapshot}" in message
    assert "foundry-goldens record (it completes" in message and "--only greeting" in message

    record(tmp_path, [shipped[1]])  # the next run, of another dialogue, completes the pair

    assert leftovers(tmp_path) == []
    assert snapshot.read_bytes() != old_snapshot
    result = replay_dialogue(changed, cassette)
    assert render_snapshot(result.snapshot()) == snapshot.read_text("utf-8")


def test_a_kill_before_the_commit_point_changes_nothing(tmp_path: Path) -> None:
    """Killed while moving the staged pair into its journal entry: the old pair stays."""
    greeting = load_dialogues(DIALOGUE_DIR, ["greeting"])
    record(tmp_path, greeting)
    before = {p: p.read_bytes() for p in (tmp_path / "cassettes").glob("*.json")}
    (tmp_path / "changed").mkdir()
    (tmp_path / "changed" / "greeting.yaml").write_text(CHANGED_GREETING, encoding="utf-8")
    code = KILL_BEFORE_SNAPSHOT_MOVE.replace(
        "publishing._move = move_then_die",
        "os.rename = lambda *a, **k: os.kill(os.getpid(), signal.SIGKILL)",
    )

    killed = run_python(code, tmp_path)

    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert {p: p.read_bytes() for p in (tmp_path / "cassettes").glob("*.json")} == before
    assert [p for p in leftovers(tmp_path) if "pending" in p] == []
    replay_dialogue(greeting[0], tmp_path / "cassettes" / "greeting.json")  # still whole
    record(tmp_path, greeting)
    assert leftovers(tmp_path) == []  # the dead run's staging is gone


def test_staging_left_by_a_killed_recording_is_removed_by_the_next_run(tmp_path: Path) -> None:
    (tmp_path / "dialogues").mkdir()
    shutil.copyfile(DIALOGUE_DIR / "greeting.yaml", tmp_path / "dialogues" / "greeting.yaml")
    process = subprocess.Popen(
        [
            sys.executable,
            str(PROJECT_ROOT / "scripts" / "record.py"),
            "--emulator",
            "--emulator-latency-ms",
            "300",
            "--dialogues",
            tmp_path / "dialogues",
            "--cassettes",
            tmp_path / "cassettes",
            "--snapshots",
            tmp_path / "snapshots",
        ],
        cwd=PROJECT_ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + TIMEOUT  # only against a hang: start-up is slow under load
        while not leftovers(tmp_path):
            assert time.monotonic() < deadline and process.poll() is None, "never started"
            time.sleep(0.02)
        process.kill()
        process.wait(timeout=TIMEOUT)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()

    [left] = leftovers(tmp_path)
    assert left.startswith("cassettes/.record/run-")
    assert list(tmp_path.glob(".record-*")) == []  # never in the directory above the cassettes

    record(tmp_path, load_dialogues(tmp_path / "dialogues"))

    assert leftovers(tmp_path) == []
    assert sorted(p.name for p in (tmp_path / "cassettes").iterdir()) == [
        ".record",
        "greeting.json",
    ]


def test_a_second_recording_into_the_same_goldens_is_refused(tmp_path: Path) -> None:
    greeting = load_dialogues(DIALOGUE_DIR, ["greeting"])
    busy = r"another foundry-goldens record run is recording"
    with staging(tmp_path / "cassettes"), pytest.raises(RecorderBusy, match=busy):
        record_dialogues(greeting, EmulatorTarget(), options(tmp_path), SilentProgress())
    record(tmp_path, greeting)  # free again once the first has finished


def test_nothing_pending_is_nothing_to_complete(tmp_path: Path) -> None:
    assert complete_pending(tmp_path / "cassettes") == []
    assert not (tmp_path / "cassettes").exists()  # looking creates nothing
    assert os.listdir(tmp_path) == []


def test_staging_left_in_the_old_place_is_removed_too(tmp_path: Path) -> None:
    old = tmp_path / ".record-abc123"
    (old / "cassettes").mkdir(parents=True)
    (old / "cassettes" / "greeting.yaml").write_text("interactions: []\n", encoding="utf-8")
    unrelated = tmp_path / ".record-notes"
    unrelated.mkdir()
    (unrelated / "mine.txt").write_text("keep me\n", encoding="utf-8")

    record(tmp_path, load_dialogues(DIALOGUE_DIR, ["greeting"]))

    assert not old.exists()
    assert (unrelated / "mine.txt").is_file()  # not a staging directory: left alone


def test_snapshots_on_another_filesystem_are_still_replaced_whole(tmp_path: Path) -> None:
    """Renames cannot cross filesystems: the snapshot is copied beside its target, then renamed."""
    other = Path(tempfile.mkdtemp(dir="/dev/shm"))  # tmpfs: another filesystem than tmp_path
    try:
        assert os.stat(other).st_dev != os.stat(tmp_path).st_dev
        options = RecordOptions(tmp_path / "cassettes", other / "snapshots")
        greeting = load_dialogues(DIALOGUE_DIR, ["greeting"])
        [outcome] = record_dialogues(greeting, EmulatorTarget(), options, SilentProgress())

        assert outcome.status == "recorded", outcome.detail
        assert sorted(p.name for p in (other / "snapshots").iterdir()) == ["greeting.json"]
        result = replay_dialogue(greeting[0], tmp_path / "cassettes" / "greeting.json")
        assert render_snapshot(result.snapshot()) == (
            other / "snapshots" / "greeting.json"
        ).read_text("utf-8")
        assert leftovers(tmp_path) == []
    finally:
        shutil.rmtree(other, ignore_errors=True)


def test_a_kill_after_both_moves_leaves_only_the_journal_entry(tmp_path: Path) -> None:
    """The state on disk exactly as a kill between the last move and the entry's removal."""
    [greeting] = load_dialogues(DIALOGUE_DIR, ["greeting"])
    record(tmp_path, [greeting])
    entry = tmp_path / "cassettes" / ".record" / "pending" / "greeting"
    entry.mkdir(parents=True)
    targets = {
        "cassette.json": str(tmp_path / "cassettes" / "greeting.json"),
        "snapshot.json": str(tmp_path / "snapshots" / "greeting.json"),
    }
    (entry / "targets.json").write_text(json.dumps(targets), encoding="utf-8")

    with pytest.raises(ReplayError, match="both files are new"):
        replay_dialogue(greeting, tmp_path / "cassettes" / "greeting.json")
    assert complete_pending(tmp_path / "cassettes") == ["greeting"]
    assert not entry.exists()
    replay_dialogue(greeting, tmp_path / "cassettes" / "greeting.json")


def test_a_yaml_cassette_of_an_older_version_replays_and_rerecording_replaces_it(
    tmp_path: Path,
) -> None:
    [greeting] = load_dialogues(DIALOGUE_DIR, ["greeting"])
    record(tmp_path, [greeting])
    cassettes = tmp_path / "cassettes"
    recorded = json.loads((cassettes / "greeting.json").read_text(encoding="utf-8"))
    (cassettes / "greeting.json").unlink()
    (cassettes / "greeting.yaml").write_text(
        yaml.safe_dump(recorded, sort_keys=False, allow_unicode=True), encoding="utf-8"
    )
    snapshot = (tmp_path / "snapshots" / "greeting.json").read_text("utf-8")

    found = find_cassette(cassettes, "greeting")
    assert found == cassettes / "greeting.yaml"
    assert render_snapshot(replay_dialogue(greeting, found).snapshot()) == snapshot

    record(tmp_path, [greeting])
    assert sorted(p.name for p in cassettes.iterdir() if p.is_file()) == ["greeting.json"]
    assert json.loads((cassettes / "greeting.json").read_text(encoding="utf-8")) == recorded
