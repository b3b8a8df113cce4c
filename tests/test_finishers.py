"""Finishing recordings in a process of its own (recording/finishers.py) against the thread.

Real recordings on the emulator, a real `python -m foundry_goldens.recording.finish_worker`:
the same bytes as the thread writes, a leak refused there too, a process that dies or is
stopped leaves failed dialogues with their previous files and no process behind, and a team
script without a `__main__` guard records once (why it is not multiprocessing).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from foundry_goldens.cassettes.player import recording_vcr
from foundry_goldens.cassettes.router import Interactions, ThreadCassetteRouter
from foundry_goldens.cassettes.sanitizer import Sanitizer
from foundry_goldens.config import active
from foundry_goldens.goldens.dialogues import Dialogue, load_dialogues
from foundry_goldens.goldens.publishing import staging
from foundry_goldens.recording.finishers import (
    PROCESS_FROM_DIALOGUES,
    FinisherKind,
    ProcessFinisher,
    ThreadFinisher,
    finisher_for,
)
from foundry_goldens.recording.finishing import FinishJob
from foundry_goldens.recording.progress import DialogueOutcome, ProgressReporter, SilentProgress
from foundry_goldens.recording.recorder import RecordOptions, record_dialogues
from foundry_goldens.recording.targets import EmulatorTarget
from foundry_goldens.snippet.driver import drive_dialogue
from foundry_goldens.snippet.loader import load_integration
from tests.paths import DIALOGUE_DIR, PROJECT_ROOT

WORKER_MODULE = "foundry_goldens.recording.finish_worker"


def shipped(*names: str) -> list[Dialogue]:
    return load_dialogues(DIALOGUE_DIR, names)


def record(
    root: Path,
    dialogues: list[Dialogue],
    finisher: FinisherKind,
    progress: ProgressReporter | None = None,
) -> list[DialogueOutcome]:
    options = RecordOptions(
        cassette_dir=root / "cassettes", snapshot_dir=root / "snapshots", finisher=finisher
    )
    return record_dialogues(dialogues, EmulatorTarget(), options, progress or SilentProgress())


def tree(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and ".record" not in p.parts
    }


def worker_processes() -> list[int]:
    """This process's finishing processes still alive (Linux /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            if stat[0] == "Z":
                continue
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            if int(stat[1]) == os.getpid() and WORKER_MODULE in command:
                found.append(int(entry.name))
    return found


@contextlib.contextmanager
def a_recorded_job(root: Path, name: str, secrets: dict[str, str]) -> Iterator[FinishJob]:
    """`name` recorded on the emulator, as the recorder hands it to a finisher; `secrets` are
    added to the sanitizer's after recording (so the leak scan finds them if they were sent)."""
    [dialogue] = shipped(name)
    router = ThreadCassetteRouter()
    with staging(root / "cassettes") as staged, router.installed():
        with EmulatorTarget().session(dialogue) as session:
            sanitizer = Sanitizer(session.endpoint, session.secrets)
            path = staged.cassette(name)
            with router.recording(recording_vcr(sanitizer), path) as cassette:
                drive_dialogue(dialogue, load_integration().run_inference, session.environment)
        scanning = Sanitizer(PLACEHOLDER, {**session.secrets, **secrets})
        yield FinishJob(dialogue, Interactions.of(cassette), staged, scanning)


PLACEHOLDER = "https://placeholder.services.ai.azure.com/api/projects/placeholder"


# ------------------------------------------------------------------ same results


def test_the_process_writes_the_same_bytes_as_the_thread(tmp_path: Path) -> None:
    dialogues = shipped("greeting", "order_lookup", "approval_return")
    by_thread = record(tmp_path / "thread", dialogues, "thread")
    by_process = record(tmp_path / "process", dialogues, "process")

    assert [o.status for o in by_thread] == ["recorded"] * 3
    assert [o.status for o in by_process] == ["recorded"] * 3, [o.detail for o in by_process]
    thread_files, process_files = tree(tmp_path / "thread"), tree(tmp_path / "process")
    assert len(thread_files) == 6
    assert process_files == thread_files
    assert worker_processes() == []


def test_auto_finishes_in_a_process_from_a_few_dozen_dialogues(tmp_path: Path) -> None:
    router = ThreadCassetteRouter()
    with finisher_for("auto", PROCESS_FROM_DIALOGUES - 1, router, active()) as few:
        assert isinstance(few, ThreadFinisher)
    with finisher_for("auto", PROCESS_FROM_DIALOGUES, router, active()) as many:
        assert isinstance(many, ProcessFinisher)
    assert worker_processes() == []


# ------------------------------------------------------------------ failures


