"""Per-thread cassettes for recording dialogues in parallel.

vcrpy patches the HTTP transport classes process-wide, so two `use_cassette` blocks open at
once in two threads would record each other's traffic (the later patch wins for everyone).
The router is installed once, as the one cassette vcrpy's patches know, and hands every
request to the cassette of the thread that made it.

It patches only the transports Foundry traffic takes (openai -> httpx2, see
`foundry_goldens.cassettes.player.FOUNDRY_PATCHERS`). vcrpy's `http.client`/`requests` stubs
send each real request inside `vcr.patch.force_reset()`, which takes every vcrpy patch off the
whole process while it runs: with those patched, a sign-in (azure-identity -> requests) in one
thread would let other threads' Foundry calls out unrecorded. Token traffic is never recorded
anyway, so it passes untouched. Every Foundry call of the snippet goes through openai; one
through azure-core (an `AIProjectClient` operation, which uses requests) would not be recorded:
on the emulator the recorder catches it by comparing what the server answered with what the
router saw (`unrecorded`); against live Foundry nothing can count it, so keep Foundry calls on
openai.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import vcr
from vcr.cassette import Cassette
from vcr.record_mode import RecordMode
from vcr.request import Request
from vcr.serializers import compat

from foundry_goldens.cassettes.player import (
    RECORDING_SKIPPED_PATCHERS,
    load_cassette,
    patched_for,
    replay_vcr,
)
from foundry_goldens.cassettes.sanitizer import is_token_request


@dataclass(frozen=True)
class Interactions:
    """What a recording cassette holds, sanitized: vcrpy's requests and response dicts (plain
    data, so a finishing process can be handed them)."""

    requests: list[Request]
    responses: list[dict[str, Any]]

    @classmethod
    def of(cls, cassette: Cassette) -> Interactions:
        # Record mode "all" into a fresh staging path: every interaction is new and kept.
        kept = cassette._rerecorded_interactions()
        return cls([request for request, _ in kept], [response for _, response in kept])


class _InMemory:
    """A vcrpy persister that loads interactions held in memory (saving is not its job)."""

    def __init__(self, recorded: Interactions) -> None:
        # As vcr.serialize.deserialize hands them over: response bodies as bytes.
        # A shallow copy is enough: only the body's string is replaced, never edited.
        responses = [
            compat.convert_to_bytes({**r, "body": dict(r["body"])}) for r in recorded.responses
        ]
        self._interactions = (list(recorded.requests), responses)

    def load_cassette(self, cassette_path: Any, serializer: Any) -> Any:
        return self._interactions

    def save_cassette(self, cassette_path: Any, cassette_dict: Any, serializer: Any) -> None:
        raise RuntimeError("an in-memory replay cassette is never saved")


class UnroutedRequestError(RuntimeError):
    pass


class ThreadCassetteRouter:
    """Stands in for a `Cassette` in vcrpy's stubs and delegates to the calling thread's one."""

    custom_patches: tuple[Any, ...] = ()
    skip_patchers: tuple[str, ...] = RECORDING_SKIPPED_PATCHERS

    def __init__(self, skip_patchers: tuple[str, ...] | None = None) -> None:
        self._local = threading.local()
        if skip_patchers is not None:
            self.skip_patchers = skip_patchers

    @classmethod
    def for_replay(cls) -> ThreadCassetteRouter:
        """A router for a run of replays (foundry_goldens.replay.session): patched once, every
        transport as `foundry_goldens.cassettes.player.replaying` patches them; installing
        vcrpy's patches per dialogue would cost a tenth of a replayed turn. Use `installed()`, then
        `replaying` per dialogue."""
        return cls(skip_patchers=())

    def __bool__(self) -> bool:
        return True  # not len(): a router is never "empty", whatever the thread

    def _current(self) -> Cassette:
        cassette = getattr(self._local, "cassette", None)
        if cassette is None:
            raise UnroutedRequestError(
                "an HTTP request was made outside any recording dialogue; nothing records it"
            )
        return cassette

    # The part of the Cassette interface vcrpy's stubs call, and what vcrpy's
    # CannotOverwriteExistingCassetteException reads to explain an unmatched request.
    @property
    def _path(self) -> str:
        cassette = getattr(self._local, "cassette", None)
        # CassettePatcherBuilder names its stub classes after this, outside any dialogue.
        return "<per-thread cassettes>" if cassette is None else str(cassette._path)

    @property
    def write_protected(self) -> bool:
        return bool(self._current().write_protected)

    @property
    def rewound(self) -> bool:
        return bool(self._current().rewound)

    @property
    def record_mode(self) -> Any:
        return self._current().record_mode

    @property
    def play_counts(self) -> Any:
        return self._current().play_counts

    @property
    def _match_on(self) -> Any:
        return self._current()._match_on

    def __len__(self) -> int:
        return len(self._current())

    def can_play_response_for(self, request: Any) -> bool:
        cassette = self._current()
        if cassette.record_mode == RecordMode.NONE:  # a replay: only recordings count requests
            return bool(cassette.can_play_response_for(request))
        # vcrpy's stubs ask this once per request before sending it (the http.client one again
        # on connect, but that one is not patched here). Token traffic goes to another server.
        if not is_token_request(request.uri):
            self._local.seen = getattr(self._local, "seen", 0) + 1
        if cassette.record_mode == RecordMode.ALL:
            return False  # recording plays nothing back; skip matching the whole cassette
        return bool(cassette.can_play_response_for(request))

    def play_response(self, request: Any) -> Any:
        return self._current().play_response(request)

    def filter_request(self, request: Any) -> Any:
        return self._current().filter_request(request)

    def append(self, request: Any, response: Any) -> None:
        self._current().append(request, response)

    def find_requests_with_most_matches(self, request: Any) -> Any:
        return self._current().find_requests_with_most_matches(request)

    @contextlib.contextmanager
    def installed(self) -> Iterator[ThreadCassetteRouter]:
        """Patch the HTTP libraries once for the whole recording run."""
        with patched_for(self):
            yield self

    @contextlib.contextmanager
    def replaying(
        self, path: Path, recorded: Cassette | Interactions | None = None
    ) -> Iterator[Cassette]:
        """Replay `path` for this thread (what cassettes.player.replaying does, per thread).

        With `recorded`, the interactions just written to `path` are taken from memory rather
        than parsed back from the file (with YAML cassettes, a sixth of a recording's CPU);
        the plugin's golden tests replay the file itself, and test_recorder checks both give
        the same snapshot.
        """
        if isinstance(recorded, Cassette):
            recorded = Interactions.of(recorded)
        persister = {"persister": _InMemory(recorded)} if recorded is not None else {}
        cassette = load_cassette(replay_vcr(), path, before_record_request=None, **persister)
        self._local.cassette = cassette
        try:
            yield cassette
        finally:
            self._local.cassette = None

    @contextlib.contextmanager
    def recording(self, recorder: vcr.VCR, path: Path) -> Iterator[Cassette]:
        """Record this thread's traffic into a cassette for `path`; `save` writes it."""
        cassette = load_cassette(recorder, path)
        self._local.cassette = cassette
        self._local.seen = 0
        try:
            yield cassette
        finally:
            self._local.cassette = None

    def unrecorded(self, served_requests: Callable[[], int] | None) -> int:
        """How many of the requests the server answered during this thread's recording never
        passed the router (sent by a transport it does not patch); 0 when unknown."""
        if served_requests is None:
            return 0
        return max(0, served_requests() - getattr(self._local, "seen", 0))

    @staticmethod
    def save(cassette: Cassette) -> None:
        """Write a recorded cassette through its persister (sanitized, leak-scanned)."""
        cassette._save(force=True)
