"""Replay finds a request's recorded interactions through an index (PlaybackCassette), and
serves exactly what vcrpy's own scan with MATCH_ON serves: the same interaction, each played
once, in recorded order among equal requests, and the same refusal where the scan refuses."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import vcr.cassette
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from vcr.cassette import Cassette
from vcr.errors import CannotOverwriteExistingCassetteException, UnhandledHTTPRequestError
from vcr.request import Request

from foundry_goldens.cassettes import player
from foundry_goldens.cassettes.player import (
    MATCH_ON,
    PlaybackCassette,
    load_cassette,
    match_key,
    replay_vcr,
    replaying,
)
from foundry_goldens.cassettes.router import Interactions, ThreadCassetteRouter
from foundry_goldens.goldens.dialogues import load_dialogue
from foundry_goldens.replay.replayer import replay_dialogue
from tests.paths import CASSETTE_DIR, DIALOGUE_DIR

# -- requests that often match, or almost -------------------------------------------------

METHODS = ("GET", "POST", "DELETE")
ORIGINS = (
    "https://foundry.invalid",
    "https://foundry.invalid:443",  # the same port as the one before
    "https://FOUNDRY.invalid",  # the host matcher compares the lower-cased host
    "http://foundry.invalid",
    "https://foundry.invalid:8443",
    "https://other.invalid",
)
BAD_ORIGIN = "https://foundry.invalid:99999"  # a port urllib refuses: vcrpy's matcher raises
PATHS = ("", "/", "/api/responses", "/api/conversations", "/api/conversations/c1")
QUERIES = (
    "",
    "?api-version=1",
    "?api-version=1&b=2",
    "?b=2&api-version=1",  # the query matcher sorts the pairs
    "?api-version=2",
    "?x",  # a blank value is dropped: the same as no query
    "?x=&api-version=1",
)
# Bodies a JSON value cannot be written as: empty, not JSON, not UTF-8, NaN (unequal to itself
# unless it is the very same parsed object), JSON scalars equal across types (1, 1.0, true).
RAW_BODIES = (
    None,
    b"",
    b"null",
    b"not json",
    b'"not json"',  # the same as the text above once parsed
    b"\xff\xfe not utf-8",
    b"NaN",
    b'{"a": NaN}',
    b'{"a": NaN, "b": 1}',
    b"1",
    b"1.0",
    b"true",
    b"[1, true]",
    b"[true, 1.0]",
    b"-0.0",
    b"0",
)

KEYS = st.sampled_from(["a", "b", "c", "input", "model"])
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-2, 2),
    st.sampled_from([0.0, -0.0, 1.0, 1.5, float("inf")]),
    st.text(alphabet="xyé1", max_size=3),
)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(KEYS, children, max_size=3),
    max_leaves=8,
)


def _write(value: Any, order: random.Random) -> str:
    """JSON text of `value`, its objects' keys in a random order (equal as parsed JSON)."""
    if isinstance(value, dict):
        items = list(value.items())
        order.shuffle(items)
        return "{" + ", ".join(f"{json.dumps(k)}: {_write(v, order)}" for k, v in items) + "}"
    if isinstance(value, list):
        return "[" + ",".join(_write(item, order) for item in value) + "]"
    return json.dumps(value)


@st.composite
def bodies(draw: st.DrawFn) -> bytes | None:
    if draw(st.booleans()):
        return draw(st.sampled_from(RAW_BODIES))
    value = draw(JSON_VALUES)
    return _write(value, draw(st.randoms(use_true_random=False))).encode("utf-8")


@st.composite
def request_specs(draw: st.DrawFn) -> tuple[str, str, bytes | None]:
    origin = draw(st.sampled_from(ORIGINS)) if draw(st.integers(0, 24)) else BAD_ORIGIN
    uri = origin + draw(st.sampled_from(PATHS))
    return draw(st.sampled_from(METHODS)), uri + draw(st.sampled_from(QUERIES)), draw(bodies())


