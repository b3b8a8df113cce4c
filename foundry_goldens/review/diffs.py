"""The two low-level diffs: structural (deepdiff, for JSON values) and inline words (difflib)."""

from __future__ import annotations

import json
import re
from difflib import SequenceMatcher
from typing import Any

from deepdiff import DeepDiff
from deepdiff.helper import notpresent

from foundry_goldens.review.report import FieldChange, Segment

_ADDED = {"dictionary_item_added", "iterable_item_added", "set_item_added", "attribute_added"}
_REMOVED = {
    "dictionary_item_removed",
    "iterable_item_removed",
    "set_item_removed",
    "attribute_removed",
}


def field_changes(old: Any, new: Any) -> list[FieldChange]:
    """Leaf-level changes from `old` to `new`, in a stable order (by path, then kind)."""
    diff = DeepDiff(old, new, view="tree", ignore_numeric_type_changes=True, verbose_level=2)
    changes: list[FieldChange] = []
    for report_type, levels in diff.items():
        for level in levels:
            path = _path(level.path(output_format="list"))
            if report_type in _ADDED:
                changes.append(FieldChange(path=path, change="added", new=level.t2))
            elif report_type in _REMOVED:
                changes.append(FieldChange(path=path, change="removed", old=level.t1))
            else:  # values_changed, type_changes, repetition_change
                changes.append(
                    FieldChange(
                        path=path,
                        change="changed",
                        old=None if level.t1 is notpresent else level.t1,
                        new=None if level.t2 is notpresent else level.t2,
                    )
                )
    return sorted(changes, key=lambda c: (c.path, c.change))


def _path(parts: list[Any]) -> str:
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


def parse_json(text: str | None) -> tuple[bool, Any]:
    """(True, value) when `text` is JSON, else (False, text): tool arguments/outputs are strings."""
    if text is None:
        return True, None
    try:
        return True, json.loads(text)
    except (TypeError, ValueError):
        return False, text


_TOKENS = re.compile(r"\s+|\S+")


def word_diff(old: str, new: str) -> list[Segment]:
    """Inline word diff. Whitespace between two changed words joins them into one change, so
    "is shipped" -> "was delivered" reads ~~is shipped~~ **was delivered**, not word by word."""
    a, b = _TOKENS.findall(old), _TOKENS.findall(new)
    raw: list[tuple[str, str, str]] = []  # (op, old text, new text)
    for opcode, i1, i2, j1, j2 in SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        raw.append((opcode, "".join(a[i1:i2]), "".join(b[j1:j2])))
    segments: list[Segment] = []
    deleted, inserted = "", ""
    for index, (tag, old_text, new_text) in enumerate(raw):
        glue = (
            tag == "equal"
            and not old_text.strip()
            and 0 < index < len(raw) - 1
            and raw[index - 1][0] != "equal"
            and raw[index + 1][0] != "equal"
        )
        if tag == "equal" and not glue:
            segments.extend(_flush(deleted, inserted))
            deleted, inserted = "", ""
            segments.append(Segment(op="equal", text=old_text))
        else:
            deleted += old_text
            inserted += new_text
    segments.extend(_flush(deleted, inserted))
    return segments


def _flush(deleted: str, inserted: str) -> list[Segment]:
    out = []
    if deleted:
        out.append(Segment(op="delete", text=deleted))
    if inserted:
        out.append(Segment(op="insert", text=inserted))
    return out


def elide(segments: list[Segment], context_words: int = 6) -> list[Segment]:
    """Keep `context_words` unchanged words around each change; the rest becomes one `elided`."""
    out: list[Segment] = []
    for index, segment in enumerate(segments):
        if segment.op != "equal":
            out.append(segment)
            continue
        tokens = _TOKENS.findall(segment.text)
        words = [i for i, t in enumerate(tokens) if t.strip()]
        keep_head = context_words if index > 0 else 0
        keep_tail = context_words if index < len(segments) - 1 else 0
        if len(words) <= keep_head + keep_tail + 2:
            out.append(segment)
            continue
        head_end = words[keep_head - 1] + 1 if keep_head else 0
        tail_start = words[len(words) - keep_tail] if keep_tail else len(tokens)
        if head_end:
            out.append(Segment(op="equal", text="".join(tokens[:head_end]) + " "))
        out.append(Segment(op="elided", text="…"))
        if tail_start < len(tokens):
            out.append(Segment(op="equal", text=" " + "".join(tokens[tail_start:])))
    return out


def shorten(value: Any, limit: int = 80) -> str:
    """A value as compact JSON (strings quoted), cut to `limit` characters."""
    text = json.dumps(value, ensure_ascii=False, separators=(", ", ": "))
    return text if len(text) <= limit else text[: limit - 1] + "…"
