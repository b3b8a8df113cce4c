"""Recording real loopback HTTP (openai on httpx2, and requests) into a sanitized
cassette, then replaying it with the server stopped."""

from __future__ import annotations

import gzip
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx2
import openai
import pytest
import requests
from vcr.errors import CannotOverwriteExistingCassetteException
from vcr.request import Request

from foundry_goldens.cassettes.player import (
    MATCH_ON,
    describe_unmatched_request,
    json_body,
    recording_vcr,
    replay_vcr,
)
from foundry_goldens.cassettes.sanitizer import PLACEHOLDER_ENDPOINT, CassetteLeakError, Sanitizer

CANARY_SECRET = "canary-SECRET-9f8e7d"
CANARY_TENANT = "0c4a11e5-7e57-4a1d-9c0d-5ca1ab1ec0de"
CANARY_CLIENT = "c1e17c1d-0000-4bad-8eef-feedfacecafe"
CANARY_JWT = "eyJhbGciOiJSUzI1NiJ9.eyJjYW5hcnkiOiJ0cnVlIn0.c2lnbmF0dXJlLWNhbmFyeQ"
CANARY_BEARER = "canary-opaque-token-7c6b5a4d"
SECRETS = {
    "AZURE_CLIENT_SECRET": CANARY_SECRET,
    "AZURE_TENANT_ID": CANARY_TENANT,
    "AZURE_CLIENT_ID": CANARY_CLIENT,
}
CANARIES = [CANARY_SECRET, CANARY_TENANT, CANARY_CLIENT, CANARY_JWT, CANARY_BEARER]
PROJECT = "/api/projects/demo"
VOLATILE_HEADERS = [
    "authorization",
    "api-key",
    "date",
    "x-request-id",
    "apim-request-id",
    "x-ratelimit-remaining-requests",
    "x-stainless",
    "user-agent",
    "set-cookie",
    "retry-after",
    "content-length",
    "content-encoding",
]


class _Handler(BaseHTTPRequestHandler):
    """A tiny stand-in for Foundry that plants canaries everywhere."""

    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # keep pytest output clean
        pass

    def _send(self, status: int, body: bytes, content_type: str, extra: dict[str, str]) -> None:
        if "gzip" in self.headers.get("Accept-Encoding", "") and status == 200:
            body = gzip.compress(body)
            extra = {**extra, "Content-Encoding": "gzip"}
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("x-request-id", f"req-{time.monotonic_ns()}")
        self.send_header("apim-request-id", CANARY_CLIENT)
        self.send_header("x-ratelimit-remaining-requests", "41")
        self.send_header("Set-Cookie", f"session={CANARY_JWT}; HttpOnly")
        for name, value in extra.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, payload: Any, **extra: str) -> None:
        self._send(status, json.dumps(payload).encode(), "application/json", extra)

    def _attempt(self, route: str) -> int:
        with self.server.lock:
            self.server.attempts[route] = self.server.attempts.get(route, 0) + 1
            return self.server.attempts[route]

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        endpoint = f"http://127.0.0.1:{self.server.server_port}{PROJECT}"
        if "/oauth2/" in self.path:
            self._json(200, {"access_token": CANARY_JWT, "token_type": "Bearer"})
        elif self.path.startswith(f"{PROJECT}/openai/v1/conversations"):
            if self._attempt("conversations") == 1:
                # The client retries after 5 ms; replay must never see this.
                self._json(429, {"error": {"code": "rate_limited"}}, **{"retry-after-ms": "5"})
                return
            request = json.loads(raw)
            self._json(
                200,
                {"id": "conv_1", "object": "conversation", "metadata": request["metadata"]},
            )
        elif self.path.startswith(f"{PROJECT}/openai/v1/responses"):
            request = json.loads(raw)
            self._json(
                200,
                {
                    "id": "resp_1",
                    "object": "response",
                    "output": [{"type": "message", "text": f"Grüße! You said {request['input']}"}],
                    "echo": request,
                    "seen": {
                        "authorization": self.headers.get("Authorization"),
                        "api_key": self.headers.get("api-key"),
                        "endpoint": f"{endpoint}/openai/v1",
                        "access_token": CANARY_JWT,
                    },
                },
                Location=f"{endpoint}/openai/v1/responses/resp_1",
            )
        else:
            self._json(404, {"error": "no route"})

    def do_GET(self) -> None:
        if self.path.startswith(f"{PROJECT}/agents/retail"):
            if self._attempt("agents") == 1:
                self._send(503, b"busy", "text/plain", {"Retry-After": "30"})
                return
            text = (
                "agent: retail\n"
                f"served by 127.0.0.1:{self.server.server_port} for tenant {CANARY_TENANT}\n"
                f"you sent {self.headers.get('Authorization')}\n"
            )
            self._send(200, text.encode(), "text/plain; charset=utf-8", {})
        else:
            self._json(404, {"error": "no route"})


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.lock = threading.Lock()
        self.attempts: dict[str, int] = {}


