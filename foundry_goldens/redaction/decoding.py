"""Decoded views of a text, so the redaction judges what a text says, not how it is written.

A secret reaches a cassette or a log in more forms than a list of encodings can name: a JSON
string inside a JSON string (a tool's output in a response body), escaped once more by a log
line; ``+`` written ``\\u002B`` (.NET's JSON writer); percent-encoded with lower-case hex
(``%2b``); base64 (``Authorization: Basic dXNlcjpzZWNyZXQ=``, a token in a cookie or a blob).
Each ``View`` is the text with one kind of encoding undone, and knows where each of its
characters came from, so what is found in a view is masked where it stands in the original text
(an escape sequence or a base64 blob is masked whole).

``views(text)`` yields them breadth first, each decoded again (JSON escapes in a URL-decoded
view, base64 in a JSON string...) up to ``MAX_DEPTH`` layers.
"""

from __future__ import annotations

import base64
import binascii
import re
from bisect import bisect_right
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

__all__ = ["MAX_DEPTH", "View", "decode_base64_text", "views"]

# JSON in a JSON string in a JSON body, escaped once more: 4; and a base64 blob inside.
MAX_DEPTH = 6
MAX_VIEWS = 256
# base64 of 8 bytes (the shortest secret) is 11 characters and a pad.
MIN_BASE64 = 11

# A decoded piece: (start, end) in the parent text and what it decodes to.
_Piece = tuple[int, int, str]


@dataclass
class View:
    """``text`` decoded from ``parent`` (None: the original text). ``how``: json, percent or
    base64. Character ``i`` of ``text`` comes from a segment of the parent: ``_starts`` are
    the segments' first decoded index; ``_segments`` (parent start, parent end, verbatim).
    Worked out only when asked (``_pieces``): most views hold nothing to find."""

    text: str
    parent: View | None = None
    how: str = "text"
    depth: int = 0
    _starts: tuple[int, ...] = field(default=(), repr=False)
    _segments: tuple[tuple[int, int, bool], ...] = field(default=(), repr=False)
    _pieces: Callable[[str], list[_Piece]] | None = field(default=None, repr=False)

    def span_in_parent(self, start: int, end: int) -> tuple[int, int]:
        """Where ``text[start:end]`` (not empty) was written in the parent: an escape sequence
        or blob that any of its characters came from is included whole."""
        if self._pieces is not None and self.parent is not None:
            self._starts, self._segments = _segments(self.parent.text, self._pieces)
            self._pieces = None
        first = bisect_right(self._starts, start) - 1
        parent_start, _, verbatim = self._segments[first]
        low = parent_start + (start - self._starts[first]) if verbatim else parent_start
        last = bisect_right(self._starts, end - 1) - 1
        parent_start, parent_end, verbatim = self._segments[last]
        high = parent_start + (end - self._starts[last]) if verbatim else parent_end
        return low, high

    def root_span(self, start: int, end: int) -> tuple[int, int]:
        """Where ``text[start:end]`` was written in the original text."""
        view: View = self
        while view.parent is not None:
            start, end = view.span_in_parent(start, max(end, start + 1))
            view = view.parent
        return start, end


def _segments(
    text: str, pieces: Callable[[str], list[_Piece]]
) -> tuple[tuple[int, ...], tuple[tuple[int, int, bool], ...]]:
    """The map from a decoded text to ``text``: where each segment starts in the decoded text,
    and (start, end, verbatim) in ``text``."""
    starts: list[int] = []
    segments: list[tuple[int, int, bool]] = []
    position = length = 0
    for start, end, decoded in pieces(text):
        if decoded == text[start:end]:
            continue
        if start > position:
            starts.append(length)
            segments.append((position, start, True))
            length += start - position
        if decoded:
            starts.append(length)
            segments.append((start, end, False))
            length += len(decoded)
        position = end
    starts.append(length)
    segments.append((position, len(text), True))
    return tuple(starts), tuple(segments)


def _decoded(parent: View, how: str, decode: Callable[[str], str], pieces: Any) -> View | None:
    text = decode(parent.text)
    if text == parent.text:
        return None
    return View(text, parent, how, parent.depth + 1, _pieces=pieces)


# -- JSON string escapes: \" \\ \/ \b \f \n \r \t \uXXXX (surrogate pairs joined) ------------

_JSON_ESCAPE = re.compile(
    r"\\(?:u([dD][89abAB][0-9a-fA-F]{2})\\u([dD][c-fC-F][0-9a-fA-F]{2})"
    r"|u([0-9a-fA-F]{4})|([\"\\/bfnrt]))"
)
_SIMPLE = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}


def _json_unescape(match: re.Match[str]) -> str:
    high, low, single, simple = match.groups()
    if high is not None:
        return chr(0x10000 + ((int(high, 16) - 0xD800) << 10) + (int(low, 16) - 0xDC00))
    if single is not None:
        code = int(single, 16)
        return "\ufffd" if 0xD800 <= code <= 0xDFFF else chr(code)
    return _SIMPLE[simple]


