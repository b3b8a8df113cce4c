"""Per-turn, field-level differences between two snapshots of one dialogue (deepdiff), and the
word diff the failure messages show.

Values are never cut: a change late in a long reply must be visible in a failure message.
"""

from __future__ import annotations

from typing import Any

from deepdiff import DeepDiff

from foundry_goldens.review.diffs import word_diff


def _short(value: Any) -> str:
    return repr(value)


def text_word_diff(old: str, new: str) -> str:
    """The whole text with its changes marked as git's --word-diff does: [-old-]{+new+}."""
    out = []
    for segment in word_diff(old, new):
        if segment.op == "delete":
            out.append(f"[-{segment.text}-]")
        elif segment.op == "insert":
            out.append(f"{{+{segment.text}+}}")
        else:
            out.append(segment.text)
    return "".join(out)


def _turn_differences(number: int, old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    diff = DeepDiff(old, new, verbose_level=2)
    lines: list[str] = []
    for change, entries in diff.items():
        for path, detail in entries.items():
            where = path.replace("root", f"turn {number}", 1)
            if change == "values_changed" or change == "type_changes":
                lines.append(
                    f"{where}: {_short(detail.get('old_value'))} -> "
                    f"{_short(detail.get('new_value'))}"
                )
            elif "added" in change:
                lines.append(f"{where}: added {_short(detail)}")
            elif "removed" in change:
                lines.append(f"{where}: removed {_short(detail)}")
            else:
                lines.append(f"{where}: {change}")
    return lines


def compare_snapshots(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Human-readable lines, one per difference, each naming its turn; empty when equal."""
    old_turns, new_turns = old.get("turns", []), new.get("turns", [])
    lines: list[str] = []
    if len(old_turns) != len(new_turns):
        lines.append(f"turn count: {len(old_turns)} -> {len(new_turns)}")
    for number, (before, after) in enumerate(zip(old_turns, new_turns, strict=False), start=1):
        lines.extend(_turn_differences(number, before, after))
    return lines