@dataclass
class Recording:
    path: Path
    text: str
    port: int
    endpoint: str
    seen: dict[str, Any]


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Recording]:
    """Record real loopback traffic once, with the server stopped afterwards."""
    server = _Server()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    cassette_dir = tmp_path_factory.mktemp("cassettes")
    port = server.server_port
    endpoint = f"http://127.0.0.1:{port}{PROJECT}"
    seen: dict[str, Any] = {}
    try:
        sanitizer = Sanitizer(endpoint, SECRETS)
        with recording_vcr(sanitizer, cassette_dir).use_cassette("dialogue.json"):
            # azure-identity's token exchange goes through requests.
            token = requests.post(
                f"http://127.0.0.1:{port}/{CANARY_TENANT}/oauth2/v2.0/token?client_id={CANARY_CLIENT}",
                data={"client_id": CANARY_CLIENT, "client_secret": CANARY_SECRET},
                timeout=5,
            )
            seen["token"] = token.json()
            client = openai.OpenAI(
                api_key=CANARY_JWT,
                base_url=f"{endpoint}/openai/v1",
                default_headers={"api-key": CANARY_SECRET},
                max_retries=2,
            )
            seen["conversation"] = client.conversations.create(metadata={"topic": "demo"})
            seen["clean"] = client.responses.with_raw_response.create(
                model="gpt-test", input="hello"
            ).http_response.json()
            seen["canary"] = client.responses.with_raw_response.create(
                model="gpt-test",
                input="planted",
                extra_body={
                    "client_secret": CANARY_SECRET,
                    "note": f"Bearer {CANARY_BEARER}",
                    "tenant": CANARY_TENANT,
                    "client": CANARY_CLIENT,
                    "assertion": CANARY_JWT,
                    "link": f"{endpoint}/files/1",
                },
                extra_query={"api-version": "v1", "tenant": CANARY_TENANT},
            ).http_response.json()
            # A requests caller that retries a 503 itself, as azure-core does.
            agents_url = f"{endpoint}/agents/retail?api-version=v1&tenant={CANARY_TENANT}"
            auth = {"Authorization": f"Bearer {CANARY_BEARER}"}
            first = requests.get(agents_url, headers=auth, timeout=5)
            second = requests.get(agents_url, headers=auth, timeout=5)
            seen["agents"] = (first.status_code, second.status_code, second.text)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
    path = cassette_dir / "dialogue.json"
    yield Recording(path, path.read_text(encoding="utf-8"), port, endpoint, seen)


def _interactions(recording: Recording) -> list[dict[str, Any]]:
    data = json.loads(recording.text)
    interactions: list[dict[str, Any]] = data["interactions"]
    return interactions


# -- what recording wrote ---------------------------------------------------------


def test_the_live_calls_saw_the_canaries_and_the_retries(recording: Recording) -> None:
    # Proof the canaries really went over the wire, so their absence below means something.
    assert recording.seen["token"]["access_token"] == CANARY_JWT
    assert recording.seen["conversation"].id == "conv_1"
    assert recording.seen["canary"]["echo"]["client_secret"] == CANARY_SECRET
    assert recording.seen["canary"]["seen"]["authorization"] == f"Bearer {CANARY_JWT}"
    assert recording.seen["agents"][:2] == (503, 200)


