"""One classifier for golden changes: behaviour, wording or usage.

A live agent rewords its replies on every run, its token counts move and its parallel tool calls
come back in another order; none of that is a regression. What is:

- **behaviour**: a tool called or no longer called, its arguments, its status, the order of tools
  the dialogue says must be called in order (`calls_in_order`), an error, a refusal, the turn
  count, the conversation not kept, a broken expectation;
- **wording**: the reply's text only (with a word-level similarity, 1.0 = the same words);
- **usage**: a token count moved beyond the threshold;
- **other**: information only (a tool's output data, parallel calls in another order, ids).

Used by `foundry-goldens record --check`, the replay failure message, `foundry-goldens diff` and
the PR comment, so a change is named the same everywhere.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from difflib import SequenceMatcher
from typing import Any, Literal

from pydantic import BaseModel, Field

from foundry_goldens.goldens.refusals import is_refusal
from foundry_goldens.review.report import (
    ErrorChanged,
    ExpectationBroken,
    ExpectChanged,
    ReplyChanged,
    ScriptSettingsChanged,
    ToolArgumentsChanged,
    ToolCallAdded,
    ToolCallRemoved,
    ToolOrderChanged,
    ToolOutputChanged,
    ToolStatusChanged,
    TraceChanged,
    TurnCountChanged,
    UsageChanged,
    UserChanged,
)

Category = Literal["behaviour", "wording", "usage", "other"]
CATEGORIES: tuple[Category, ...] = ("behaviour", "wording", "usage", "other")
DEFAULT_USAGE_THRESHOLD_PERCENT = 10.0

# Items a turn may gain or lose without the agent doing anything else: its thinking.
WORDING_ITEMS = frozenset({"reasoning"})


def word_similarity(old: str, new: str) -> float:
    """How much of the words two texts share, 0..1 (difflib's ratio over words)."""
    if old == new:
        return 1.0
    return round(SequenceMatcher(None, old.split(), new.split(), autojunk=False).ratio(), 3)


def _order_matters(change: ToolOrderChanged, ordered_tools: Sequence[str]) -> bool:
    """Did the relative order of the tools the dialogue orders change?"""
    wanted = set(ordered_tools)

    def names(labels: list[str]) -> list[str]:
        return [label for label in labels if label.rsplit(" #", 1)[0] in wanted]

    return names(change.old) != names(change.new)


def categorize(change: Any, ordered_tools: Sequence[str] = ()) -> Category:
    """The category of one golden-diff change (foundry_goldens.review.report)."""
    if isinstance(
        change,
        ToolCallAdded
        | ToolCallRemoved
        | ToolArgumentsChanged
        | ToolStatusChanged
        | ErrorChanged
        | ExpectationBroken
        | TurnCountChanged
        | UserChanged
        | ExpectChanged,
    ):
        return "behaviour"
    if isinstance(change, ToolOrderChanged):
        return "behaviour" if _order_matters(change, ordered_tools) else "other"
    if isinstance(change, ReplyChanged):
        return "behaviour" if is_refusal(change.old) != is_refusal(change.new) else "wording"
    if isinstance(change, UsageChanged):
        return "usage"
    if isinstance(change, ScriptSettingsChanged):
        return "behaviour" if any(f.path == "agent" for f in change.fields) else "other"
    if isinstance(change, ToolOutputChanged):
        return "other"
    if isinstance(change, TraceChanged):
        return _trace_category(change)
    return "other"


def _trace_category(change: TraceChanged) -> Category:
    subject = change.subject
    paths = [f.path for f in change.fields]
    if any(p.endswith(("conversation_id", "status", "role", "code")) for p in paths):
        return "behaviour"
    if subject.startswith("message "):
        # A whole message more or less: the same words split differently.
        return "wording" if "" in paths else "other"
    kind = subject.rsplit(" ", 1)[0]
    if kind in WORDING_ITEMS or subject == "error":
        return "wording"
    if "" in paths and not subject.endswith(" call"):
        return "behaviour"  # an item the turn did not have: a search, an approval request
    return "other"


# --- classified results ----------------------------------------------------------------------


class ClassifiedChange(BaseModel):
    turn: int | None  # None: the dialogue as a whole
    category: Category
    kind: str
    summary: str  # one line, for a log or a table cell
    similarity: float | None = None  # wording: how much of the reply stayed
    old: str | None = None  # wording: the whole old and new reply, for a word diff
    new: str | None = None


class DialogueClassification(BaseModel):
    dialogue: str
    changes: list[ClassifiedChange] = Field(default_factory=list)

    def of(self, category: Category) -> list[ClassifiedChange]:
        return [c for c in self.changes if c.category == category]

    @property
    def has_behaviour_change(self) -> bool:
        return bool(self.of("behaviour"))

    @property
    def changed(self) -> bool:
        return bool(self.changes)

    @property
    def similarity(self) -> float | None:
        """The lowest reply similarity of any reworded turn (None: no wording change)."""
        values = [c.similarity for c in self.of("wording") if c.similarity is not None]
        return min(values) if values else None

    @property
    def headline(self) -> str:
        """`behaviour` if any, else the most telling category, else `unchanged`."""
        for category in CATEGORIES:
            if self.of(category):
                return category
        return "unchanged"


def summarize(change: Any) -> str:
    """One line saying what changed, for any golden-diff change."""
    if isinstance(change, ToolCallAdded):
        return f"{change.tool} is now called (arguments {_compact(change.arguments)})"
    if isinstance(change, ToolCallRemoved):
        return f"{change.tool} is no longer called (was {_compact(change.arguments)})"
    if isinstance(change, ToolArgumentsChanged):
        fields = ", ".join(
            f"{f.path or 'arguments'}: {_compact(f.old)} -> {_compact(f.new)}"
            for f in change.fields
        )
        return f"{change.tool} #{change.occurrence} arguments changed: {fields}"
    if isinstance(change, ToolStatusChanged):
        return (
            f"{change.tool} #{change.occurrence} {change.item} status {change.old} -> {change.new}"
        )
    if isinstance(change, ToolOrderChanged):
        return f"tool order {', '.join(change.old)} -> {', '.join(change.new)}"
    if isinstance(change, ToolOutputChanged):
        return f"{change.tool} #{change.occurrence} output changed"
    if isinstance(change, ReplyChanged):
        if is_refusal(change.new) and not is_refusal(change.old):
            return f"the reply is now a refusal: {change.new!r}"
        if is_refusal(change.old) and not is_refusal(change.new):
            return "the reply is no longer a refusal"
        return f"reply reworded (similarity {word_similarity(change.old, change.new):.2f})"
    if isinstance(change, UsageChanged):
        percent = f" ({change.change_percent:+g}%)" if change.change_percent is not None else ""
        return f"usage {change.field} {change.old} -> {change.new}{percent}"
    if isinstance(change, ErrorChanged):
        return f"error {_error_text(change.old)} -> {_error_text(change.new)}"
    if isinstance(change, TurnCountChanged):
        return f"turn count {change.old} -> {change.new}"
    if isinstance(change, UserChanged):
        return f"the user's text changed: {change.old!r} -> {change.new!r}"
    if isinstance(change, ExpectChanged):
        return "the turn's expect: block changed"
    if isinstance(change, ExpectationBroken):
        return f"expectation broken: {change.message}"
    if isinstance(change, ScriptSettingsChanged):
        return "dialogue settings changed: " + ", ".join(f.path for f in change.fields)
    if isinstance(change, TraceChanged):
        fields = ", ".join(
            f"{f.path or '(whole item)'} {f.change}" + (f" {_compact(f.new)}" if f.path else "")
            for f in change.fields
        )
        return f"{change.subject}: {fields}"
    return str(getattr(change, "kind", "change"))


def _compact(value: Any, limit: int = 120) -> str:
    import json

    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _error_text(error: Mapping[str, Any] | None) -> str:
    if not error:
        return "none"
    return f"{error.get('type')}({error.get('code')})"


def classify_changes(
    turn: int | None, changes: Iterable[Any], ordered_tools: Sequence[str] = ()
) -> list[ClassifiedChange]:
    classified = []
    for change in changes:
        category = categorize(change, ordered_tools)
        similarity = old = new = None
        if isinstance(change, ReplyChanged) and category == "wording":
            similarity = word_similarity(change.old, change.new)
            old, new = change.old, change.new
        classified.append(
            ClassifiedChange(
                turn=turn,
                category=category,
                kind=change.kind,
                summary=summarize(change),
                similarity=similarity,
                old=old,
                new=new,
            )
        )
    return classified


def broken_expectations(
    dialogue: Any, turns: Sequence[Mapping[str, Any]]
) -> list[ClassifiedChange]:
    """The dialogue's `expect` entries that a snapshot's turns break, as behaviour changes."""
    from foundry_goldens.goldens.expectations import evaluate, facts_from_snapshot_turn

    broken = []
    for index, turn in enumerate(turns):
        if index >= len(dialogue.turns):
            break
        try:
            facts = facts_from_snapshot_turn(turn)
        except ValueError as exc:  # pydantic's ValidationError included
            first = str(exc).splitlines()[0]
            broken.append(
                ClassifiedChange(
                    turn=index + 1,
                    category="behaviour",
                    kind="expectation_broken",
                    summary=f"the output no longer parses as AI GO! reads it: {first}",
                )
            )
            continue
        for failure in evaluate(dialogue.turns[index], facts):
            broken.append(
                ClassifiedChange(
                    turn=index + 1,
                    category="behaviour",
                    kind="expectation_broken",
                    summary=f"expectation broken: {failure}",
                )
            )
    return broken
