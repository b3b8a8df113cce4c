"""The HTTP side: a threaded HTTP/1.1 (keep-alive) server, routing, faults and counters.

`FoundryEmulator` runs it on a background thread; `python -m foundry_goldens.emulator` in the
foreground.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import logging
import math
import re
import select
import socket
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler
from types import TracebackType
from typing import Any, cast
from urllib.parse import parse_qsl, urlsplit

from foundry_goldens.emulator import payloads
from foundry_goldens.emulator.agents import AGENTS
from foundry_goldens.emulator.engine import AgentSpec, JsonObject
from foundry_goldens.emulator.entra import EntraStandIn, ServicePrincipal
from foundry_goldens.emulator.errors import (
    ApiError,
    bad_request,
    not_found,
    permission_denied,
    rate_limited,
    server_error,
    unauthorized,
)
from foundry_goldens.emulator.faults import Fault, FaultConfig
from foundry_goldens.emulator.http_server import ConnectionTrackingServer
from foundry_goldens.emulator.ids import IdFactory, as_uuid
from foundry_goldens.emulator.project import FoundryProject
from foundry_goldens.emulator.stats import EmulatorStats, StatsRecorder
from foundry_goldens.emulator.variation import BehaviourChange, Variation
from foundry_goldens.static_token import STATIC_TEST_TOKEN

log = logging.getLogger("foundry_goldens.emulator")

ADMIN_STATS_PATH = "/_emulator/stats"
# `{endpoint}/openai/v1/…` as azure-ai-projects builds it; also `/openai/…?api-version=…`.
_API_PATH = re.compile(r"^(?:/api/projects/(?P<project>[^/]+))?/openai(?:/v1)?(?P<rest>/.*)$")
# The audiences the resource gateway takes a token for, as its 401 message names them
# (tests/reference/errors.json, "unauthorized"); Entra writes `aud` without the trailing slash.
ACCEPTED_AUDIENCES = frozenset({"https://ai.azure.com", "https://cognitiveservices.azure.com"})
# Plausible per-minute quotas of a model deployment (x-ratelimit-* headers).
RATE_LIMIT_REQUESTS = 1_500
RATE_LIMIT_TOKENS = 250_000
# Sent on every API answer, as recorded (tests/reference/v1/*.json): the versions the service
# takes, and the region that answered.
SERVICE_HEADERS = {
    "api-supported-versions": "1.0,2025-05-15-preview,2025-11-15-preview",
    "x-ms-region": "West US 2",
}
# The two header styles of tests/reference/v1/function_tool_conversation_v1.json: /responses
# answers `application/json` and a UUID `X-Request-ID`; the conversation routes answer with
# a charset and 32 hex.
RESPONSES_CONTENT_TYPE = "application/json"
CONVERSATIONS_CONTENT_TYPE = "application/json; charset=utf-8"
_MALFORMED_BODY = b'{"id":"resp_malformed","object":"response","output":[{"type":"mess'

Operation = Callable[[FoundryProject, Mapping[str, str], Mapping[str, str], Any], JsonObject]


@dataclasses.dataclass(frozen=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    name: str  # the key requests are counted under
    operation: Operation


_CONVERSATION = r"^/conversations/(?P<id>[^/]+)"
_ITEM = _CONVERSATION + r"/items/(?P<item>[^/]+)$"

# The conversation routes azure-ai-projects 2.x / openai 3.x call (client.conversations and
# client.conversations.items), as Foundry's REST spec lists them (Azure/azure-rest-api-specs,
# specification/ai-foundry/data-plane/Foundry/src/conversations/routes.tsp).
ROUTES: tuple[Route, ...] = (
    Route("POST", re.compile(r"^/conversations$"), "POST /conversations",
          lambda project, params, query, body: project.create_conversation(body)),
    Route("GET", re.compile(_CONVERSATION + "$"), "GET /conversations/{id}",
          lambda project, params, query, body: project.get_conversation(params["id"])),
    Route("POST", re.compile(_CONVERSATION + "$"), "POST /conversations/{id}",
          lambda project, params, query, body: project.update_conversation(params["id"], body)),
    Route("DELETE", re.compile(_CONVERSATION + "$"), "DELETE /conversations/{id}",
          lambda project, params, query, body: project.delete_conversation(params["id"])),
    Route("GET", re.compile(_CONVERSATION + "/items$"), "GET /conversations/{id}/items",
          lambda project, params, query, body: project.list_items(params["id"], query)),
    Route("POST", re.compile(_CONVERSATION + "/items$"), "POST /conversations/{id}/items",
          lambda project, params, query, body: project.add_items(params["id"], body)),
    Route("GET", re.compile(_ITEM), "GET /conversations/{id}/items/{item_id}",
          lambda project, params, query, body: project.get_item(params["id"], params["item"])),
    Route("DELETE", re.compile(_ITEM), "DELETE /conversations/{id}/items/{item_id}",
          lambda project, params, query, body: project.delete_item(params["id"], params["item"])),
    Route("POST", re.compile(r"^/responses$"), "POST /responses",
          lambda project, params, query, body: project.create_response(body)),
    Route("GET", re.compile(r"^/responses/(?P<id>[^/]+)$"), "GET /responses/{id}",
          lambda project, params, query, body: project.get_response(params["id"])),
)  # fmt: skip


class _Server(ConnectionTrackingServer):
    def __init__(
        self,
        address: tuple[str, int],
        project: FoundryProject,
        project_name: str,
        faults: FaultConfig,
    ) -> None:
        self.project = project
        self.project_name = project_name
        self.faults = faults
        self.counters = StatsRecorder()
        # Bearer tokens this project accepts: the harness's static test token (and any a test
        # adds, see `FoundryEmulator.accept_token`), plus those the trusted Entra ID stand-in
        # issued and are still valid.
        self.accepted_tokens: set[str] = {STATIC_TEST_TOKEN}
        self.entra: EntraStandIn | None = None
        # False: the principal lacks the role that grants the agents data actions.
        self.role_assigned = True
        self.ids = IdFactory(project.seed)
        self._request_numbers = itertools.count(1)
        self.tokens_used = 0  # by responses calls, for the x-ratelimit-remaining-tokens header
        self.extra_headers: dict[str, str] = {}  # see FoundryEmulator(response_headers=...)
        self.stopping = threading.Event()  # ends stalled and hung fault answers
        super().__init__(address, _Handler)

    def connection_accepted(self) -> None:
        self.counters.connection()

    def next_request(self) -> tuple[str, str]:
        """The next request's id (32 hex) and its gateway's `apim-request-id` (a UUID)."""
        number = next(self._request_numbers)
        return self.ids.request_id(number), self.ids.apim_request_id(number)

    def stats(self) -> EmulatorStats:
        return self.counters.snapshot(self.project.conversation_count)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, so connection reuse shows in the counters
    # Headers and body go out in two writes; with Nagle on, the body waits for the client's
    # delayed ACK (~40 ms) on every reused connection, which hid the value of client reuse.
    disable_nagle_algorithm = True
    timeout = 30  # an idle keep-alive connection is closed after this many seconds
    server: _Server
    request_id: str | None = None  # 32 hex, as error bodies carry it
    apim_request_id = ""
    on_responses = False  # a /responses route: that route's header style
    own_error = False  # an error the service raised itself, its request id in the body
    responses_call = 0  # the call number of a `POST …/responses`, else 0

    # No Date header and a fixed Server header: responses stay byte-identical across runs.
    def send_response(self, code: int, message: str | None = None) -> None:
        self.log_request(code)
        self.send_response_only(code, message)
        self.send_header("Server", "FoundryEmulator")

    def log_message(self, format: str, *args: Any) -> None:
        if log.isEnabledFor(logging.DEBUG):  # formatting every request line costs a hot path
            log.debug("%s - %s", self.address_string(), format % args)

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()

    def do_PUT(self) -> None:
        self._handle()

    def do_PATCH(self) -> None:
        self._handle()

    # --- one request ---

    def _handle(self) -> None:
        body = self._read_body()  # always, so a keep-alive connection stays in step
        url = urlsplit(self.path)
        if url.path == ADMIN_STATS_PATH and self.command == "GET":
            self._send_json(200, self.server.stats().as_dict())
            return
        self.request_id, self.apim_request_id = self.server.next_request()
        route, params = self._route(url.path)
        self.on_responses, self.own_error = _is_responses_path(url.path), False
        call = self.server.counters.request(route.name if route else "unrouted")
        self.responses_call = call if route is not None and route.name == "POST /responses" else 0
        faults = self.server.faults
        if faults.latency:
            time.sleep(faults.latency)
        try:
            if self.responses_call and self._inject(faults.fault_for(call)):
                return
            self._authorize()
            if route is None:
                raise not_found(f"No route for {self.command} {url.path}.")
            payload = route.operation(
                self.server.project,
                params,
                dict(parse_qsl(url.query)),
                self._json(body) if self.command == "POST" else None,
            )
        except ApiError as error:
            self._send_error(error)
            return
        except Exception as error:  # a bug in the emulator, not a Foundry behaviour
            log.exception("emulator failed on %s %s", self.command, self.path)
            self._send_error(server_error(f"emulator bug: {error!r}"))
            return
        if self.responses_call:
            self.server.tokens_used += int((payload.get("usage") or {}).get("total_tokens", 0))
        self._send_json(200, payload)

    def _read_body(self) -> bytes:
        length = self.headers.get("Content-Length")
        return self.rfile.read(int(length)) if length and length.isdigit() else b""

    def _route(self, path: str) -> tuple[Route | None, dict[str, str]]:
        api = _API_PATH.match(path)
        if api is None or api["project"] not in (None, self.server.project_name):
            return None, {}
        for route in ROUTES:
            match = route.pattern.match(api["rest"])
            if match and route.method == self.command:
                return route, match.groupdict()
        return None, {}

    def _authorize(self) -> None:
        """Only a bearer token the project accepts gets in (see `FoundryEmulator.accept_token`),
        and only while its principal holds the role (`FoundryEmulator(role_assigned=...)`)."""
        scheme, _, token = self.headers.get("Authorization", "").partition(" ")
        token = token.strip()
        entra = self.server.entra
        accepted = token in self.server.accepted_tokens or (
            entra is not None and _for_this_resource(entra.claims_of(token))
        )
        if scheme.lower() != "bearer" or not token or not accepted:
            raise unauthorized()
        if not self.server.role_assigned:
            raise permission_denied(self.command, self._principal(token))

    def _principal(self, token: str) -> str:
        """The object id of an accepted token's principal: its `oid`, or for a token accepted
        as it is a stable id that never shows the token."""
        entra = self.server.entra
        issued = entra.principal_of(token) if entra is not None else None
        if issued:
            return issued
        digest = hashlib.sha256(token.encode("utf-8")).hexdigest()
        return str(uuid.uuid5(uuid.NAMESPACE_URL, digest))

    @staticmethod
    def _json(body: bytes) -> JsonObject:
        try:
            parsed = json.loads(body or b"{}")
        except (ValueError, UnicodeDecodeError) as error:
            raise bad_request(f"the request body is not valid JSON: {error}") from None
        if not isinstance(parsed, dict):
            raise bad_request("the request body must be a JSON object")
        return parsed

    def _inject(self, fault: Fault | None) -> bool:
        """Apply a configured fault; True when it took the place of the answer."""
        if fault is None:
            return False
        self.server.counters.fault(fault.value)
        if fault is Fault.DROP:
            self.close_connection = True  # closed without a byte of response
        elif fault is Fault.RATE_LIMIT:
            delay = self.server.faults.retry_after
            self._send_error(
                rate_limited(delay),
                {"Retry-After": str(math.ceil(delay)), "retry-after-ms": str(round(delay * 1000))},
            )
        elif fault in (Fault.STALL, Fault.HANG):
            self.close_connection = True
            self._stall(drip=fault is Fault.STALL)
        elif fault is Fault.SERVER_ERROR:
            self._send_error(server_error("The server had an error while processing your request."))
        else:
            self._send_raw(200, _MALFORMED_BODY)
        return True

    def _send_error(self, error: ApiError, headers: Mapping[str, str] | None = None) -> None:
        """An error body that carries this call's request id, which the headers carry too."""
        if self.request_id is None:
            self.request_id, self.apim_request_id = self.server.next_request()
        self.own_error = error.body is None  # Foundry's envelope, with additionalInfo
        self._send_json(error.status, error.payload(self.request_id), headers)

    def _headers(self, status: int) -> dict[str, str]:
        """The headers a client reads, in the route's style (see RESPONSES_CONTENT_TYPE): the
        request id (openai's `request_id` is `x-request-id`; Azure's gateway adds its own
        `apim-request-id`), the service headers and, on responses calls, the rate-limit
        counters (a 429 has none left).

        On /responses an answer from the model run carries that run's id, a UUID, among the
        model's own headers (the recording's `openai-processing-ms`, `x-ratelimit-*`); an error
        the agent service raises itself carries its own 32-hex id, the one its body names in
        `additionalInfo.request_id`, as the conversation routes do. Assumed: no public record
        shows the headers of a Foundry error; this keeps the body and the header one id."""
        request_id = getattr(self, "request_id", None)
        if request_id is None:  # the admin route
            return {}
        headers = {
            "Content-Type": (
                RESPONSES_CONTENT_TYPE if self.on_responses else CONVERSATIONS_CONTENT_TYPE
            ),
            "X-Request-ID": (
                as_uuid(request_id) if self.on_responses and not self.own_error else request_id
            ),
            "apim-request-id": self.apim_request_id,
            **SERVICE_HEADERS,
        }
        if self.responses_call:
            used = self.server.tokens_used
            headers |= {
                "x-ratelimit-limit-requests": str(RATE_LIMIT_REQUESTS),
                "x-ratelimit-remaining-requests": str(
                    0 if status == 429 else RATE_LIMIT_REQUESTS - self.responses_call
                ),
                "x-ratelimit-limit-tokens": str(RATE_LIMIT_TOKENS),
                "x-ratelimit-remaining-tokens": str(
                    0 if status == 429 else max(RATE_LIMIT_TOKENS - used, 0)
                ),
            }
        return headers

    def _stall(self, *, drip: bool) -> None:
        """Headers then a byte at a time (drip), or nothing at all, until the client leaves."""
        if drip:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(1 << 20))  # a body that never completes
            self.end_headers()
        interval = self.server.faults.stall_interval if drip else 0.05
        while not self.server.stopping.is_set():
            try:
                if drip:
                    self.wfile.write(b" ")
                    self.wfile.flush()
                elif _peer_closed(self.connection):
                    return
            except OSError:
                return  # the client gave up
            self.server.stopping.wait(interval)

    def _send_json(
        self, status: int, payload: JsonObject, headers: Mapping[str, str] | None = None
    ) -> None:
        self._send_raw(status, payloads.dumps(payload), headers)

    def _send_raw(self, status: int, body: bytes, headers: Mapping[str, str] | None = None) -> None:
        self.send_response(status)
        headers = {
            "Content-Type": "application/json",
            **self._headers(status),
            **(headers or {}),
            **self.server.extra_headers,
        }
        self.send_header("Content-Type", headers.pop("Content-Type"))
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        if self.path != ADMIN_STATS_PATH:  # counted first: a client may read stats right after
            self.server.counters.status(status)
        self.wfile.write(body)