def test_a_leak_found_in_the_process_refuses_the_cassette(tmp_path: Path) -> None:
    # greeting's second user message, as a secret: the scan must find it in the cassette.
    with a_recorded_job(tmp_path, "greeting", {"PLANTED_SECRET": "What can you do for me?"}) as job:
        finisher = ProcessFinisher(active())
        try:
            finished = finisher.submit(job).result(timeout=60)
        finally:
            finisher.close()
        assert finished.status == "failed"
        assert finished.detail.startswith("not written: Refusing to write cassette")
        assert "What can you do for me?" not in finished.detail
        assert not job.staged.cassette("greeting").exists()
        assert not job.staged.snapshot("greeting").exists()


def test_a_process_that_dies_fails_its_jobs_with_the_reason(tmp_path: Path) -> None:
    with a_recorded_job(tmp_path, "greeting", {}) as job:
        finisher = ProcessFinisher(active())
        try:
            os.kill(finisher._process.pid, signal.SIGKILL)
            finisher._process.wait(timeout=30)
            finished = finisher.submit(job).result(timeout=60)
        finally:
            finisher.close()
    assert finished.status == "failed"
    assert "the finishing process ended (exit code -9)" in finished.detail


class KillsTheWorkerAfterTheFirstDialogue(SilentProgress):
    """Kills the finishing process once the first dialogue is done (finished or not)."""

    def __init__(self) -> None:
        self.killed = False
        self._lock = threading.Lock()  # recording threads report turns concurrently

    def turn_done(self, name: str, turn: int) -> None:
        with self._lock:
            if self.killed:
                return
            for pid in worker_processes():
                with contextlib.suppress(ProcessLookupError):  # gone between listing and kill
                    os.kill(pid, signal.SIGKILL)
                self.killed = True


def test_a_killed_process_leaves_the_previous_goldens(tmp_path: Path) -> None:
    dialogues = shipped("greeting", "order_lookup", "approval_return")
    record(tmp_path, dialogues, "thread")
    before = tree(tmp_path)
    progress = KillsTheWorkerAfterTheFirstDialogue()
    outcomes = record(tmp_path, dialogues, "process", progress=progress)

    assert progress.killed
    assert {o.status for o in outcomes} == {"failed"}
    for outcome in outcomes:
        assert "the finishing process ended (exit code -9)" in outcome.detail
    assert tree(tmp_path) == before
    assert list((tmp_path / "cassettes" / ".record").glob("run-*")) == []
    assert worker_processes() == []


class InterruptOnFirstTurn(SilentProgress):
    def __init__(self) -> None:
        self.sent = False
        self._lock = threading.Lock()  # one Ctrl-C, whichever thread reports a turn first

    def turn_done(self, name: str, turn: int) -> None:
        with self._lock:
            first, self.sent = not self.sent, True
        if first:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.05)  # the handler runs in the main thread at the next bytecode


def test_ctrl_c_stops_the_process_and_writes_nothing(tmp_path: Path) -> None:
    dialogues = shipped("greeting", "order_lookup", "approval_return")
    record(tmp_path, dialogues, "thread")
    before = tree(tmp_path)
    progress = InterruptOnFirstTurn()
    with pytest.raises(KeyboardInterrupt):
        record(tmp_path, dialogues, "process", progress=progress)
    assert progress.sent
    assert tree(tmp_path) == before
    assert worker_processes() == []


# ------------------------------------------------------------------ a team's script


def test_a_script_without_a_main_guard_records_once(tmp_path: Path) -> None:
    """multiprocessing would import this script again in its workers, each recording anew."""
    script = tmp_path / "record_all.py"
    script.write_text(
        textwrap.dedent(
            f"""\
            import sys
            from pathlib import Path
            sys.path.insert(0, {str(PROJECT_ROOT)!r})
            from foundry_goldens.goldens.dialogues import load_dialogues
            from foundry_goldens.recording.progress import SilentProgress
            from foundry_goldens.recording.recorder import RecordOptions, record_dialogues
            from foundry_goldens.recording.targets import EmulatorTarget

            print("recording", flush=True)
            root = Path({str(tmp_path)!r})
            options = RecordOptions(root / "cassettes", root / "snapshots", finisher="process")
            dialogues = load_dialogues(Path({str(DIALOGUE_DIR)!r}), ["greeting"])
            outcomes = record_dialogues(dialogues, EmulatorTarget(), options, SilentProgress())
            print(*(o.status for o in outcomes), flush=True)
            """
        )
    )
    done = subprocess.run(
        [sys.executable, str(script)],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["recording", "recorded"]
    assert (tmp_path / "cassettes" / "greeting.json").is_file()