@pytest.mark.parametrize("canary", CANARIES)
def test_the_cassette_holds_no_canary(recording: Recording, canary: str) -> None:
    assert canary not in recording.text


def test_the_cassette_holds_no_real_host_or_port(recording: Recording) -> None:
    assert "127.0.0.1" not in recording.text
    assert str(recording.port) not in recording.text
    assert "/api/projects/demo" not in recording.text


def test_every_uri_is_on_the_placeholder_endpoint(recording: Recording) -> None:
    uris = [i["request"]["uri"] for i in _interactions(recording)]
    assert uris == [
        f"{PLACEHOLDER_ENDPOINT}/openai/v1/conversations",
        f"{PLACEHOLDER_ENDPOINT}/openai/v1/responses",
        f"{PLACEHOLDER_ENDPOINT}/openai/v1/responses?api-version=v1&tenant=<AZURE_TENANT_ID>",
        f"{PLACEHOLDER_ENDPOINT}/agents/retail?api-version=v1&tenant=<AZURE_TENANT_ID>",
    ]


def test_token_traffic_and_retried_failures_are_not_kept(recording: Recording) -> None:
    statuses = [i["response"]["status"]["code"] for i in _interactions(recording)]
    assert statuses == [200, 200, 200, 200]  # no token call, no 429, no 503
    assert "oauth2" not in recording.text
    assert "429" not in recording.text and "503" not in recording.text


@pytest.mark.parametrize("header", VOLATILE_HEADERS)
def test_no_credential_or_volatile_header_is_kept(recording: Recording, header: str) -> None:
    for interaction in _interactions(recording):
        for side in ("request", "response"):
            names = [name.lower() for name in interaction[side]["headers"]]
            assert not [name for name in names if name.startswith(header)], (side, names)


def test_bodies_are_readable_json(recording: Recording) -> None:
    conversation, clean, canary, agents = _interactions(recording)
    assert conversation["request"]["body"] == {"json": {"metadata": {"topic": "demo"}}}
    assert conversation["response"]["body"]["json"]["id"] == "conv_1"  # was gzip on the wire
    assert clean["response"]["body"]["json"]["output"][0]["text"] == "Grüße! You said hello"
    assert "Grüße" in recording.text  # not \u-escaped
    assert canary["request"]["body"]["json"]["client_secret"] == "<AZURE_CLIENT_SECRET>"
    assert canary["request"]["body"]["json"]["note"] == "Bearer <TOKEN>"
    assert canary["response"]["body"]["json"]["seen"] == {
        "authorization": "Bearer <JWT>",
        "api_key": "<AZURE_CLIENT_SECRET>",
        "endpoint": f"{PLACEHOLDER_ENDPOINT}/openai/v1",
        "access_token": "<JWT>",
    }
    assert canary["response"]["headers"]["location"] == (
        f"{PLACEHOLDER_ENDPOINT}/openai/v1/responses/resp_1"
    )
    lines = agents["response"]["body"]["lines"]  # multi-line text: one array item per line
    assert lines[0] == "agent: retail\n"
    assert lines[1].startswith("served by foundry.invalid for")
    assert "base64" not in recording.text and "!!binary" not in recording.text


def test_the_sanitizers_own_scan_finds_nothing(recording: Recording) -> None:
    assert Sanitizer(recording.endpoint, SECRETS).scan(recording.text) == []


# -- replay with the server stopped ---------------------------------------------------


def _replay_client() -> openai.OpenAI:
    return openai.OpenAI(
        api_key="replay", base_url=f"{PLACEHOLDER_ENDPOINT}/openai/v1", max_retries=0
    )


def test_replay_serves_openai_on_httpx2_without_a_server(recording: Recording) -> None:
    with replay_vcr(recording.path.parent).use_cassette(recording.path.name) as cassette:
        started = time.perf_counter()
        client = _replay_client()
        conversation = client.conversations.create(metadata={"topic": "demo"})
        reply = client.responses.with_raw_response.create(model="gpt-test", input="hello")
        elapsed = time.perf_counter() - started
    assert conversation.id == "conv_1"
    assert reply.http_response.json()["output"][0]["text"] == "Grüße! You said hello"
    assert cassette.play_count == 2
    assert elapsed < 1.0  # the recorded 429 and its Retry-After are gone


