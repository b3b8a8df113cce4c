"""Request and response bodies parsed once: matching compares each request with every recorded
one, and replay's own checks read the recorded requests too.

A cassette stores a JSON body as structure (cassettes/format.py) and hands vcrpy its compact
encoding; that structure is remembered here under those bytes, so reading a recorded body back
costs nothing (a compact encoding parses back to exactly the structure it was made from).
"""

from __future__ import annotations

import functools
import json
import threading
from typing import Any

# Enough for the largest cassette; remembering more would only keep old cassettes alive.
MAX_REMEMBERED = 4096

_remembered: dict[bytes, Any] = {}
_lock = threading.Lock()


def remember(body: bytes, parsed: Any) -> None:
    """`body` is the compact JSON encoding of `parsed` (read it, never change it)."""
    with _lock:
        if len(_remembered) >= MAX_REMEMBERED:
            _remembered.clear()
        _remembered[body] = parsed


def parse(body: bytes) -> Any:
    """The body as parsed JSON, else as text (bytes if not UTF-8); shared, never change it."""
    known = _remembered.get(body)
    return known if known is not None else _parse(body)


def forget() -> None:
    """Start over as a new process would (benchmarks time a fresh test session)."""
    with _lock:
        _remembered.clear()
    _parse.cache_clear()


@functools.lru_cache(maxsize=512)
def _parse(body: bytes) -> Any:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return body
    try:
        return json.loads(text)
    except ValueError:
        return text
