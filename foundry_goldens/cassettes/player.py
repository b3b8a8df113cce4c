"""vcrpy configured for this project: one VCR for recording, one for replay.

Both store cassettes in the ``readable-json`` format (``foundry_goldens.cassettes.format``)
and match a request on method, scheme, host, port, path, query and its JSON
body (``json_body``), so a request whose body changed is not served a stale
response. Headers are never matched: the sanitizer keeps almost none of them.

- ``recording_vcr(sanitizer, cassette_dir)``: every request goes to the server;
  the sanitizer's hooks decide what is stored; the cassette is scanned for
  leaks and refused (``CassetteLeakError``) before anything is written; nothing
  is written when the recorded code raised.
- ``replay_vcr(cassette_dir)``: record mode ``none``; each recorded interaction
  plays at most once (vcrpy's default ``allow_playback_repeats=False``), and a
  request that is not in the cassette raises vcrpy's
  ``CannotOverwriteExistingCassetteException`` without touching the network.
  ``describe_unmatched_request`` turns that into a field-by-field explanation.
  Its cassettes (``PlaybackCassette``) find a request's interactions through an
  index on what those matchers compare, serving what vcrpy's scan would.

Replay patches every transport vcrpy knows (sockets are blocked anyway); the recording
router patches only ``FOUNDRY_PATCHERS``, the transports Foundry traffic takes (openai ->
``httpx2``), so token traffic (azure-identity -> ``requests``) passes untouched: see
``foundry_goldens.cassettes.router``. Nothing here is global: each call builds a new VCR.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import vcr
from vcr.cassette import Cassette
from vcr.matchers import requests_match
from vcr.patch import PATCHER_NAMES, CassettePatcherBuilder
from vcr.persisters.filesystem import CassetteNotFoundError
from vcr.record_mode import RecordMode
from vcr.request import Request
from vcr.serialize import deserialize, serialize
from vcr.util import read_body

from foundry_goldens.cassettes import bodies
from foundry_goldens.cassettes import format as cassette_format
from foundry_goldens.cassettes.sanitizer import CassetteLeakError, Sanitizer
from foundry_goldens.config import read_golden, write_golden

MATCH_ON = ("method", "scheme", "host", "port", "path", "query", "json_body")

# openai talks to Foundry through httpx2 (httpx, its origin, is kept for a snippet on it).
FOUNDRY_PATCHERS = ("httpx", "httpx2")
# vcrpy's http.client/urllib3/requests stubs unpatch the whole process while they send
# (vcr.patch.force_reset), so recording leaves those libraries alone.
RECORDING_SKIPPED_PATCHERS = tuple(n for n in PATCHER_NAMES if n not in FOUNDRY_PATCHERS)

# At most this many differences are listed for one request; values are cut at
# VALUE_WIDTH characters. A message has to be read, not scrolled.
MAX_DIFFERENCES = 12
VALUE_WIDTH = 120


class _Missing:
    def __repr__(self) -> str:
        return "<missing>"


MISSING: Any = _Missing()


# -- the VCR factories -----------------------------------------------------------


def recording_vcr(
    sanitizer: Sanitizer,
    cassette_dir: str | os.PathLike[str] | None = None,
    *,
    record_mode: str = "all",
) -> vcr.VCR:
    """A VCR that records real traffic through ``sanitizer`` into ``cassette_dir``.

    ``record_mode="all"`` re-records a cassette from scratch (interactions of an
    older recording that were not made again are dropped); ``"new_episodes"``
    keeps what is recorded and adds what is new.
    """
    recorder = _project_vcr(
        cassette_dir,
        record_mode=record_mode,
        before_record_request=sanitizer.before_record_request,
        before_record_response=sanitizer.before_record_response,
        decode_compressed_response=True,
        record_on_exception=False,
        drop_unused_requests=True,
    )
    recorder.register_persister(LeakCheckingPersister(sanitizer))
    return recorder


def replay_vcr(cassette_dir: str | os.PathLike[str] | None = None) -> vcr.VCR:
    """A VCR that only plays cassettes from ``cassette_dir``, each interaction once."""
    # No decode_compressed_response: recording stored every body decoded (and the sanitizer
    # drops content-encoding), and vcrpy's decoder deep-copies each response as it loads.
    player = _project_vcr(cassette_dir, vcr_class=_PlaybackVCR, record_mode="none")
    player.register_persister(Utf8Files)
    return player


class _PlaybackVCR(vcr.VCR):
    """replay_vcr's VCR: its ``use_cassette`` plays through PlaybackCassette as well."""

    def _use_cassette(self, with_current_defaults: bool = False, **kwargs: Any) -> Any:
        if with_current_defaults:
            return PlaybackCassette.use(**self.get_merged_config(**kwargs))
        return PlaybackCassette.use_arg_getter(functools.partial(self.get_merged_config, **kwargs))