def test_replay_serves_requests_without_a_server(recording: Recording) -> None:
    with replay_vcr(recording.path.parent).use_cassette(recording.path.name) as cassette:
        response = requests.get(
            f"{PLACEHOLDER_ENDPOINT}/agents/retail",
            params={"api-version": "v1", "tenant": "<AZURE_TENANT_ID>"},
            timeout=5,
        )
    assert response.status_code == 200
    assert response.text.startswith("agent: retail\n")
    assert cassette.play_count == 1


def test_each_recorded_interaction_plays_once(recording: Recording) -> None:
    with replay_vcr(recording.path.parent).use_cassette(recording.path.name):
        client = _replay_client()
        client.conversations.create(metadata={"topic": "demo"})
        with pytest.raises(CannotOverwriteExistingCassetteException) as excinfo:
            client.conversations.create(metadata={"topic": "demo"})
    unmatched = excinfo.value
    assert "already been played" in str(unmatched)
    detail = describe_unmatched_request(unmatched.cassette, unmatched.failed_request)
    assert "already played" in detail


def test_a_changed_body_fails_naming_the_field(recording: Recording) -> None:
    # openai lets the mismatch through unwrapped (it is not an httpx2 error).
    with (
        replay_vcr(recording.path.parent).use_cassette(recording.path.name),
        pytest.raises(CannotOverwriteExistingCassetteException) as excinfo,
    ):
        _replay_client().responses.create(model="gpt-test", input="Hello there")
    unmatched = excinfo.value
    assert 'json_body differs: body.input: recorded "hello" now "Hello there"' in str(unmatched)
    detail = describe_unmatched_request(unmatched.cassette, unmatched.failed_request)
    assert detail.splitlines() == [
        "POST /api/projects/recorded/openai/v1/responses differs from recorded interaction "
        "2 of 4, the next unplayed one with the same method and path:",
        '  body.input: recorded "hello" now "Hello there"',
    ]


def test_a_changed_body_fails_for_requests_too(recording: Recording) -> None:
    with (
        replay_vcr(recording.path.parent).use_cassette(recording.path.name),
        pytest.raises(CannotOverwriteExistingCassetteException) as excinfo,
    ):
        requests.post(
            f"{PLACEHOLDER_ENDPOINT}/openai/v1/conversations",
            json={"metadata": {"topic": "other"}, "items": []},
            timeout=5,
        )
    detail = describe_unmatched_request(excinfo.value.cassette, excinfo.value.failed_request)
    assert 'body.metadata.topic: recorded "demo" now "other"' in detail
    assert "body.items: not recorded, now []" in detail


def test_an_unknown_route_is_described_against_the_next_unplayed_request(
    recording: Recording,
) -> None:
    with (
        replay_vcr(recording.path.parent).use_cassette(recording.path.name),
        pytest.raises(CannotOverwriteExistingCassetteException) as excinfo,
    ):
        httpx2.get(f"{PLACEHOLDER_ENDPOINT}/openai/v1/conversations/conv_1/items")
    detail = describe_unmatched_request(excinfo.value.cassette, excinfo.value.failed_request)
    assert "was never recorded" in detail
    assert 'method: recorded "POST" now "GET"' in detail
    assert "path: recorded" in detail


def test_replay_never_reaches_another_host(recording: Recording) -> None:
    with (
        replay_vcr(recording.path.parent).use_cassette(recording.path.name),
        pytest.raises(CannotOverwriteExistingCassetteException),
    ):
        httpx2.get("http://127.0.0.1:9/anything")


# -- recording refuses to write -------------------------------------------------------


class _LeakySanitizer(Sanitizer):
    """Knows the secret but forgets to scrub request bodies: the scan must catch it."""

    def scrub_body(self, body: str | bytes | None) -> str | bytes | None:
        return body


