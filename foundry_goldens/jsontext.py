"""JSON text for the files a reviewer reads (snapshots, cassettes) and the bodies replay serves.

The standard library's encoder drops to pure Python as soon as `indent` is set, and that would be a
sixth of a replayed turn's harness cost (the snapshot is rendered for every comparison). orjson
writes the same bytes as ``json.dumps(data, indent=2, ensure_ascii=False) + "\\n"`` for every
string and integer (tests/test_jsontext.py sweeps every code point and the shipped goldens);
floats are written in their shortest form too, except that an exponent is not padded
(``1e-7``, where json writes ``1e-07``). What orjson refuses (an integer beyond 64 bits, a key
that is not a string) is written by the standard library instead.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

_OPTIONS = orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE


def indented(data: Any) -> str:
    """Two-space indented JSON, keys in the order given, UTF-8 text as is, one final newline."""
    try:
        return orjson.dumps(data, option=_OPTIONS).decode("utf-8")
    except orjson.JSONEncodeError:
        return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def compact(data: Any) -> bytes:
    """JSON without spaces, as UTF-8 bytes: what replay serves for a body stored as JSON."""
    try:
        return orjson.dumps(data)
    except orjson.JSONEncodeError:
        return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


# Integers beyond 64 bits have at least 19 digits; orjson reads them as floats, losing digits.
_DIGITS_TO_NUL = bytes.maketrans(b"0123456789", b"\0" * 10)
_LONG_DIGIT_RUN = b"\0" * 19  # NUL never stands raw in JSON text, so only digits make this


def loads(text: str | bytes) -> Any:
    """Parse JSON text (or its UTF-8 bytes) as ``json.loads`` would, about three times faster
    for a cassette.

    orjson parses unless the text holds a run of 19 digits (a number orjson might not keep
    exactly: then the standard library parses) or orjson refuses it (NaN, say)."""
    data = text if isinstance(text, bytes) else text.encode("utf-8", "surrogatepass")
    if _LONG_DIGIT_RUN in data.translate(_DIGITS_TO_NUL):
        return json.loads(text)
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)
