"""The threaded HTTP/1.1 server both stand-ins run on (Foundry's API and Entra ID's sign-in).

Keep-alive connections stay open between requests, so a handler thread can sit waiting on an
idle one; `close_open_connections` shuts those sockets so `server_close` does not wait for them.
"""

from __future__ import annotations

import contextlib
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
        super().__init__(address, handler)

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