@st.composite
def scenarios(
    draw: st.DrawFn,
) -> tuple[list[tuple[str, str, bytes | None]], list[tuple[str, str, bytes | None]]]:
    """(recorded, requested): both drawn mostly from one small pool, so keys repeat."""
    pool = draw(st.lists(request_specs(), min_size=1, max_size=5))
    pick = st.sampled_from(pool) | request_specs()
    recorded = draw(st.lists(st.sampled_from(pool) | request_specs(), max_size=10))
    requested = draw(st.lists(pick, max_size=14))
    # Variants of what was recorded: the same JSON written with its keys in another order.
    order = draw(st.randoms(use_true_random=False))
    for number, (method, uri, body) in enumerate(requested):
        try:
            parsed = json.loads(body) if body else None
        except ValueError:
            continue
        if isinstance(parsed, dict | list) and draw(st.booleans()):
            requested[number] = (method, uri, _write(parsed, order).encode("utf-8"))
    return recorded, requested


def _request(spec: tuple[str, str, bytes | None]) -> Request:
    method, uri, body = spec
    return Request(method, uri, body, {})


class _Recorded:
    """A persister handing over interactions held in memory."""

    def __init__(self, specs: list[tuple[str, str, bytes | None]]) -> None:
        self.specs = specs

    def load_cassette(self, cassette_path: Any, serializer: Any) -> Any:
        responses = [
            {
                "status": {"code": 200, "message": "OK"},
                "headers": {},
                "body": {"string": b""},
                "n": n,
            }
            for n in range(len(self.specs))
        ]
        return [_request(spec) for spec in self.specs], responses


def _cassettes(
    specs: list[tuple[str, str, bytes | None]], copying: bool = False
) -> tuple[Cassette, Cassette]:
    """(vcrpy's Cassette, PlaybackCassette), configured as replay configures them; `copying`
    keeps use_cassette's filter, which hands matching a deep copy of every request."""
    overrides: dict[str, Any] = {} if copying else {"before_record_request": None}
    indexed = load_cassette(replay_vcr(), "recorded", persister=_Recorded(specs), **overrides)
    assert type(indexed) is PlaybackCassette
    options = replay_vcr().get_merged_config(path="recorded")
    for key in ("path_transformer", "func_path_generator", "record_on_exception"):
        options.pop(key, None)
    stock = Cassette.load(**{**options, "persister": _Recorded(specs), **overrides})
    return stock, indexed


def _serve(cassette: Cassette, request: Request) -> tuple[Any, ...]:
    """What vcrpy's httpx stub does with `request` (vcr.stubs.httpx_stubs._vcr_request)."""
    try:
        if cassette.can_play_response_for(request):
            return ("played", cassette.play_response(request)["n"])
        if cassette.write_protected and cassette.filter_request(request):
            refused = CannotOverwriteExistingCassetteException(
                cassette=cassette, failed_request=request
            )
            return ("refused", str(refused), refused.reason)
        return ("passed through",)
    except Exception as error:
        return ("raised", type(error).__name__, str(error))


def _played(cassette: Cassette) -> list[tuple[Any, ...]]:
    """What drop_unused_requests would keep (each cassette holds requests of its own)."""
    return [
        (r.method, r.uri, r.body, response["n"]) for r, response in cassette._played_interactions
    ]


def _responses_of(cassette: Cassette, request: Request) -> Any:
    try:
        return [response["n"] for response in cassette.responses_of(request)]
    except UnhandledHTTPRequestError:
        return "unhandled"
    except Exception as error:
        return ("raised", type(error).__name__, str(error))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios(), st.booleans())
def test_the_index_serves_what_vcrpys_scan_serves(
    scenario: tuple[list[tuple[str, str, bytes | None]], list[tuple[str, str, bytes | None]]],
    copying: bool,
) -> None:
    recorded, requested = scenario
    stock, indexed = _cassettes(recorded, copying)
    for spec in requested:
        request = _request(spec)  # one object for both, as a stub makes one per request
        assert _responses_of(indexed, request) == _responses_of(stock, request), spec
        served = _serve(indexed, request)
        event(served[0])
        assert served == _serve(stock, request), spec
        assert indexed.play_counts == stock.play_counts
    assert indexed.all_played == stock.all_played
    assert indexed.play_count == stock.play_count
    assert _played(indexed) == _played(stock)