def test_a_leak_stops_the_cassette_from_being_written(tmp_path: Path) -> None:
    def transport(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, json={"ok": True})

    sanitizer = _LeakySanitizer("http://127.0.0.1:1/api/projects/demo", SECRETS)
    client = httpx2.Client(transport=httpx2.MockTransport(transport))
    with (
        pytest.raises(CassetteLeakError) as excinfo,
        recording_vcr(sanitizer, tmp_path).use_cassette("leaky.json"),
    ):
        client.post(
            "http://127.0.0.1:1/api/projects/demo/openai/v1/responses",
            json={"input": CANARY_SECRET},
        )
    message = str(excinfo.value)
    assert str(tmp_path / "leaky.json") in message
    assert "secret value AZURE_CLIENT_SECRET" in message
    assert "ca… (20 chars)" in message
    assert CANARY_SECRET not in message
    assert list(tmp_path.iterdir()) == []  # not even a temporary file


def test_nothing_is_written_when_the_recorded_code_fails(tmp_path: Path) -> None:
    def transport(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, json={"ok": True})

    client = httpx2.Client(transport=httpx2.MockTransport(transport))
    sanitizer = Sanitizer("http://127.0.0.1:1/api/projects/demo")
    with (
        pytest.raises(RuntimeError, match="turn 2 failed"),
        recording_vcr(sanitizer, tmp_path).use_cassette("failed.json"),
    ):
        client.get("http://127.0.0.1:1/api/projects/demo/openai/v1/models")
        raise RuntimeError("turn 2 failed")
    assert not (tmp_path / "failed.json").exists()


def test_rerecording_replaces_the_old_interactions(tmp_path: Path) -> None:
    answers = iter(["first", "second"])

    def transport(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, json={"answer": next(answers)})

    client = httpx2.Client(transport=httpx2.MockTransport(transport))
    sanitizer = Sanitizer("http://127.0.0.1:1/api/projects/demo")
    for _ in range(2):
        with recording_vcr(sanitizer, tmp_path).use_cassette("again.json"):
            client.get("http://127.0.0.1:1/api/projects/demo/openai/v1/models")
    interactions = json.loads((tmp_path / "again.json").read_text())["interactions"]
    assert [i["response"]["body"]["json"]["answer"] for i in interactions] == ["second"]


# -- the json_body matcher on its own -------------------------------------------------


def _request(body: Any, path: str = "/openai/v1/responses") -> Request:
    raw = json.dumps(body) if not isinstance(body, str | bytes | type(None)) else body
    return Request("POST", f"{PLACEHOLDER_ENDPOINT}{path}", raw, {})


def test_json_body_ignores_formatting_and_key_order() -> None:
    json_body(
        _request('{"a": 1, "b": [1, 2]}'),
        _request(b'{"b":[1,2],"a":1}'),
    )


def test_json_body_names_every_field_that_differs() -> None:
    now = {"input": [{"role": "user", "content": "Hello"}], "stream": True}
    recorded = {"input": [{"role": "user", "content": "Hi"}, {"x": 1}], "model": "m"}
    with pytest.raises(AssertionError) as excinfo:
        json_body(_request(now), _request(recorded))
    assert str(excinfo.value).splitlines() == [
        'body.input[0].content: recorded "Hi" now "Hello"',
        'body.input[1]: recorded {"x": 1}, now missing',
        'body.model: recorded "m", now missing',
        "body.stream: not recorded, now true",
    ]


def test_json_body_compares_text_that_is_not_json() -> None:
    json_body(_request("a=1&b=2"), _request(b"a=1&b=2"))
    json_body(_request(None), _request(b""))
    with pytest.raises(AssertionError, match='body: recorded "a=1" now "a=2"'):
        json_body(_request("a=2"), _request("a=1"))


def test_json_body_of_another_route_is_not_diffed_but_still_differs() -> None:
    now = _request({"a": 1}, "/openai/v1/conversations")
    with pytest.raises(AssertionError, match="another route") as raised:
        json_body(now, _request({"a": 2}))
    assert "body.a" not in str(raised.value)
    json_body(now, _request({"a": 1}))  # equal bodies still match, whatever the route


def test_the_json_body_matcher_is_part_of_matching() -> None:
    assert MATCH_ON[-1] == "json_body"
    assert "json_body" in replay_vcr().matchers
    assert replay_vcr().record_mode == "none"
