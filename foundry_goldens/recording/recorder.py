"""Records golden dialogues into sanitized cassettes and regenerates their snapshots.

All or nothing per dialogue: everything is written into a staging directory first; a dialogue's
cassette and snapshot replace the committed ones only when its recording, its live checks, its
leak scan and its replay all succeeded, and then together (recording/publishing.py). A failed,
interrupted (Ctrl-C, SIGTERM) or invariant-violating dialogue, or one past its deadline, leaves
its previous files untouched and is named with the failing turn and reason.
"""

from __future__ import annotations

import contextlib
import json
import signal
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vcr.cassette import Cassette

from foundry_goldens.cassettes import format as cassette_format
from foundry_goldens.cassettes.player import recording_vcr
from foundry_goldens.cassettes.router import ThreadCassetteRouter
from foundry_goldens.cassettes.sanitizer import CassetteLeakError, Sanitizer
from foundry_goldens.goldens.classify import DEFAULT_USAGE_THRESHOLD_PERCENT, classify_snapshots
from foundry_goldens.goldens.dialogues import Dialogue
from foundry_goldens.goldens.snapshots import render_snapshot
from foundry_goldens.recording.progress import DialogueOutcome, ProgressReporter
from foundry_goldens.recording.publishing import Staging, staging
from foundry_goldens.recording.targets import Target
from foundry_goldens.redaction.redactor import Redactor
from foundry_goldens.replay.replayer import ReplayError, conversations_created, replay_dialogue
from foundry_goldens.snippet.driver import (
    Deadlines,
    TurnFailure,
    conversations_expected,
    drive_dialogue,
)
from foundry_goldens.snippet.loader import load_integration

MAX_CONCURRENCY = 15  # the model's rate_limit in integration/model.yaml
# A whole dialogue, every turn and retry included; a turn alone has the snippet's deadline
# (FOUNDRY_TURN_TIMEOUT_SECONDS, default 100 s) unless `turn_timeout` lowers it.
DEFAULT_DIALOGUE_TIMEOUT_SECONDS = 600.0


class Cancelled(Exception):
    pass


@dataclass(frozen=True)
class RecordOptions:
    cassette_dir: Path
    snapshot_dir: Path
    concurrency: int = 4
    check: bool = False
    dialogue_timeout: float = DEFAULT_DIALOGUE_TIMEOUT_SECONDS
    turn_timeout: float | None = None  # None: the snippet's default (100 s)
    # --check: usage moves within this many percent are not reported (goldens/classify.py).
    usage_threshold_percent: float = DEFAULT_USAGE_THRESHOLD_PERCENT