# VCR.get_merged_config keys that configure use_cassette itself, not the Cassette.
_USE_CASSETTE_ONLY_KEYS = ("path_transformer", "func_path_generator", "record_on_exception")


def load_cassette(config: vcr.VCR, path: str | os.PathLike[str], **overrides: Any) -> Cassette:
    """A Cassette configured by ``config``, for code that applies vcrpy's patches itself."""
    options = config.get_merged_config(path=os.fspath(path))
    for key in _USE_CASSETTE_ONLY_KEYS:
        options.pop(key, None)
    options.update(overrides)
    if options.get("record_mode") == RecordMode.NONE:
        return PlaybackCassette.load(**options)
    return Cassette.load(**options)


class PlaybackCassette(Cassette):
    """A cassette that only plays (record mode ``none``), loaded without copying, and finding
    a request's recorded interactions through an index instead of vcrpy's scan.

    ``Cassette.append`` deep-copies each response so that a caller changing its response
    later cannot change the recording. In this mode append is only called while loading,
    with the dicts the serializer just built and nothing else holds, and those copies would
    be a twentieth of a replayed turn's harness cost.

    vcrpy answers each request by running every matcher against every recorded interaction,
    twice (``can_play_response_for``, then ``play_response``). With the project's ``MATCH_ON``
    two requests match exactly when their ``match_key`` values are equal, so ``_responses``
    (which ``__contains__``, ``play_response`` and ``responses_of`` all read) looks the key up
    in a dict of recorded indices, in recorded order: the same interactions as the scan, each
    still played once. A request or recording the key cannot describe exactly (a NaN in a
    body, a port that does not parse, other matchers) is matched by vcrpy's own scan.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._index: dict[Any, list[int]] = {}
        self._indexed = 0  # self.data[:_indexed] is in the index
        # Only MATCH_ON is what match_key stands for; once False, vcrpy's scan decides.
        self._indexable = tuple(self._match_on) == _project_matchers()
        self._last_key: tuple[Any, ...] = (None, None, None, None, None)
        self._canonical_of: dict[int, tuple[Any, Any]] = {}

    def append(self, request: Request, response: dict[str, Any]) -> None:
        request = self._before_record_request(request)
        if not request:
            return
        response = self._before_record_response(response)
        if response is None:
            return
        self.data.append((request, response))
        self.dirty = True

    def _responses(self, request: Request) -> Iterator[tuple[int, dict[str, Any]]]:
        """(index, response) of every recorded interaction matching ``request``, in order."""
        request = self._before_record_request(request)
        key = self._key_of(request) if self._sync_index() else None
        if key is None:
            yield from self._scanned(request)
            return
        data = self.data
        for index in self._index.get(key, ()):
            yield index, data[index][1]

    def _scanned(self, request: Request) -> Iterator[tuple[int, dict[str, Any]]]:
        # vcrpy's Cassette._responses, past its filter (already applied).
        for index, (stored_request, response) in enumerate(self.data):
            if requests_match(request, stored_request, self._match_on):
                yield index, response

    def _sync_index(self) -> bool:
        """Index what was appended since (vcrpy appends to ``data`` only at its end);
        whether the index can answer at all."""
        data = self.data
        while self._indexable and self._indexed < len(data):
            key = match_key(data[self._indexed][0], self._canonical_of)
            if key is None:
                self._indexable = False
                break
            self._index.setdefault(key, []).append(self._indexed)
            self._indexed += 1
        return self._indexable

    def _key_of(self, request: Request) -> Any:
        """match_key, computed once for the ``can_play_response_for`` and ``play_response``
        vcrpy's stubs call one after the other with the same, unchanged request."""
        last, uri, body, method, key = self._last_key
        same = last is request and uri is request.uri and body is request.body
        if same and method == request.method:
            return key
        key = match_key(request, self._canonical_of)
        self._last_key = (request, request.uri, request.body, request.method, key)
        return key


@contextlib.contextmanager
def patched_for(cassette: Any) -> Iterator[None]:
    """vcrpy's HTTP patches, routed to ``cassette`` (a Cassette or anything acting as one)."""
    with contextlib.ExitStack() as stack:
        for patcher in CassettePatcherBuilder(cassette).build():
            stack.enter_context(patcher)
        yield