def test_played_in_recorded_order_among_equal_requests() -> None:
    same = ("POST", "https://foundry.invalid/api/responses", b'{"a": 1, "b": [1, 2]}')
    reordered = ("POST", "https://foundry.invalid:443/api/responses", b'{"b": [1, 2.0], "a": true}')
    other = ("GET", "https://foundry.invalid/api/conversations/c1", None)
    _, cassette = _cassettes([same, other, same])
    assert [_serve(cassette, _request(s))[:2] for s in (reordered, same, other)] == [
        ("played", 0),
        ("played", 2),
        ("played", 1),
    ]
    assert cassette.all_played
    refused = _serve(cassette, _request(same))
    assert refused[0] == "refused" and refused[2] == "already_played"


def test_match_key_is_none_where_only_the_scan_can_say() -> None:
    assert match_key(_request(("GET", "https://foundry.invalid/x", b'{"a": NaN}'))) is None
    assert match_key(_request(("GET", "https://foundry.invalid:port/x", None))) is None
    key = match_key(_request(("GET", "https://foundry.invalid/x?b=1&a=2", b'{"k": [1]}')))
    assert key == match_key(
        _request(("GET", "https://FOUNDRY.invalid:443/x?a=2&b=1", b'{"k":[1.0]}'))
    )


def test_a_recording_the_key_cannot_describe_is_scanned() -> None:
    nan = ("POST", "https://foundry.invalid/x", b'{"a": NaN}')
    plain = ("POST", "https://foundry.invalid/x", b'{"a": 1}')
    stock, indexed = _cassettes([nan, plain])
    for spec in (plain, nan, nan):
        assert _serve(indexed, _request(spec)) == _serve(stock, _request(spec))
    assert indexed._indexable is False


def test_other_matchers_are_left_to_vcrpy() -> None:
    cassette = load_cassette(
        replay_vcr(), "recorded", persister=_Recorded([]), match_on=("method", "uri")
    )
    assert cassette._indexable is False


# -- every replay goes through the index --------------------------------------------------


@contextmanager
def _scanning_forbidden(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    def scanned(*args: Any) -> bool:
        raise AssertionError("a request was matched by scanning the cassette")

    monkeypatch.setattr(vcr.cassette, "requests_match", scanned)
    monkeypatch.setattr(player, "requests_match", scanned)
    yield


def test_a_golden_replays_through_the_index(monkeypatch: pytest.MonkeyPatch) -> None:
    dialogue = load_dialogue(DIALOGUE_DIR / "order_lookup.yaml")
    with _scanning_forbidden(monkeypatch):
        result = replay_dialogue(dialogue, CASSETTE_DIR / "order_lookup.json")
    assert len(result.turns) == len(dialogue.turns)


def test_the_routers_replays_are_indexed_from_file_and_from_memory(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    path = CASSETTE_DIR / "order_lookup.json"
    from_file = load_cassette(replay_vcr(), path)
    router = ThreadCassetteRouter.for_replay()
    dialogue = load_dialogue(DIALOGUE_DIR / "order_lookup.yaml")
    kept = Interactions(from_file.requests, from_file.responses)
    for recorded in (None, kept):
        with _scanning_forbidden(monkeypatch), router.installed():
            session = router.replaying(Path(path), recorded)

            def opened(_: Path, session: Any = session) -> Any:
                return session

            result = replay_dialogue(dialogue, path, cassette_session=opened)
        assert len(result.turns) == len(dialogue.turns)
    with replaying(path) as cassette:
        assert type(cassette) is PlaybackCassette


def test_match_on_is_what_the_key_stands_for() -> None:
    # match_key's parts are these matchers' fields; a new matcher needs a new part.
    assert MATCH_ON == ("method", "scheme", "host", "port", "path", "query", "json_body")
