"""Finishing a recorded dialogue: its snapshot made by replaying the recording (from memory,
its expectations checked), then its cassette (sanitized, leak-scanned, with the digests of the
expectations that held: goldens/held.py) and the snapshot written into the run's staging
directory.

Pure CPU and no traffic. A `FinishJob` holds plain data (vcrpy's requests and response dicts,
the dialogue, the sanitizer) so that `finish` runs the same way on a thread of the recording
process or in a finishing process of its own (recording/finishers.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vcr.cassette import Cassette

from foundry_goldens.cassettes import format as cassette_format
from foundry_goldens.cassettes.player import LeakCheckingPersister
from foundry_goldens.cassettes.router import Interactions
from foundry_goldens.cassettes.sanitizer import CassetteLeakError, Sanitizer
from foundry_goldens.goldens.dialogues import Dialogue
from foundry_goldens.goldens.held import METADATA_KEY
from foundry_goldens.goldens.publishing import Staging
from foundry_goldens.goldens.snapshots import render_snapshot
from foundry_goldens.replay.replayer import ReplayError, ReplayResult, replay_cassette

# Replays a cassette path with these interactions from memory rather than parsed back from the
# file just written (ThreadCassetteRouter.replaying).
Replaying = Callable[[Path, Interactions], AbstractContextManager[Cassette]]


@dataclass(frozen=True)
class FinishJob:
    dialogue: Dialogue
    interactions: Interactions
    staged: Staging
    sanitizer: Sanitizer
    check: bool = False


@dataclass(frozen=True)
class Finished:
    """`recorded`, or `failed` with the reason (not yet redacted: the caller's redactor knows
    the session's secrets)."""

    status: str
    detail: str = ""
    seconds: float = 0.0


def finish(job: FinishJob, replaying: Replaying) -> Finished:
    started = time.perf_counter()
    status, detail = "failed", ""
    try:
        replayed = replay_recording(job, replaying)
        write_cassette(job, replayed.expectations_held)
        snapshot = render_snapshot(replayed.snapshot()).encode("utf-8")
        job.staged.write(job.staged.snapshot(job.dialogue.name), snapshot)
        status = "recorded"
    except CassetteLeakError as exc:
        # The persister scanned the sanitized cassette and refused to write it.
        detail = f"not written: {exc}"
    except ReplayError as exc:
        detail = f"replay of the fresh recording failed: {exc}"
    except Exception as exc:  # one dialogue's failure is reported, not raised into the run
        detail = f"{type(exc).__name__}: {exc}"
    return Finished(status, detail, time.perf_counter() - started)


def replay_recording(job: FinishJob, replaying: Replaying) -> ReplayResult:
    """Replay the fresh recording (from memory, before its file is written): a golden is
    replay's output, and the turns' expectations are checked on it.

    Same code as the pytest plugin's golden test (replay, then the snapshot rendering), run
    in-process so it costs milliseconds rather than a pytest start-up.
    """
    path = job.staged.cassette(job.dialogue.name)
    return replay_cassette(
        job.dialogue,
        replaying(path, job.interactions),
        cassette_file=path,
        check_expected=not job.check,
        tolerate_errors=job.check,
    )


def write_cassette(job: FinishJob, expectations_held: list[str]) -> None:
    """What vcrpy's Cassette._save does for a recording: serialize, scan, write atomically
    (never through a link: the staging lies in the cassettes directory); with the digests of
    the turns whose expectations held (goldens/held.py), if checked."""
    interactions = job.interactions
    cassette: dict[str, Any] = {
        "requests": interactions.requests,
        "responses": interactions.responses,
    }
    if expectations_held:
        cassette["metadata"] = {METADATA_KEY: expectations_held}
    LeakCheckingPersister(job.sanitizer, anchor=job.staged.cassette_dir).save_cassette(
        job.staged.cassette(job.dialogue.name), cassette, serializer=cassette_format
    )