def _is_responses_path(path: str) -> bool:
    api = _API_PATH.match(path)
    return api is not None and api["rest"].startswith("/responses")


def _peer_closed(connection: socket.socket) -> bool:
    readable, _, _ = select.select([connection], [], [], 0)
    if not readable:
        return False
    try:
        return connection.recv(1, socket.MSG_PEEK) == b""
    except OSError:
        return True


class FoundryEmulator:
    """A local Foundry project on a background thread; a context manager.

    `FoundryEmulator(seed="demo", latency=0.1, faults=FaultConfig(rate_limit_every=3))`;
    `latency` (seconds), when given, overrides `faults.latency`. With `sign_in=True` it also
    runs an Entra ID stand-in over TLS (`authority_host`, `ca_bundle`, `service_principal`)
    whose tokens it accepts. `role_assigned=False`: the signed-in principal lacks the role
    that grants the agents data actions, so every call is Foundry's 401 `PermissionDenied`
    (a team's most common sign-in failure). `entra=` trusts a running stand-in instead,
    shared with other emulators and stopped by its owner (as the projects of one tenant trust
    one Entra ID): a token it issued works at each of them, so a client signs in once for all.
    """

    def __init__(
        self,
        seed: str = "demo",
        *,
        latency: float | None = None,
        faults: FaultConfig | None = None,
        project: str = "demo",
        host: str = "127.0.0.1",
        port: int = 0,
        agents: Mapping[str, AgentSpec] = AGENTS,
        sign_in: bool = False,
        entra: EntraStandIn | None = None,
        role_assigned: bool = True,
        response_headers: Mapping[str, str] | None = None,
        variation_seed: int | None = None,
        behaviour_change: BehaviourChange | None = None,
    ) -> None:
        faults = faults or FaultConfig()
        # Variation mode (a live-like agent, docs/emulator.md); None: deterministic goldens.
        self.variation = Variation(variation_seed) if variation_seed is not None else None
        self.behaviour_change = behaviour_change
        if latency is not None:
            faults = dataclasses.replace(faults, latency=latency)
        self.seed = seed
        self.faults = faults
        self.project_name = project
        self._address = (host, port)
        self._agents = agents
        # Sent with every response (tests: a header echoing a secret must not be recorded).
        self._response_headers = dict(response_headers or {})
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._final_stats: EmulatorStats | None = None
        if sign_in and entra is not None:
            raise ValueError("pass sign_in=True (a stand-in of its own) or entra=, not both")
        self._entra = EntraStandIn() if sign_in else entra
        self._owns_entra = sign_in  # a shared stand-in is started and stopped by its owner
        self._role_assigned = role_assigned

    def start(self) -> FoundryEmulator:
        if self._server is not None:
            raise RuntimeError("the emulator is already running")
        server = _Server(
            self._address,
            FoundryProject(self.seed, self._agents, self.variation, self.behaviour_change),
            self.project_name,
            self.faults,
        )
        server.extra_headers = self._response_headers
        server.entra = self._entra
        server.role_assigned = self._role_assigned
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_until_stopped, name="foundry-emulator", daemon=True
        )
        self._thread.start()
        if self._owns_entra and self._entra is not None:
            try:
                self._entra.start()
            except BaseException:
                self.stop()  # no half-started emulator left serving
                raise
        return self

    def stop(self) -> None:
        server, thread = self._server, self._thread
        if server is None:
            return
        self._server = self._thread = None
        server.stopping.set()
        server.stop_serving()
        if thread is not None:
            thread.join(timeout=10)
        server.close_open_connections()
        server.server_close()
        self._final_stats = self._with_sign_in(server.stats())
        if self._owns_entra and self._entra is not None:
            self._entra.stop()

    def __enter__(self) -> FoundryEmulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _running(self) -> _Server:
        if self._server is None:
            raise RuntimeError(
                "the emulator is not running: use it as a context manager or call start()"
            )
        return self._server

    @property
    def base_url(self) -> str:
        host, port = cast(tuple[str, int], self._running().server_address[:2])
        return f"http://{host}:{port}"

    @property
    def endpoint(self) -> str:
        """The project endpoint, as AZURE_AI_PROJECT_ENDPOINT takes it."""
        return f"{self.base_url}/api/projects/{self.project_name}"

    def accept_token(self, token: str) -> None:
        """Accept `token` as a bearer token from now on (tests: a token from elsewhere)."""
        self._running().accepted_tokens.add(token)

    def stats(self) -> EmulatorStats:
        """Counters so far; after `stop()`, the final ones."""
        if self._server is None and self._final_stats is not None:
            return self._final_stats
        return self._with_sign_in(self._running().stats())

    # --- the Entra ID stand-in (sign_in=True) ---

    def _signing_in(self) -> EntraStandIn:
        if self._entra is None:
            raise RuntimeError(
                "the emulator signs nobody in: create it with sign_in=True or entra="
            )
        self._running()
        return self._entra

    @property
    def authority_host(self) -> str:
        """What AZURE_AUTHORITY_HOST takes: `https://127.0.0.1:PORT`."""
        return self._signing_in().authority_host

    @property
    def ca_bundle(self) -> str:
        """Path of the PEM file with the throwaway CA that signed the stand-in's certificate."""
        return self._signing_in().ca_bundle

    @property
    def service_principal(self) -> ServicePrincipal:
        """The tenant, client id and secret the stand-in signs in."""
        return self._signing_in().service_principal

    def _with_sign_in(self, stats: EmulatorStats) -> EmulatorStats:
        # A shared stand-in's counts belong to the whole run: its owner reads them.
        if self._entra is None or not self._owns_entra:
            return stats
        return dataclasses.replace(stats, sign_in=self._entra.request_counts())


def _for_this_resource(claims: Mapping[str, Any] | None) -> bool:
    """A valid token is let in only for Foundry's audience: one Entra issued for another
    resource (`https://management.azure.com/.default`, say) gets the gateway's 401."""
    audience = claims.get("aud") if claims is not None else None
    return isinstance(audience, str) and audience.rstrip("/") in ACCEPTED_AUDIENCES