def _json_decode(text: str) -> str:
    return _JSON_ESCAPE.sub(_json_unescape, text)


def _json_pieces(text: str) -> list[_Piece]:
    return [(m.start(), m.end(), _json_unescape(m)) for m in _JSON_ESCAPE.finditer(text)]


# -- percent-encoding, any case; UTF-8 sequences decoded whole ------------------------------

_PERCENT_RUN = re.compile(r"(?:%[0-9A-Fa-f]{2})+")


def _percent_pieces(text: str) -> list[_Piece]:
    pieces: list[_Piece] = []
    for match in _PERCENT_RUN.finditer(text):
        data = bytes.fromhex(match.group().replace("%", ""))
        index = 0
        while index < len(data):
            lead = data[index]
            size = 2 if 0xC2 <= lead <= 0xDF else 3 if 0xE0 <= lead <= 0xEF else 1
            size = 4 if 0xF0 <= lead <= 0xF4 else size
            chunk = data[index : index + size]
            start = match.start() + 3 * index
            end = start + 3 * len(chunk)
            try:
                decoded = chunk.decode("utf-8")
            except UnicodeDecodeError:
                decoded, chunk = text[start : start + 3], chunk[:1]  # left as it is
                end = start + 3
            pieces.append((start, end, decoded))
            index += len(chunk)
    return pieces


def _percent_decode(text: str) -> str:
    pieces = _percent_pieces(text)
    out: list[str] = []
    position = 0
    for start, end, decoded in pieces:
        out += (text[position:start], decoded)
        position = end
    out.append(text[position:])
    return "".join(out)


# -- base64 blobs that decode to text ------------------------------------------------------

_B64 = "A-Za-z0-9+/_-"
# base64 of text holds an upper-case letter: words, hex ids and paths mostly do not, and are
# passed over by the pattern itself (its length, and a lower-case letter, are checked after).
_BASE64_BLOB = re.compile(rf"(?<![{_B64}])[a-z0-9+/_-]*[A-Z][{_B64}]*={{0,2}}(?![={_B64}])")


def decode_base64_text(blob: str) -> str | None:
    """``blob`` (standard or URL-safe base64, padded or not) decoded, if it is UTF-8 text
    (printable, or line breaks and tabs); else None."""
    body = blob.rstrip("=")
    if len(body) % 4 == 1 or (("-" in body or "_" in body) and ("+" in body or "/" in body)):
        return None
    padded = body + "=" * (-len(body) % 4)
    try:
        if "-" in body or "_" in body:
            data = base64.urlsafe_b64decode(padded)
        else:
            data = base64.b64decode(padded, validate=True)
        text = data.decode("utf-8")
    except (binascii.Error, ValueError):
        return None
    if not text or not all(c.isprintable() or c in "\r\n\t" for c in text):
        return None
    return text


def _base64_views(parent: View, decoded_blobs: dict[str, str | None]) -> Iterator[View]:
    for match in _BASE64_BLOB.finditer(parent.text):
        blob = match.group()
        if len(blob) < MIN_BASE64 or blob.isupper():
            continue
        if blob not in decoded_blobs:
            decoded_blobs[blob] = decode_base64_text(blob)
        decoded = decoded_blobs[blob]
        if decoded is not None:
            segments = ((match.start(), match.end(), False),)
            yield View(decoded, parent, "base64", parent.depth + 1, (0,), segments)


# -- all of them ---------------------------------------------------------------------------

_WHOLE_DECODERS: tuple[
    tuple[str, str, Callable[[str], str], Callable[[str], list[_Piece]]], ...
] = (
    ("json", "\\", _json_decode, _json_pieces),
    ("percent", "%", _percent_decode, _percent_pieces),
)


def views(text: str, *, base64_blobs: bool = True) -> Iterator[View]:
    """The decoded views of ``text`` (not ``text`` itself), breadth first: JSON-unescaped,
    percent-decoded and each base64 blob that decodes to text, each decoded again up to
    ``MAX_DEPTH`` layers and ``MAX_VIEWS`` views."""
    queue = [View(text)]
    seen = {text}
    seen_blobs: set[tuple[tuple[int, int], str]] = set()
    decoded_blobs: dict[str, str | None] = {}
    produced = 0
    while queue and produced < MAX_VIEWS:
        view = queue.pop(0)
        if view.depth >= MAX_DEPTH:
            continue
        children: list[View] = []
        for how, trigger, decode, pieces in _WHOLE_DECODERS:
            if trigger in view.text:
                child = _decoded(view, how, decode, pieces)
                if child is not None and child.text not in seen:
                    seen.add(child.text)  # a whole text decoded two ways to the same: once
                    children.append(child)
        if base64_blobs:
            for blob in _base64_views(view, decoded_blobs):  # each where it stands
                key = (blob.root_span(0, len(blob.text)), blob.text)
                if key not in seen_blobs:  # the same blob seen again in a decoded view
                    seen_blobs.add(key)
                    children.append(blob)
        for child in children:
            if produced >= MAX_VIEWS:
                break
            produced += 1
            yield child
            queue.append(child)
