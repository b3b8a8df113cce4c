"""The golden diff report: pydantic types that both renderers read and `--format json` dumps.

The JSON schema is `GoldenDiffReport.model_json_schema()` (docs/golden-review.md shows it in
short). `schema_version` goes up when a field is renamed or removed; new optional fields and new
change kinds do not bump it, so consumers should ignore kinds they do not know.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

SCHEMA_VERSION = 1


class FieldChange(BaseModel):
    """One leaf of a structural (deepdiff) comparison. `path` is like `items[0].sku`; "" is the
    whole value."""

    path: str
    change: Literal["added", "removed", "changed"]
    old: Any = None
    new: Any = None


class Segment(BaseModel):
    """A piece of an inline word diff; `elided` stands for unchanged text left out."""

    op: Literal["equal", "delete", "insert", "elided"]
    text: str


# -- changes within a turn ------------------------------------------------------------------------

Category = Literal["behaviour", "wording", "usage", "other"]


class Change(BaseModel):
    """Every change carries its class (review/classify.py): behaviour, wording, usage or other
    (information only). Set by compare; None only in hand-built reports."""

    category: Category | None = None


class ToolCallAdded(Change):
    kind: Literal["tool_call_added"] = "tool_call_added"
    tool: str
    occurrence: int
    arguments: Any = None  # parsed JSON when the arguments are JSON, else the raw string
    output: Any = None


class ToolCallRemoved(Change):
    kind: Literal["tool_call_removed"] = "tool_call_removed"
    tool: str
    occurrence: int
    arguments: Any = None
    output: Any = None


class ToolOrderChanged(Change):
    """The same calls, made in another order (only calls present on both sides)."""

    kind: Literal["tool_order_changed"] = "tool_order_changed"
    old: list[str]
    new: list[str]


class ToolArgumentsChanged(Change):
    kind: Literal["tool_arguments_changed"] = "tool_arguments_changed"
    tool: str
    occurrence: int
    fields: list[FieldChange]


class ToolOutputChanged(Change):
    """`format` json: field-level `fields`; text: a shortened word diff in `text_diff`."""

    kind: Literal["tool_output_changed"] = "tool_output_changed"
    tool: str
    occurrence: int
    format: Literal["json", "text"]
    fields: list[FieldChange] = []
    text_diff: list[Segment] = []


class ToolStatusChanged(Change):
    kind: Literal["tool_status_changed"] = "tool_status_changed"
    tool: str
    occurrence: int
    item: Literal["call", "output"]
    old: str | None
    new: str | None


class ReplyChanged(Change):
    kind: Literal["reply_changed"] = "reply_changed"
    old: str
    new: str
    word_diff: list[Segment]


class UsageChanged(Change):
    """A token count moved by more than the threshold; `change_percent` None: from 0 or missing."""

    kind: Literal["usage_changed"] = "usage_changed"
    field: str
    old: int | float | None
    new: int | float | None
    change_percent: float | None


class UserChanged(Change):
    kind: Literal["user_changed"] = "user_changed"
    old: str | None
    new: str | None
    word_diff: list[Segment]


class ErrorChanged(Change):
    """The turn's error (a turn that fails as its dialogue expects): appeared, went or changed
    its type or code. `old`/`new`: {type, code, message} or None (the turn replied)."""

    kind: Literal["error_changed"] = "error_changed"
    old: dict[str, Any] | None
    new: dict[str, Any] | None


class ExpectationBroken(Change):
    """The head's snapshot breaks an `expect` entry of the head's script that the base's
    snapshot kept (checked as the replay tests check it)."""

    kind: Literal["expectation_broken"] = "expectation_broken"
    message: str


class ExpectChanged(Change):
    """The turn's `expect:` block in the dialogue script changed."""

    kind: Literal["expect_changed"] = "expect_changed"
    fields: list[FieldChange]


class TraceChanged(Change):
    """Anything else in the trace: e.g. `subject` "message 1" with a changed conversation_id."""

    kind: Literal["trace_changed"] = "trace_changed"
    subject: str
    fields: list[FieldChange]


TurnChange = Annotated[
    ToolCallAdded
    | ToolCallRemoved
    | ToolOrderChanged
    | ToolArgumentsChanged
    | ToolOutputChanged
    | ToolStatusChanged
    | ReplyChanged
    | UsageChanged
    | UserChanged
    | ExpectChanged
    | ErrorChanged
    | ExpectationBroken
    | TraceChanged,
    Field(discriminator="kind"),
]


class TurnSummary(BaseModel):
    """What a whole added or removed turn did."""

    user: str | None
    tools: list[str]
    reply: str


class TurnDiff(BaseModel):
    turn: int  # 1-based
    status: Literal["added", "removed", "changed"]
    summary: TurnSummary | None = None  # for added (head side) and removed (base side) turns
    changes: list[TurnChange] = []


# -- changes of a whole dialogue -------------------------------------------------------------------


class TurnCountChanged(Change):
    kind: Literal["turn_count_changed"] = "turn_count_changed"
    old: int
    new: int


class ScriptSettingsChanged(Change):
    """The dialogue script's description, agent or other settings (not its turns) changed."""

    kind: Literal["script_settings_changed"] = "script_settings_changed"
    fields: list[FieldChange]


DialogueChange = Annotated[TurnCountChanged | ScriptSettingsChanged, Field(discriminator="kind")]

DialogueStatus = Literal["added", "removed", "changed", "cassette_only", "unchanged"]
CassetteStatus = Literal["added", "removed", "changed", "unchanged"]


class Counts(BaseModel):
    """A number on the base and the head side (None: absent there)."""

    base: int | None
    head: int | None


class DialogueDiff(BaseModel):
    name: str
    status: DialogueStatus
    cassette: CassetteStatus
    cassette_requests: Counts
    turn_count: Counts  # base/head number of snapshot turns (None: absent on that side)
    changes: list[DialogueChange] = []
    turns: list[TurnDiff] = []
    notes: list[str] = []  # e.g. usage moved within the threshold, snapshot out of step with script
    # The dialogue's most telling class of change: behaviour > wording > usage > other.
    headline: Category | Literal["unchanged"] = "unchanged"
    similarity: float | None = None  # the lowest reply similarity of a reworded turn


class Summary(BaseModel):
    added: int = 0
    removed: int = 0
    changed: int = 0
    cassette_only: int = 0
    unchanged: int = 0


class RevisionInfo(BaseModel):
    ref: str | None  # None: the working tree
    commit: str | None
    label: str
    unrecorded: list[str] = []  # dialogue scripts there with no snapshot or cassette yet


class GoldenDiffReport(BaseModel):
    schema_version: int = SCHEMA_VERSION
    base: RevisionInfo
    head: RevisionInfo
    usage_threshold_percent: float
    changed: bool  # anything at all changed, cassette-only changes included
    behaviour_changed: list[str] = []  # changed dialogues whose headline is behaviour
    summary: Summary
    dialogues: list[DialogueDiff]  # every dialogue on either side, sorted by name
