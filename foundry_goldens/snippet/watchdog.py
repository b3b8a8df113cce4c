"""A backstop for the recorder: end a block that outruns its deadline by raising in its thread.

The snippet enforces its own turn deadline by reading each response body in chunks. While
vcrpy records, though, vcrpy's transport stub reads the whole body itself before the snippet
sees the response, so a server dripping a byte every few seconds would hold the turn, and the
recorder, forever. `interrupt_after` raises `DeadlineInterrupt` in the blocked thread instead;
Python delivers it as soon as that thread runs bytecode again (the next byte, or its socket's
read timeout), the way it delivers Ctrl-C. Only the recorder uses it, never the snippet.

A thread blocked in a socket call runs no bytecode until the call returns, and some calls
never do in time: the credential's token request (azure-identity -> requests, a 300 s read
timeout, retried) to an authority that accepts the connection and never answers. So when the
interrupt has not landed a second after the deadline, the watchdog also shuts down the socket
the thread is blocked on (found in the thread's frames within the block, nowhere else); the
call returns, and the interrupt lands. The message then names the peer that did not answer.
"""

from __future__ import annotations

import contextlib
import ctypes
import socket
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from types import FrameType

REPEAT_SECONDS = 1.0  # raised again while the block still runs (if something swallowed it)


class DeadlineInterrupt(Exception):
    """The block ran past its deadline; the message says which."""


def _raise_in(thread_id: int, exception: type[BaseException] | None) -> None:
    ctypes.pythonapi.PyThreadState_SetAsyncExc(
        ctypes.c_ulong(thread_id), ctypes.py_object(exception) if exception else None
    )


MAX_FRAMES_SEARCHED = 64  # from the innermost frame outwards, never past the block's own


def _sockets_in(frame: FrameType) -> list[socket.socket]:
    found: list[socket.socket] = []
    for value in list(frame.f_locals.values()):
        if isinstance(value, socket.SocketIO):  # http.client reads through one
            value = getattr(value, "_sock", None)
        if isinstance(value, socket.socket) and value not in found:
            found.append(value)
    return found


def _cut_blocking_socket(thread_id: int, boundary: FrameType | None) -> list[str]:
    """Shut down the socket(s) of the innermost frame of `thread_id` that holds any, searching
    only the block's frames: those called within it, and `boundary` (the frame of the `with`
    statement), never its callers; the peers cut, as text."""
    frame = sys._current_frames().get(thread_id)
    for _ in range(MAX_FRAMES_SEARCHED):
        if frame is None:
            return []
        sockets = _sockets_in(frame)
        if sockets:
            break
        if frame is boundary:
            return []
        frame = frame.f_back
    else:
        return []
    peers: list[str] = []
    for sock in sockets:
        try:
            host, port = sock.getpeername()[:2]
            peers.append(f"{host}:{port}")
        except (OSError, ValueError, TypeError):
            peers.append("a server that had not accepted the connection")
        with contextlib.suppress(OSError):
            # The plain socket's shutdown, not SSLSocket's (which also drops its TLS state,
            # while the blocked call is still using it): the blocked call returns.
            socket.socket.shutdown(sock, socket.SHUT_RDWR)
    return peers


@contextlib.contextmanager
def interrupt_after(seconds: float, message: str) -> Iterator[None]:
    """Run the block; if it is still running after `seconds`, raise DeadlineInterrupt(message).

    A second later, still running (blocked in a socket call), its socket is shut down."""
    thread_id = threading.get_ident()
    # The frame of the `with` statement: frames inside it are the block's (0: this generator,
    # 1: contextlib's __enter__).
    boundary: FrameType | None = sys._getframe(2) if hasattr(sys, "_getframe") else None
    lock = threading.Lock()
    finished = threading.Event()
    fired = False
    cut: list[str] = []

    def watch() -> None:
        nonlocal fired
        wait = seconds
        while not finished.wait(max(wait, 0)):
            with lock:
                if finished.is_set():
                    return
                if fired:  # raised a second ago and not landed: blocked outside bytecode
                    for peer in _cut_blocking_socket(thread_id, boundary):
                        if peer not in cut:
                            cut.append(peer)
                fired = True
                _raise_in(thread_id, DeadlineInterrupt)
            wait = REPEAT_SECONDS

    watcher = threading.Thread(target=watch, name="deadline-watchdog", daemon=True)
    started = time.monotonic()
    watcher.start()
    try:
        try:
            yield
        finally:
            while True:  # an interrupt may land in here too: retry until the watch is over
                try:
                    with lock:
                        finished.set()
                        if fired:
                            _raise_in(thread_id, None)  # clear one still pending
                    break
                except DeadlineInterrupt:
                    fired = True
            watcher.join()
    except DeadlineInterrupt:
        fired = True
    except Exception as exc:
        if fired:  # something turned the interrupt into its own error
            raise DeadlineInterrupt(_late(message, started, cut)) from exc
        raise
    if fired:
        raise DeadlineInterrupt(_late(message, started, cut))


def _late(message: str, started: float, cut: Sequence[str] = ()) -> str:
    stopped = f"stopped after {time.monotonic() - started:.1f} s"
    if cut:
        stopped += f"; no answer from {', '.join(cut)}: the connection was cut"
    return f"{message} ({stopped})"
