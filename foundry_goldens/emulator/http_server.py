"""The threaded HTTP/1.1 server both stand-ins run on (Foundry's API and Entra ID's sign-in).

Keep-alive connections stay open between requests, so a handler thread can sit waiting on an
idle one; `close_open_connections` shuts those sockets so `server_close` does not wait for them.

The accept loop sleeps until a connection arrives or `stop_serving` wakes it. socketserver's
`serve_forever` polls instead, and `shutdown` waits for the next poll: with a 5 ms poll (so that
stopping is quick), the two servers of each dialogue recorded at concurrency 15 would wake 6,000
times a second, each time taking the interpreter lock from the recording threads.
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class ConnectionTrackingServer(ThreadingHTTPServer):
    daemon_threads = False  # handler threads are joined on close
    block_on_close = True

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler]) -> None:
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        self._stop_requested = threading.Event()
        self._wake_reader, self._wake_writer = socket.socketpair()
        super().__init__(address, handler)

    def serve_until_stopped(self) -> None:
        """Accept connections until `stop_serving` (run it on a thread of its own)."""
        with selectors.DefaultSelector() as selector:
            selector.register(self, selectors.EVENT_READ)
            selector.register(self._wake_reader, selectors.EVENT_READ)
            while not self._stop_requested.is_set():
                for key, _ in selector.select():
                    if key.fileobj is self and not self._stop_requested.is_set():
                        # serve_forever's own step: accept, verify, process (not in typeshed).
                        self._handle_request_noblock()  # type: ignore[attr-defined]

    def stop_serving(self) -> None:
        """End `serve_until_stopped` at once; join its thread before `server_close`."""
        self._stop_requested.set()
        with contextlib.suppress(OSError):
            self._wake_writer.send(b"\0")

    def server_close(self) -> None:
        super().server_close()
        self._wake_reader.close()
        self._wake_writer.close()

    def connection_accepted(self) -> None:
        """Called for every new TCP connection (the Foundry emulator counts them)."""

    def process_request(self, request: Any, client_address: Any) -> None:
        self.connection_accepted()
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