def _record_one(
    dialogue: Dialogue,
    target: Target,
    staged: Staging,
    router: ThreadCassetteRouter,
    progress: ProgressReporter,
    cancel: threading.Event,
    deadlines: Deadlines,
    check: bool = False,
) -> tuple[DialogueOutcome, Cassette | None, Redactor]:
    """Drive the dialogue against the target, recording it; the cassette is not written yet.
    Also returns the redaction of the dialogue's session, for its outcome's messages."""
    outcome = DialogueOutcome(dialogue.name, len(dialogue.turns))
    started = time.perf_counter()
    progress.started(dialogue.name, len(dialogue.turns))

    def before_turn(number: int, _turn: object) -> None:
        if cancel.is_set():
            raise Cancelled(f"interrupted before turn {number}")

    def on_turn(result: Any) -> None:
        outcome.turns_done = result.number
        progress.turn_done(dialogue.name, result.number)

    path = staged.cassette(dialogue.name)
    recorded: Cassette | None = None
    redactor = Redactor()  # the rules alone, until the session says what else is secret
    try:
        with target.session(dialogue) as session:
            sanitizer = Sanitizer(
                session.endpoint, session.secrets, endpoints=session.scrubbed_endpoints
            )
            redactor = sanitizer.redactor
            with router.recording(recording_vcr(sanitizer), path) as cassette:
                drive_dialogue(
                    dialogue,
                    load_integration().run_inference,
                    session.environment,
                    before_turn=before_turn,
                    on_turn=on_turn,
                    deadlines=deadlines,
                    # A drift check records what the agent does now and classifies it, broken
                    # expectations and errors included, instead of stopping at the first.
                    check_expected=not check,
                    tolerate_errors=check,
                )
                # First: an unrecorded request also explains a missing conversation.
                unrecorded = router.unrecorded(session.served_requests)
                if unrecorded:
                    raise TurnFailure(
                        dialogue.name,
                        outcome.turns_done,
                        f"{unrecorded} request(s) reached the server without being recorded "
                        "(sent through a transport the recorder does not patch)",
                    )
                created = conversations_created(cassette)
                if created != conversations_expected(dialogue):
                    raise TurnFailure(
                        dialogue.name,
                        outcome.turns_done,
                        f"{created} conversations were created, "
                        f"expected exactly {conversations_expected(dialogue)}",
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
    outcome.detail = redactor.redact(outcome.detail)  # errors may echo tokens and settings
    outcome.seconds = time.perf_counter() - started
    if recorded is None:
        progress.finished(outcome)
    return outcome, recorded, redactor


def _finish_one(
    dialogue: Dialogue,
    outcome: DialogueOutcome,
    recorded: Cassette,
    staged: Staging,
    router: ThreadCassetteRouter,
    progress: ProgressReporter,
    redactor: Redactor,
    check: bool = False,
) -> DialogueOutcome:
    """Write the cassette (sanitized, leak-scanned) and its snapshot, by replay, into staging.

    Pure CPU and no traffic, so it runs on its own thread: a recording slot (one of at most
    `rate_limit` conversations with Foundry) frees as soon as the last response arrives.
    """
    started = time.perf_counter()
    try:
        router.save(recorded)
        _snapshot_from_recording(dialogue, staged, router, recorded, check)
        outcome.status = "recorded"
    except CassetteLeakError as exc:
        # The persister scanned the sanitized cassette and refused to write it.
        outcome.status, outcome.detail = "failed", f"not written: {exc}"
    except ReplayError as exc:
        outcome.status = "failed"
        outcome.detail = f"replay of the fresh recording failed: {exc}"
    except Exception as exc:
        outcome.status, outcome.detail = "failed", f"{type(exc).__name__}: {exc}"
    outcome.detail = redactor.redact(outcome.detail)
    outcome.seconds += time.perf_counter() - started
    if not outcome.ok:
        progress.finished(outcome)
    return outcome


def _snapshot_from_recording(
    dialogue: Dialogue,
    staged: Staging,
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
        staged.cassette(dialogue.name),
        cassette_session=lambda path: router.replaying(path, recorded),
        check_expected=not check,
        tolerate_errors=check,
    )
    staged.snapshot(dialogue.name).write_text(render_snapshot(result.snapshot()), encoding="utf-8")


_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextlib.contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM (a CI cancel, `kill`) ends the run as Ctrl-C does: staging removed, nothing
    half-written."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def _interrupts_held() -> Iterator[list[Any]]:
    """Ctrl-C and SIGTERM are noted in the yielded list instead of raised; the caller decides
    what they mean."""
    received: list[Any] = []
    if threading.current_thread() is not threading.main_thread():
        yield received
        return
    previous = {
        number: signal.signal(number, lambda *args: received.append(args))
        for number in _STOP_SIGNALS
    }
    try:
        yield received
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def _publish(name: str, staged: Staging, options: RecordOptions) -> None:
    staged.publish(
        name,
        cassette_format.cassette_path(options.cassette_dir, name),
        options.snapshot_dir / f"{name}.json",
    )


def _check_against_committed(
    outcome: DialogueOutcome, dialogue: Dialogue, staged: Staging, options: RecordOptions
) -> None:
    """Classify the fresh recording against the committed snapshot (goldens/classify.py):
    `changed` for a behaviour change or a broken expectation, `reworded` for wording or usage
    only, `unchanged` otherwise."""
    committed = options.snapshot_dir / f"{outcome.name}.json"
    fresh = json.loads(staged.snapshot(outcome.name).read_text("utf-8"))
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
    deadlines = Deadlines(
        options.dialogue_timeout,
        options.turn_timeout or load_integration().DEFAULT_TURN_TIMEOUT_SECONDS,
    )
    with _terminate_as_interrupt(), staging(options.cassette_dir) as staged:
        outcomes = _record_all(dialogues, target, options, progress, staged, deadlines)
        # Every dialogue is recorded, written and replayed; what is left (comparing, moving
        # files in place) takes milliseconds. A Ctrl-C now is held: raised after it, it would
        # end the run with some dialogues written and the others not, reported as "nothing
        # was written". A SIGKILL cannot be held: publishing.py keeps each pair whole anyway.
        published: list[str] = []
        by_name = {dialogue.name: dialogue for dialogue in dialogues}
        with _interrupts_held() as interrupted:
            for outcome in outcomes:
                if outcome.status != "recorded":
                    continue
                if options.check:
                    _check_against_committed(outcome, by_name[outcome.name], staged, options)
                else:
                    _publish(outcome.name, staged, options)
                    published.append(outcome.name)
                progress.finished(outcome)
    if interrupted and not published:
        raise KeyboardInterrupt  # nothing was written: the interrupt still ends the run
    return outcomes


def _record_all(
    dialogues: Sequence[Dialogue],
    target: Target,
    options: RecordOptions,
    progress: ProgressReporter,
    staged: Staging,
    deadlines: Deadlines,
) -> list[DialogueOutcome]:
    cancel = threading.Event()
    router = ThreadCassetteRouter()
    with (
        router.installed(),
        ThreadPoolExecutor(options.concurrency, "record") as pool,
        ThreadPoolExecutor(1, "finish") as finisher,
    ):

        def record_then_finish(dialogue: Dialogue) -> Future[DialogueOutcome]:
            outcome, recorded, redactor = _record_one(
                dialogue, target, staged, router, progress, cancel, deadlines, options.check
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
                staged,
                router,
                progress,
                redactor,
                options.check,
            )

        futures = [pool.submit(record_then_finish, d) for d in dialogues]
        try:
            return [future.result().result() for future in futures]
        except KeyboardInterrupt:
            cancel.set()
            pool.shutdown(wait=True, cancel_futures=True)
            finisher.shutdown(wait=True, cancel_futures=True)
            raise
