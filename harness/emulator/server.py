"""The HTTP side: a threaded HTTP/1.1 (keep-alive) server, routing, faults and counters.

`FoundryEmulator` runs it on a background thread; `python -m harness.emulator` in the foreground.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import math
import re
import select
import socket
import threading
import time
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, cast
from urllib.parse import parse_qsl, urlsplit

from harness.credentials import STATIC_TEST_TOKEN
from harness.emulator import payloads
from harness.emulator.agents import AGENTS
from harness.emulator.engine import AgentSpec, JsonObject
from harness.emulator.faults import Fault, FaultConfig
from harness.emulator.project import ApiError, FoundryProject, bad_request, not_found
from harness.emulator.stats import EmulatorStats, StatsRecorder

log = logging.getLogger("harness.emulator")

ADMIN_STATS_PATH = "/_emulator/stats"
# `{endpoint}/openai/v1/…` as azure-ai-projects builds it; also `/openai/…?api-version=…`.
_API_PATH = re.compile(r"^(?:/api/projects/(?P<project>[^/]+))?/openai(?:/v1)?(?P<rest>/.*)$")
_MALFORMED_BODY = b'{"id":"resp_malformed","object":"response","output":[{"type":"mess'

Operation = Callable[[FoundryProject, Mapping[str, str], Mapping[str, str], Any], JsonObject]


@dataclasses.dataclass(frozen=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    name: str  # the key requests are counted under
    operation: Operation


ROUTES: tuple[Route, ...] = (
    Route("POST", re.compile(r"^/conversations$"), "POST /conversations",
          lambda project, params, query, body: project.create_conversation(body)),
    Route("GET", re.compile(r"^/conversations/(?P<id>[^/]+)$"), "GET /conversations/{id}",
          lambda project, params, query, body: project.get_conversation(params["id"])),
    Route("GET", re.compile(r"^/conversations/(?P<id>[^/]+)/items$"),
          "GET /conversations/{id}/items",
          lambda project, params, query, body: project.list_items(params["id"], query)),
    Route("POST", re.compile(r"^/responses$"), "POST /responses",
          lambda project, params, query, body: project.create_response(body)),
    Route("GET", re.compile(r"^/responses/(?P<id>[^/]+)$"), "GET /responses/{id}",
          lambda project, params, query, body: project.get_response(params["id"])),
)  # fmt: skip


class _Server(ThreadingHTTPServer):
    daemon_threads = False  # handler threads are joined on close
    block_on_close = True

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
        # Bearer tokens this project accepts: the harness's static test token, plus every
        # token the emulator's own Entra ID stand-in issues (see `FoundryEmulator.accept_token`).
        self.accepted_tokens: set[str] = {STATIC_TEST_TOKEN}
        self.stopping = threading.Event()  # ends stalled and hung fault answers
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        self.counters.connection()
        with self._open_lock:
            self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def close_open_connections(self) -> None:
        """Unblock handler threads waiting on idle keep-alive connections."""
        with self._open_lock:
            sockets = list(self._open)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def stats(self) -> EmulatorStats:
        return self.counters.snapshot(self.project.conversation_count)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, so connection reuse shows in the counters
    # Headers and body go out in two writes; with Nagle on, the body waits for the client's
    # delayed ACK (~40 ms) on every reused connection, which hid the value of client reuse.
    disable_nagle_algorithm = True
    timeout = 30  # an idle keep-alive connection is closed after this many seconds
    server: _Server

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
        route, params = self._route(url.path)
        call = self.server.counters.request(route.name if route else "unrouted")
        faults = self.server.faults
        if faults.latency:
            time.sleep(faults.latency)
        try:
            if (
                route is not None
                and route.name == "POST /responses"
                and self._inject(faults.fault_for(call))
            ):
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
            self._send_json(error.status, error.payload())
            return
        except Exception as error:  # a bug in the emulator, not a Foundry behaviour
            log.exception("emulator failed on %s %s", self.command, self.path)
            self._send_json(
                500, payloads.error("server_error", f"emulator bug: {error!r}", type="server_error")
            )
            return
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
        scheme, _, token = self.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise ApiError(
                401,
                "unauthorized",
                "Access denied due to missing or invalid authentication: "
                "send `Authorization: Bearer <token>`.",
                type="authentication_error",
            )

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
            self._send_json(
                429,
                payloads.error(
                    "rate_limit_exceeded",
                    "Rate limit is exceeded. Try again later.",
                    type="rate_limit_error",
                ),
                {"Retry-After": str(math.ceil(delay)), "retry-after-ms": str(round(delay * 1000))},
            )
        elif fault in (Fault.STALL, Fault.HANG):
            self.close_connection = True
            self._stall(drip=fault is Fault.STALL)
        elif fault is Fault.SERVER_ERROR:
            self._send_json(
                500,
                payloads.error(
                    "server_error",
                    "The server had an error processing your request.",
                    type="server_error",
                ),
            )
        else:
            self._send_raw(200, _MALFORMED_BODY)
        return True

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
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)
        if self.path != ADMIN_STATS_PATH:
            self.server.counters.status(status)


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
    `latency` (seconds), when given, overrides `faults.latency`.
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
    ) -> None:
        faults = faults or FaultConfig()
        if latency is not None:
            faults = dataclasses.replace(faults, latency=latency)
        self.seed = seed
        self.faults = faults
        self.project_name = project
        self._address = (host, port)
        self._agents = agents
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._final_stats: EmulatorStats | None = None

    def start(self) -> FoundryEmulator:
        if self._server is not None:
            raise RuntimeError("the emulator is already running")
        server = _Server(
            self._address, FoundryProject(self.seed, self._agents), self.project_name, self.faults
        )
        self._server = server
        self._thread = threading.Thread(
            # A short poll interval: stop() waits for the loop to notice, and tests start many.
            target=server.serve_forever,
            args=(0.005,),
            name="foundry-emulator",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, thread = self._server, self._thread
        if server is None:
            return
        self._server = self._thread = None
        server.stopping.set()
        server.shutdown()
        server.close_open_connections()
        server.server_close()
        self._final_stats = server.stats()
        if thread is not None:
            thread.join(timeout=10)

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
        """Accept `token` as a bearer token from now on (an Entra ID sign-in issued it)."""
        self._running().accepted_tokens.add(token)

    def stats(self) -> EmulatorStats:
        """Counters so far; after `stop()`, the final ones."""
        if self._server is None and self._final_stats is not None:
            return self._final_stats
        return self._running().stats()
