"""vcrpy's patches installed once for a run of golden replays, instead of once per dialogue.

Installing and removing vcrpy's patches around every dialogue would cost a tenth of a replayed
turn's whole test path. The pytest plugin opens one `ReplaySession` when a golden test starts and
closes it after the last of a run of golden tests (before any other test, so a team's own tests
never run under these patches); benchmarks/replay_speed.py times the same object.

The session also supplies the identity (snippet/identity.py): while it is open, every
azure-identity credential the snippet builds answers with the static fake token, on any thread,
so replay needs no sign-in whichever credential class the snippet uses.
"""

from __future__ import annotations

import contextlib
from contextlib import AbstractContextManager
from pathlib import Path
from types import TracebackType

from vcr.cassette import Cassette

from foundry_goldens.cassettes import player
from foundry_goldens.cassettes.router import ThreadCassetteRouter
from foundry_goldens.goldens.held import evaluator_identity
from foundry_goldens.snippet.identity import static_identity


def forget_session_caches() -> None:
    """Start over as a new process would (benchmarks time a fresh test session)."""
    player.forget_caches()
    evaluator_identity.cache_clear()  # read from the checks' source files once per process


class ReplaySession:
    """Replays dialogues one after another under one installation of vcrpy's patches."""

    def __init__(self) -> None:
        self._router = ThreadCassetteRouter.for_replay()
        self._patches: contextlib.ExitStack | None = None

    @property
    def is_open(self) -> bool:
        return self._patches is not None

    def replaying(self, path: Path) -> AbstractContextManager[Cassette]:
        """Replay `path` (a `replay_dialogue` cassette_session), patching first if need be."""
        if self._patches is None:
            patches = contextlib.ExitStack()
            patches.enter_context(static_identity())
            patches.enter_context(self._router.installed())
            self._patches = patches
        return self._router.replaying(path)

    def close(self) -> None:
        """Take vcrpy's patches and the identity off again (idempotent); the next `replaying`
        puts them back."""
        patches, self._patches = self._patches, None
        if patches is not None:
            patches.close()

    def __enter__(self) -> ReplaySession:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