@contextlib.contextmanager
def replaying(path: str | os.PathLike[str]) -> Iterator[Cassette]:
    """Replay ``path`` as ``replay_vcr().use_cassette`` would, minus one cost.

    use_cassette deep-copies the incoming request for every comparison with a recorded one
    (to shield it from filters). Replay has no filters, and that copying would be about half of
    a replayed turn, so the cassette here matches requests as they are.
    """
    cassette = load_cassette(replay_vcr(), path, before_record_request=None)
    with patched_for(cassette):
        yield cassette


def _project_vcr(
    cassette_dir: str | os.PathLike[str] | None,
    vcr_class: type[vcr.VCR] = vcr.VCR,
    **options: Any,
) -> vcr.VCR:
    project_vcr = vcr_class(
        serializer=cassette_format.SERIALIZER_NAME,
        match_on=MATCH_ON,
        cassette_library_dir=os.fspath(cassette_dir) if cassette_dir is not None else None,
        **options,
    )
    project_vcr.register_serializer(cassette_format.SERIALIZER_NAME, cassette_format)
    project_vcr.register_matcher("json_body", json_body)
    return project_vcr


class Utf8Files:
    """vcrpy persister that reads a cassette as UTF-8 bytes, as it is written.

    vcrpy's FilesystemPersister reads text in the locale's encoding, which garbles a
    non-ASCII cassette where that is not UTF-8 (Windows); and the parser takes the bytes as
    they are, where text would have to be encoded back for its long-number check (a tenth
    of loading a cassette)."""

    @staticmethod
    def load_cassette(
        cassette_path: str | os.PathLike[str], serializer: Any, anchor: Path | None = None
    ) -> Any:
        """The cassette's bytes parsed; a cassette that is a link (or lies in a linked
        directory of the project) is refused with UnsafeGoldenPath naming it."""
        try:
            data = read_golden(Path(cassette_path), anchor)
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise CassetteNotFoundError() from None
        if not data or data.isspace():  # an empty file is no cassette, as vcrpy has it
            raise CassetteNotFoundError()
        return deserialize(data, serializer)

    @staticmethod
    def save_cassette(
        cassette_path: str | os.PathLike[str], cassette_dict: Any, serializer: Any
    ) -> None:
        raise RuntimeError(f"a replayed cassette is never written: {cassette_path}")


class LeakCheckingPersister:
    """vcrpy persister that scans the serialized cassette before writing it, and
    writes through a temporary file so a reader never sees half a cassette.

    Never through a symbolic link: the file and the directories inside `anchor` (the golden
    directory the cassette belongs to; default the cassette's own) are reached with
    O_NOFOLLOW, and the file is created with the mode open() gives (0666 less the umask)."""

    def __init__(self, sanitizer: Sanitizer, anchor: Path | None = None) -> None:
        self._sanitizer = sanitizer
        self._anchor = anchor

    def load_cassette(self, cassette_path: str | os.PathLike[str], serializer: Any) -> Any:
        return Utf8Files.load_cassette(cassette_path, serializer, self._anchor)

    def save_cassette(
        self, cassette_path: str | os.PathLike[str], cassette_dict: Any, serializer: Any
    ) -> None:
        text = serialize(cassette_dict, serializer)
        leaks = self._sanitizer.scan(text)
        if leaks:
            raise CassetteLeakError(cassette_path, leaks)
        write_golden(Path(cassette_path), text.encode("utf-8"), self._anchor)


# -- matching ------------------------------------------------------------------


class _Unkeyable(Exception):
    pass


def match_key(
    request: Request, canonical_of: dict[int, tuple[Any, Any]] | None = None
) -> tuple[Any, ...] | None:
    """A hashable value two requests share exactly when every ``MATCH_ON`` matcher passes for
    them; None when it cannot be made (then only vcrpy's scan can say, and raise as it does).

    The parts are what those matchers compare: ``method``, ``scheme``, ``host``, ``port``,
    ``path`` (empty as ``/``), ``query`` (sorted pairs) and the parsed body (``json_body``).
    ``canonical_of`` remembers bodies' canonical forms by identity: a request sent as recorded
    parses to the recorded body's very object (bodies.remember), so its form is known."""
    try:
        body = parsed_body(request)
        known = canonical_of.get(id(body)) if canonical_of is not None else None
        if known is not None and known[0] is body:
            canonical = known[1]
        else:
            canonical = _canonical(body)
            if canonical_of is not None:
                canonical_of[id(body)] = (body, canonical)  # holds body: its id stays its own
        return (request.method, *_route(request.uri), canonical)
    except Exception:  # the scan meets the same error where vcrpy's would (a bad port, ...)
        return None


