"""Records golden dialogues into sanitized cassettes and regenerates their snapshots.

All or nothing per dialogue: everything is written into a staging directory first; a dialogue's
cassette and snapshot replace the committed ones only when its recording, its live checks, its
leak scan and its replay all succeeded. A failed, interrupted or invariant-violating dialogue
leaves its previous files untouched and is named with the failing turn and reason.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vcr.cassette import Cassette

from harness.cassettes import recording_vcr
from harness.classify import DEFAULT_USAGE_THRESHOLD_PERCENT, classify_snapshots
from harness.dialogues import Dialogue
from harness.driver import TurnFailure, drive_dialogue
from harness.integration_loader import load_integration
from harness.progress import DialogueOutcome, ProgressReporter
from harness.recording_router import ThreadCassetteRouter
from harness.replay import ReplayError, conversations_created, replay_dialogue
from harness.sanitize import CassetteLeakError, Sanitizer
from harness.snapshots import render_snapshot
from harness.targets import Target

MAX_CONCURRENCY = 15  # the model's rate_limit in integration/model.yaml


class Cancelled(Exception):
    pass


@dataclass(frozen=True)
class RecordOptions:
    cassette_dir: Path
    snapshot_dir: Path
    concurrency: int = 4
    check: bool = False
    # --check: usage moves within this many percent are not reported (harness/classify.py).
    usage_threshold_percent: float = DEFAULT_USAGE_THRESHOLD_PERCENT


def _record_one(
    dialogue: Dialogue,
    target: Target,
    staging: Path,
    router: ThreadCassetteRouter,
    progress: ProgressReporter,
    cancel: threading.Event,
    check: bool = False,
) -> tuple[DialogueOutcome, Cassette | None]:
    """Drive the dialogue against the target, recording it; the cassette is not written yet."""
    outcome = DialogueOutcome(dialogue.name, len(dialogue.turns))
    started = time.perf_counter()
    progress.started(dialogue.name, len(dialogue.turns))

    def before_turn(number: int, _turn: object) -> None:
        if cancel.is_set():
            raise Cancelled(f"interrupted before turn {number}")

    def on_turn(result: Any) -> None:
        outcome.turns_done = result.number
        progress.turn_done(dialogue.name, result.number)

    path = staging / "cassettes" / f"{dialogue.name}.yaml"
    recorded: Cassette | None = None
    try:
        with target.session(dialogue) as session:
            sanitizer = Sanitizer(session.endpoint, session.secrets)
            with router.recording(recording_vcr(sanitizer), path) as cassette:
                drive_dialogue(
                    dialogue,
                    load_integration().run_inference,
                    session.environment,
                    before_turn=before_turn,
                    on_turn=on_turn,
                    # A drift check records what the agent does now and classifies it, broken
                    # expectations and errors included, instead of stopping at the first.
                    check_expected=not check,
                    tolerate_errors=check,
                )
                created = conversations_created(cassette)
                if created != 1:
                    raise TurnFailure(
                        dialogue.name,
                        outcome.turns_done,
                        f"{created} conversations were created, expected exactly 1",
                    )
        recorded = cassette
    except Cancelled as exc:
        outcome.status, outcome.detail = "cancelled", str(exc)
    except TurnFailure as exc:
        outcome.status = "failed"
        outcome.detail = f"turn {exc.turn}: {exc.reason}"
    except Exception as exc:  # a recording must report, not crash its siblings
        outcome.status = "failed"
        outcome.detail = f"turn {outcome.turns_done + 1}: {type(exc).__name__}: {exc}"
    outcome.seconds = time.perf_counter() - started
    if recorded is None:
        progress.finished(outcome)
    return outcome, recorded


def _finish_one(
    dialogue: Dialogue,
    outcome: DialogueOutcome,
    recorded: Cassette,
    staging: Path,
    router: ThreadCassetteRouter,
    progress: ProgressReporter,
    check: bool = False,
) -> DialogueOutcome:
    """Write the cassette (sanitized, leak-scanned) and its snapshot, by replay, into staging.

    Pure CPU and no traffic, so it runs on its own thread: a recording slot (one of at most
    `rate_limit` conversations with Foundry) frees as soon as the last response arrives.
    """
    started = time.perf_counter()
    try:
        router.save(recorded)
        _snapshot_from_recording(dialogue, staging, router, recorded, check)
        outcome.status = "recorded"
    except CassetteLeakError as exc:
        # The persister scanned the sanitized cassette and refused to write it.
        outcome.status, outcome.detail = "failed", f"not written: {exc}"
    except ReplayError as exc:
        outcome.status = "failed"
        outcome.detail = f"replay of the fresh recording failed: {exc}"
    except Exception as exc:
        outcome.status, outcome.detail = "failed", f"{type(exc).__name__}: {exc}"
    outcome.seconds += time.perf_counter() - started
    if not outcome.ok:
        progress.finished(outcome)
    return outcome


def _snapshot_from_recording(
    dialogue: Dialogue,
    staging: Path,
    router: ThreadCassetteRouter,
    recorded: Cassette,
    check: bool = False,
) -> None:
    """Replay the fresh cassette and write what replay yields: a golden is replay's output.

    Same code as tests/test_goldens.py (replay_dialogue, then the snapshot extension's
    rendering), run in-process so it costs milliseconds rather than a pytest start-up.
    """
    result = replay_dialogue(
        dialogue,
        staging / "cassettes" / f"{dialogue.name}.yaml",
        cassette_session=lambda path: router.replaying(path, recorded),
        check_expected=not check,
        tolerate_errors=check,
    )
    path = staging / "snapshots" / f"{dialogue.name}.json"
    path.write_text(render_snapshot(result.snapshot()), encoding="utf-8")


@contextlib.contextmanager
def _interrupts_held() -> Iterator[list[Any]]:
    """Ctrl-C is noted in the yielded list instead of raised; the caller decides what it means."""
    received: list[Any] = []
    if threading.current_thread() is not threading.main_thread():
        yield received
        return
    previous = signal.signal(signal.SIGINT, lambda *args: received.append(args))
    try:
        yield received
    finally:
        signal.signal(signal.SIGINT, previous)


def _publish(name: str, staging: Path, options: RecordOptions) -> None:
    options.cassette_dir.mkdir(parents=True, exist_ok=True)
    options.snapshot_dir.mkdir(parents=True, exist_ok=True)
    # Same filesystem (staging sits beside the cassettes), so each replace is atomic.
    os.replace(staging / "cassettes" / f"{name}.yaml", options.cassette_dir / f"{name}.yaml")
    os.replace(staging / "snapshots" / f"{name}.json", options.snapshot_dir / f"{name}.json")


def _check_against_committed(
    outcome: DialogueOutcome, dialogue: Dialogue, staging: Path, options: RecordOptions
) -> None:
    """Classify the fresh recording against the committed snapshot (harness/classify.py):
    `changed` for a behaviour change or a broken expectation, `reworded` for wording or usage
    only, `unchanged` otherwise."""
    committed = options.snapshot_dir / f"{outcome.name}.json"
    fresh = json.loads((staging / "snapshots" / f"{outcome.name}.json").read_text("utf-8"))
    if not committed.is_file():
        outcome.status, outcome.detail = "new", f"no committed snapshot at {committed}"
        return
    classification = classify_snapshots(
        outcome.name,
        json.loads(committed.read_text("utf-8")),
        fresh,
        dialogue,
        options.usage_threshold_percent,
    )
    outcome.classification = classification
    outcome.report = [
        f"{'turn ' + str(c.turn) if c.turn else 'dialogue'} [{c.category}] {c.summary}"
        for c in classification.changes
    ]
    behaviour = classification.of("behaviour")
    if behaviour:
        outcome.status = "changed"
        outcome.detail = f"{len(behaviour)} behaviour change(s)"
    elif classification.changed:
        outcome.status = "reworded"
        outcome.detail = f"{len(classification.changes)} wording/usage change(s)"
    else:
        outcome.status = "unchanged"


def record_dialogues(
    dialogues: Sequence[Dialogue],
    target: Target,
    options: RecordOptions,
    progress: ProgressReporter,
) -> list[DialogueOutcome]:
    if not 1 <= options.concurrency <= MAX_CONCURRENCY:
        raise ValueError(
            f"--concurrency must be between 1 and {MAX_CONCURRENCY} (the model's rate_limit), "
            f"got {options.concurrency}"
        )
    options.cassette_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".record-", dir=options.cassette_dir.parent))
    (staging / "cassettes").mkdir()
    (staging / "snapshots").mkdir()
    cancel = threading.Event()
    router = ThreadCassetteRouter()
    try:
        with (
            router.installed(),
            ThreadPoolExecutor(options.concurrency, "record") as pool,
            ThreadPoolExecutor(1, "finish") as finisher,
        ):

            def record_then_finish(dialogue: Dialogue) -> Future[DialogueOutcome]:
                outcome, recorded = _record_one(
                    dialogue, target, staging, router, progress, cancel, options.check
                )
                if recorded is None:
                    done: Future[DialogueOutcome] = Future()
                    done.set_result(outcome)
                    return done
                return finisher.submit(
                    _finish_one,
                    dialogue,
                    outcome,
                    recorded,
                    staging,
                    router,
                    progress,
                    options.check,
                )

            futures = [pool.submit(record_then_finish, d) for d in dialogues]
            try:
                outcomes = [future.result().result() for future in futures]
            except KeyboardInterrupt:
                cancel.set()
                pool.shutdown(wait=True, cancel_futures=True)
                finisher.shutdown(wait=True, cancel_futures=True)
                raise
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    # Every dialogue is recorded, written and replayed; what is left (comparing, moving files
    # in place) takes milliseconds. A Ctrl-C now is held: raised after it, it would end the run
    # with some dialogues written and the others not, reported as "nothing was written".
    published: list[str] = []
    by_name = {dialogue.name: dialogue for dialogue in dialogues}
    with _interrupts_held() as interrupted:
        try:
            for outcome in outcomes:
                if outcome.status != "recorded":
                    continue
                if options.check:
                    _check_against_committed(outcome, by_name[outcome.name], staging, options)
                else:
                    _publish(outcome.name, staging, options)
                    published.append(outcome.name)
                progress.finished(outcome)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    if interrupted and not published:
        raise KeyboardInterrupt  # nothing was written: the interrupt still ends the run
    return outcomes
