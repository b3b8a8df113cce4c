"""Records golden dialogues into sanitized cassettes and regenerates their snapshots.

All or nothing per dialogue: everything is written into a staging directory first; a dialogue's
cassette and snapshot replace the committed ones only when its recording, its live checks, its
leak scan and its replay all succeeded, and then together (goldens/publishing.py). A failed,
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
from foundry_goldens.cassettes.router import Interactions, ThreadCassetteRouter
from foundry_goldens.cassettes.sanitizer import Sanitizer
from foundry_goldens.config import active
from foundry_goldens.goldens.dialogues import Dialogue
from foundry_goldens.goldens.publishing import Staging, staging
from foundry_goldens.recording.finishers import FinisherKind, finisher_for
from foundry_goldens.recording.finishing import Finished, FinishJob
from foundry_goldens.recording.progress import DialogueOutcome, ProgressReporter
from foundry_goldens.recording.targets import Target, opened
from foundry_goldens.redaction.redactor import Redactor
from foundry_goldens.replay.replayer import conversations_created
from foundry_goldens.review.classify import DEFAULT_USAGE_THRESHOLD_PERCENT
from foundry_goldens.review.compare import classify_snapshots
from foundry_goldens.snippet.checking import checking_each_turn
from foundry_goldens.snippet.driver import (
    Deadlines,
    RunInference,
    TurnFailure,
    conversations_expected,
    drive_dialogue,
)
from foundry_goldens.snippet.loader import load_integration, run_inference_of

MAX_CONCURRENCY = 15  # the model's rate_limit in integration/model.yaml
# A whole dialogue, every turn and retry included; a turn alone has the snippet's deadline
# (FOUNDRY_TURN_TIMEOUT_SECONDS, default 100 s) unless `turn_timeout` lowers it.
DEFAULT_DIALOGUE_TIMEOUT_SECONDS = 600.0
# A turn's deadline unless --turn-timeout lowers it: the reference snippet's default (under
# model.yaml's `timeout: 120`). The harness's own number: a team's snippet owes it no constant.
DEFAULT_TURN_TIMEOUT_SECONDS = 100.0


class Cancelled(Exception):
    pass


@dataclass(frozen=True)
class RecordOptions:
    cassette_dir: Path
    snapshot_dir: Path
    concurrency: int = 4
    check: bool = False
    dialogue_timeout: float = DEFAULT_DIALOGUE_TIMEOUT_SECONDS
    turn_timeout: float | None = None  # None: DEFAULT_TURN_TIMEOUT_SECONDS
    # --check: usage moves within this many percent are not reported (review/classify.py).
    usage_threshold_percent: float = DEFAULT_USAGE_THRESHOLD_PERCENT
    # Where cassettes are written and replayed (recording/finishers.py): "auto" picks a
    # process of their own for a run of many dialogues.
    finisher: FinisherKind = "auto"


def _record_one(
    dialogue: Dialogue,
    target: Target,
    staged: Staging,
    router: ThreadCassetteRouter,
    progress: ProgressReporter,
    cancel: threading.Event,
    deadlines: Deadlines,
    check: bool = False,
    run_inference: RunInference | None = None,
) -> tuple[DialogueOutcome, Cassette | None, Sanitizer | None]:
    """Drive the dialogue against the target, recording it; the cassette is not written yet.
    Also returns the session's sanitizer (None if none was made), which writes the cassette
    and redacts the outcome's messages."""
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
    sanitizer: Sanitizer | None = None
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
                    run_inference or run_inference_of(load_integration()),
                    session.environment,
                    before_turn=before_turn,
                    # A drift check records what the agent does now and classifies it, broken
                    # expectations and errors included, instead of stopping at the first; a
                    # recording stops at the first broken turn rather than pay for the rest.
                    on_turn=on_turn if check else checking_each_turn(dialogue, then=on_turn),
                    deadlines=deadlines,
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
    return outcome, recorded, sanitizer


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
    """Classify the fresh recording against the committed snapshot (review/classify.py):
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
    # Loaded before anything starts: a snippet that does not load (a syntax error, an import
    # that fails, no run_inference) is a SnippetError (a ValueError) naming the file, the
    # command's exit 2, not the same failure repeated for every dialogue.
    run_inference = run_inference_of(load_integration())
    options.cassette_dir.mkdir(parents=True, exist_ok=True)
    deadlines = Deadlines(
        options.dialogue_timeout, options.turn_timeout or DEFAULT_TURN_TIMEOUT_SECONDS
    )
    with _terminate_as_interrupt(), staging(options.cassette_dir, options.snapshot_dir) as staged:
        outcomes = _record_all(
            dialogues, target, options, progress, staged, deadlines, run_inference
        )
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
    run_inference: RunInference | None = None,
) -> list[DialogueOutcome]:
    cancel = threading.Event()
    router = ThreadCassetteRouter()
    with (
        opened(target),  # left last: after every recording thread is done
        router.installed(),
        ThreadPoolExecutor(options.concurrency, "record") as pool,
        finisher_for(options.finisher, len(dialogues), router, active()) as finisher,
    ):

        def record_then_finish(dialogue: Dialogue) -> Future[DialogueOutcome]:
            outcome, recorded, sanitizer = _record_one(
                dialogue,
                target,
                staged,
                router,
                progress,
                cancel,
                deadlines,
                options.check,
                run_inference,
            )
            done: Future[DialogueOutcome] = Future()
            if recorded is None or sanitizer is None:
                done.set_result(outcome)
                return done
            # A recording slot (one of at most `rate_limit` conversations with Foundry) frees
            # as soon as the last response arrives; writing and replaying happen elsewhere.
            job = FinishJob(dialogue, Interactions.of(recorded), staged, sanitizer, options.check)

            def settle(finishing: Future[Finished]) -> None:
                try:
                    finished = finishing.result()
                except BaseException as exc:  # cancelled with the run
                    finished = Finished("failed", f"not finished: {type(exc).__name__} {exc}")
                outcome.status = finished.status
                # The reason may quote what was recorded: masked with the session's secrets.
                outcome.detail = sanitizer.redactor.redact(finished.detail)
                outcome.seconds += finished.seconds
                if not outcome.ok:
                    progress.finished(outcome)
                done.set_result(outcome)

            finisher.submit(job).add_done_callback(settle)
            return done

        # Longest first: a long dialogue started last would run on alone while every other
        # slot sits idle (100 dialogues of 4-10 turns at concurrency 15: 6.3 s of waiting on
        # the service instead of 7.3 s). Outcomes keep the order given.
        longest_first = sorted(range(len(dialogues)), key=lambda i: -len(dialogues[i].turns))
        futures = {i: pool.submit(record_then_finish, dialogues[i]) for i in longest_first}
        try:
            return [futures[i].result().result() for i in range(len(dialogues))]
        except KeyboardInterrupt:
            cancel.set()
            pool.shutdown(wait=True, cancel_futures=True)
            raise