@functools.lru_cache(maxsize=1024)
def _route(uri: str) -> tuple[Any, ...]:
    """What the scheme, host, port, path and query matchers compare, read as vcrpy reads them
    (all of it comes from the URI alone, and a dialogue sends few distinct ones)."""
    request = Request("GET", uri, None, {})
    return request.scheme, request.host, request.port, request.path or "/", tuple(request.query)


def _canonical(value: Any) -> Any:
    """``value`` (parsed JSON, text, bytes or None) as a hashable that equals another's exactly
    when the values are ``==``: objects as frozensets of items, arrays as tuples; scalars stay
    themselves, so 1, 1.0 and true stay equal as they are for ``==``. NaN is unequal even to
    itself (yet equal inside one shared structure), which no key can say: _Unkeyable."""
    kind = type(value)
    if kind is dict:
        return frozenset([(name, _canonical(item)) for name, item in value.items()])
    if kind is list:
        return tuple([_canonical(item) for item in value])
    if kind is float:
        if value != value:
            raise _Unkeyable("NaN")
        return value
    if kind in _SCALARS:
        return value
    raise _Unkeyable(kind.__name__)


_SCALARS = frozenset({str, int, bool, type(None), bytes})


@functools.cache
def _project_matchers() -> tuple[Any, ...]:
    """MATCH_ON as vcrpy resolves it into a Cassette's ``_match_on``."""
    return tuple(_project_vcr(None)._get_matchers(MATCH_ON))


def json_body(r1: Request, r2: Request) -> None:
    """vcrpy matcher: the bodies are equal as parsed JSON (as text when either is
    not JSON). vcrpy passes the request being made first and the recorded one
    second; a mismatch raises AssertionError listing the fields that differ."""
    now, recorded = parsed_body(r1), parsed_body(r2)
    if now == recorded:
        return
    if r1.method != r2.method or r1.path != r2.path:
        # Another route (the method or path matcher fails it too): vcrpy still asks this matcher
        # and keeps its message; a field-by-field diff of two unrelated bodies helps nobody.
        raise AssertionError(f"body of another route ({r2.method} {r2.path}) not compared")
    # vcrpy runs every matcher against every recorded interaction, so this
    # message is built for each non-matching one: a plain walk costs
    # microseconds where DeepDiff costs about half a millisecond.
    lines = [_difference_line(*change) for change in _walk_changes(("body",), recorded, now)]
    raise AssertionError("\n".join(_capped(lines)))


def parsed_body(request: Request) -> Any:
    """The body as parsed JSON, else as text (bytes if not UTF-8); no body is None.
    The result is shared between calls: read it, never change it."""
    body = read_body(request)
    if body is None or body in (b"", ""):
        return None
    return bodies.parse(body.encode("utf-8") if isinstance(body, str) else bytes(body))


def forget_caches() -> None:
    """Parse every cassette and body again, as a new process would
    (replay.session.forget_session_caches)."""
    bodies.forget()
    _route.cache_clear()


def _walk_changes(
    path: tuple[Any, ...], recorded: Any, now: Any
) -> Iterator[tuple[tuple[Any, ...], Any, Any]]:
    """(path, recorded value, value now) for each leaf that differs."""
    if isinstance(recorded, dict) and isinstance(now, dict):
        for key in recorded:
            if key not in now:
                yield (*path, key), recorded[key], MISSING
            elif recorded[key] != now[key]:
                yield from _walk_changes((*path, key), recorded[key], now[key])
        for key in now:
            if key not in recorded:
                yield (*path, key), MISSING, now[key]
    elif isinstance(recorded, list) and isinstance(now, list):
        for index in range(max(len(recorded), len(now))):
            old = recorded[index] if index < len(recorded) else MISSING
            new = now[index] if index < len(now) else MISSING
            if old is MISSING or new is MISSING:
                yield (*path, index), old, new
            elif old != new:
                yield from _walk_changes((*path, index), old, new)
    elif recorded != now or type(recorded) is not type(now):
        yield path, recorded, now


def _sorted_changes(
    prefix: tuple[Any, ...], recorded: Any, now: Any
) -> list[tuple[tuple[Any, ...], Any, Any]]:
    """``_walk_changes`` in path order, for the one-off explanation of a failure."""
    changes = _walk_changes(prefix, recorded, now)
    return sorted(changes, key=lambda change: [str(part) for part in change[0]])


