"""A backstop for the recorder: end a block that outruns its deadline by raising in its thread.

The snippet enforces its own turn deadline by reading each response body in chunks. While
vcrpy records, though, vcrpy's transport stub reads the whole body itself before the snippet
sees the response, so a server dripping a byte every few seconds would hold the turn, and the
recorder, forever. `interrupt_after` raises `DeadlineInterrupt` in the blocked thread instead;
Python delivers it as soon as that thread runs bytecode again (the next byte, or its socket's
read timeout), the way it delivers Ctrl-C. Only the recorder uses it, never the snippet.
"""

from __future__ import annotations

import contextlib
import ctypes
import threading
import time
from collections.abc import Iterator

REPEAT_SECONDS = 1.0  # raised again while the block still runs (if something swallowed it)


class DeadlineInterrupt(Exception):
    """The block ran past its deadline; the message says which."""


def _raise_in(thread_id: int, exception: type[BaseException] | None) -> None:
    ctypes.pythonapi.PyThreadState_SetAsyncExc(
        ctypes.c_ulong(thread_id), ctypes.py_object(exception) if exception else None
    )


@contextlib.contextmanager
def interrupt_after(seconds: float, message: str) -> Iterator[None]:
    """Run the block; if it is still running after `seconds`, raise DeadlineInterrupt(message)."""
    thread_id = threading.get_ident()
    lock = threading.Lock()
    finished = threading.Event()
    fired = False

    def watch() -> None:
        nonlocal fired
        wait = seconds
        while not finished.wait(max(wait, 0)):
            with lock:
                if finished.is_set():
                    return
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
            raise DeadlineInterrupt(_late(message, started)) from exc
        raise
    if fired:
        raise DeadlineInterrupt(_late(message, started))


def _late(message: str, started: float) -> str:
    return f"{message} (stopped after {time.monotonic() - started:.1f} s)"