def _difference_line(path: tuple[Any, ...], recorded: Any, now: Any) -> str:
    where = _format_path(path)
    if recorded is MISSING:
        return f"{where}: not recorded, now {_show(now)}"
    if now is MISSING:
        return f"{where}: recorded {_show(recorded)}, now missing"
    return f"{where}: recorded {_show(recorded)} now {_show(now)}"


def _format_path(path: Sequence[Any]) -> str:
    text = str(path[0])
    for part in path[1:]:
        if isinstance(part, int):
            text += f"[{part}]"
        elif isinstance(part, str) and part.replace("_", "a").replace("-", "a").isalnum():
            text += f".{part}"
        else:
            text += f"[{json.dumps(part, ensure_ascii=False)}]"
    return text


def _show(value: Any) -> str:
    if isinstance(value, bytes):
        text = f"<{len(value)} bytes>"
    else:
        try:
            text = json.dumps(value, ensure_ascii=False)
        except (TypeError, ValueError):
            text = repr(value)
    return text if len(text) <= VALUE_WIDTH else text[: VALUE_WIDTH - 1] + "…"


def _capped(lines: list[str]) -> list[str]:
    if len(lines) <= MAX_DIFFERENCES:
        return lines
    return [*lines[:MAX_DIFFERENCES], f"… and {len(lines) - MAX_DIFFERENCES} more differences"]


# -- explaining a request replay could not serve -------------------------------------


def request_differences(recorded: Request, now: Request) -> list[str]:
    """What differs between a recorded request and one made now, one line per field."""
    lines = []
    for field in ("method", "scheme", "host", "port", "path"):
        old, new = getattr(recorded, field), getattr(now, field)
        if old != new:
            lines.append(_difference_line((field,), old, new))
    old_query, new_query = _query(recorded), _query(now)
    if old_query != new_query:
        lines += [_difference_line(*c) for c in _sorted_changes(("query",), old_query, new_query)]
    old_body, new_body = parsed_body(recorded), parsed_body(now)
    if old_body != new_body:
        lines += [_difference_line(*c) for c in _sorted_changes(("body",), old_body, new_body)]
    return _capped(lines)


def _query(request: Request) -> dict[str, list[str]]:
    return parse_qs(request.parsed_uri.query, keep_blank_values=True)


def describe_unmatched_request(cassette: Cassette, request: Request) -> str:
    """Plain words for why replay could not serve ``request`` from ``cassette``:
    the closest recorded request (same method and path, the next one not yet
    played) and what differs, field by field."""
    filtered = cassette.filter_request(request)
    if filtered is None:
        return (
            f"{request.method} {request.uri} is never recorded (token traffic), so replay "
            "cannot serve it: replay with a static test credential instead."
        )
    request = filtered
    where = f"{request.method} {request.path}"
    interactions = [(index, stored) for index, (stored, _) in enumerate(cassette.data)]
    if not interactions:
        return f"{where}: the cassette {cassette.path} holds no recorded interactions."

    def played(index: int) -> bool:
        return cassette.play_counts[index] > 0

    same_route = [
        (index, stored)
        for index, stored in interactions
        if stored.method == request.method and stored.path == request.path
    ]
    unplayed = [(index, stored) for index, stored in same_route if not played(index)]
    total = len(interactions)
    if unplayed:
        index, closest = unplayed[0]
        intro = (
            f"{where} differs from recorded interaction {index + 1} of {total}, "
            "the next unplayed one with the same method and path:"
        )
    elif same_route:
        index, closest = same_route[-1]
        if not request_differences(closest, request):
            return (
                f"{where} matches recorded interaction {index + 1} of {total}, which was "
                f"already played: the code now sends this request more often than when "
                f"the cassette was recorded ({len(same_route)} time(s))."
            )
        intro = (
            f"{where}: every recorded {where} ({len(same_route)}) was already played; "
            f"compared with the last, interaction {index + 1} of {total}:"
        )
    else:
        pending = [(index, stored) for index, stored in interactions if not played(index)]
        index, closest = pending[0] if pending else interactions[-1]
        state = "the next unplayed" if pending else "the last"
        intro = (
            f"{where} was never recorded; compared with {state} recorded request, "
            f"interaction {index + 1} of {total} ({closest.method} {closest.path}):"
        )
    differences = request_differences(closest, request) or [
        "no difference in method, URI or body (a matcher outside these differs)"
    ]
    return "\n".join([intro, *(f"  {line}" for line in differences)])
