"""Comparing two revisions' goldens into a GoldenDiffReport.

Turns are matched by number. Tool calls are matched by position among the turn's calls with the
same name (`get_order #2` is the turn's second get_order call on each side), never by alias: the
`call-N` aliases shift as soon as an earlier call is added or removed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

import foundry_goldens.review.classify as classify
from foundry_goldens.review.diffs import elide, field_changes, parse_json, word_diff
from foundry_goldens.review.goldens import Golden, GoldenSet, ScriptTurn, SnapshotTurn
from foundry_goldens.review.report import (
    Counts,
    DialogueChange,
    DialogueDiff,
    DialogueStatus,
    ErrorChanged,
    ExpectationBroken,
    ExpectChanged,
    GoldenDiffReport,
    ReplyChanged,
    RevisionInfo,
    ScriptSettingsChanged,
    Summary,
    ToolArgumentsChanged,
    ToolCallAdded,
    ToolCallRemoved,
    ToolOrderChanged,
    ToolOutputChanged,
    ToolStatusChanged,
    TraceChanged,
    TurnChange,
    TurnCountChanged,
    TurnDiff,
    TurnSummary,
    UsageChanged,
    UserChanged,
)
from foundry_goldens.review.revisions import Revision
from foundry_goldens.review.traces import ToolCall, TurnTrace, item_type, trace_of

DEFAULT_USAGE_THRESHOLD_PERCENT = 10.0
# A snapshot's bytes changed but its trace did not (JSON key order or spacing inside a tool's
# arguments or output): said, so git's "modified" and this report's "unchanged" agree.
FORMATTING_ONLY_NOTE = "the snapshot file changed only in formatting; the trace is the same"


def compare_goldens(
    base: GoldenSet,
    head: GoldenSet,
    base_revision: Revision,
    head_revision: Revision,
    usage_threshold_percent: float = DEFAULT_USAGE_THRESHOLD_PERCENT,
) -> GoldenDiffReport:
    """Unrecorded scripts are listed, not compared: a dialogue's first recording shows as added."""
    old, new = base.goldens, head.goldens
    dialogues = [
        _compare_dialogue(name, old.get(name), new.get(name), usage_threshold_percent)
        for name in sorted(old.keys() | new.keys())
    ]
    summary = Summary()
    for dialogue in dialogues:
        setattr(summary, dialogue.status, getattr(summary, dialogue.status) + 1)
    return GoldenDiffReport(
        base=_info(base_revision, base.unrecorded),
        head=_info(head_revision, head.unrecorded),
        usage_threshold_percent=usage_threshold_percent,
        changed=any(d.status != "unchanged" for d in dialogues),
        behaviour_changed=[
            d.name for d in dialogues if d.status == "changed" and d.headline == "behaviour"
        ],
        summary=summary,
        dialogues=dialogues,
    )


def _info(revision: Revision, unrecorded: list[str]) -> RevisionInfo:
    return RevisionInfo(
        ref=revision.ref, commit=revision.commit, label=revision.label, unrecorded=unrecorded
    )


def _compare_dialogue(
    name: str, base: Golden | None, head: Golden | None, threshold: float
) -> DialogueDiff:
    requests = Counts(
        base=base.cassette.request_count if base else None,
        head=head.cassette.request_count if head else None,
    )
    turn_count = Counts(
        base=len(base.snapshot.turns) if base else None,
        head=len(head.snapshot.turns) if head else None,
    )
    if base is None or head is None:
        side = head or base
        if side is None:
            raise ValueError("a golden compared on neither side")
        presence: Literal["added", "removed"] = "added" if head else "removed"
        return DialogueDiff(
            name=name,
            status=presence,
            cassette=presence,
            cassette_requests=requests,
            turn_count=turn_count,
            turns=[
                TurnDiff(turn=i + 1, status=presence, summary=_summary(i, side))
                for i in range(_turn_total(side))
            ],
            notes=_consistency_notes(head) if head else [],
        )

    cassette_changed = base.raw[2] != head.raw[2] and base.cassette.traffic != head.cassette.traffic
    changes: list[DialogueChange] = []
    turns: list[TurnDiff] = []
    notes: list[str] = []
    moved_within: list[int] = []
    if base.raw[:2] != head.raw[:2]:
        if len(base.snapshot.turns) != len(head.snapshot.turns):
            changes.append(
                TurnCountChanged(old=len(base.snapshot.turns), new=len(head.snapshot.turns))
            )
        settings = field_changes(base.script.settings(), head.script.settings())
        if settings:
            changes.append(ScriptSettingsChanged(fields=settings))
        broken = _newly_broken_expectations(base, head)
        for index in range(max(_turn_total(base), _turn_total(head))):
            turn = _compare_turn(index, base, head, threshold, moved_within)
            extra = broken.get(index + 1, [])
            if extra and turn is None:
                turn = TurnDiff(turn=index + 1, status="changed")
            if turn is not None and turn.status == "changed":
                turn.changes = [*extra, *turn.changes]
            if turn is not None:
                turns.append(turn)
        if moved_within:
            notes.append(
                f"token usage moved within the ±{threshold:g}% threshold in turn"
                f"{'s' if len(moved_within) > 1 else ''} {', '.join(map(str, moved_within))}"
            )
    if base.raw[1] != head.raw[1] and not (changes or turns or moved_within):
        notes.append(FORMATTING_ONLY_NOTE)
    notes.extend(_consistency_notes(head))
    for change in changes:
        change.category = classify.categorize(change)
    status: DialogueStatus
    if changes or turns:
        status = "changed"
    elif cassette_changed:
        status = "cassette_only"
    else:
        status = "unchanged"
    headline, similarity = _headline(changes, turns)
    return DialogueDiff(
        name=name,
        status=status,
        cassette="changed" if cassette_changed else "unchanged",
        cassette_requests=requests,
        turn_count=turn_count,
        changes=changes,
        turns=turns,
        notes=notes,
        headline=headline,
        similarity=similarity,
    )


def _headline(
    changes: list[DialogueChange], turns: list[TurnDiff]
) -> tuple[classify.Category | Literal["unchanged"], float | None]:
    """The dialogue's most telling class of change, and its lowest reply similarity."""
    categories = {c.category for c in changes}
    similarities: list[float] = []
    for turn in turns:
        if turn.status != "changed":
            categories.add("behaviour")  # a turn more or less
        for change in turn.changes:
            categories.add(change.category)
            if isinstance(change, ReplyChanged) and change.category == "wording":
                similarities.append(classify.word_similarity(change.old, change.new))
    for category in classify.CATEGORIES:
        if category in categories:
            return category, min(similarities) if similarities else None
    return "unchanged", None


def _turn_total(golden: Golden) -> int:
    return max(len(golden.snapshot.turns), len(golden.script.turns))


def _snapshot_turn(golden: Golden, index: int) -> SnapshotTurn | None:
    turns = golden.snapshot.turns
    return turns[index] if index < len(turns) else None


def _script_turn(golden: Golden, index: int) -> ScriptTurn | None:
    turns = golden.script.turns
    return turns[index] if index < len(turns) else None


def _user(golden: Golden, index: int) -> str | None:
    """The user's words: the dialogue script's, else the snapshot's record of them."""
    script_turn = _script_turn(golden, index)
    if script_turn is not None:
        return script_turn.user
    snapshot_turn = _snapshot_turn(golden, index)
    return snapshot_turn.user if snapshot_turn else None


def _trace(golden: Golden, index: int) -> TurnTrace | None:
    turn = _snapshot_turn(golden, index)
    if turn is None:
        return None
    if turn.output is None:  # a turn that failed as expected: no items
        return trace_of([], None)
    return trace_of(turn.output.items, turn.output.usage)


def _error(golden: Golden, index: int) -> dict[str, Any] | None:
    turn = _snapshot_turn(golden, index)
    return turn.error if turn else None


def _summary(index: int, golden: Golden) -> TurnSummary:
    trace = _trace(golden, index)
    return TurnSummary(
        user=_user(golden, index),
        tools=[call.name for call in trace.tool_calls] if trace else [],
        reply=trace.reply if trace else "",
    )


def _compare_turn(
    index: int, base: Golden, head: Golden, threshold: float, moved_within: list[int]
) -> TurnDiff | None:
    number = index + 1
    base_trace, head_trace = _trace(base, index), _trace(head, index)
    in_base = index < _turn_total(base)
    in_head = index < _turn_total(head)
    if not in_base:
        return TurnDiff(turn=number, status="added", summary=_summary(index, head))
    if not in_head:
        return TurnDiff(turn=number, status="removed", summary=_summary(index, base))

    changes: list[TurnChange] = []
    old_user, new_user = _user(base, index), _user(head, index)
    if old_user != new_user:
        changes.append(
            UserChanged(
                old=old_user, new=new_user, word_diff=word_diff(old_user or "", new_user or "")
            )
        )
    old_expect, new_expect = _script_turn(base, index), _script_turn(head, index)
    expect_fields = field_changes(
        (old_expect.expect if old_expect else None) or {},
        (new_expect.expect if new_expect else None) or {},
    )
    if expect_fields:
        changes.append(ExpectChanged(fields=expect_fields))
    empty = TurnTrace(tool_calls=[], reply="", messages=[], other_items=[], usage={})
    changes.extend(_trace_changes(base_trace or empty, head_trace or empty, threshold))
    changes.extend(_error_changes(_error(base, index), _error(head, index)))
    ordered = _ordered_tools(new_expect.expect if new_expect else None)
    for change in changes:
        change.category = classify.categorize(change, ordered)
    if not changes:
        if base_trace and head_trace and base_trace.usage != head_trace.usage:
            moved_within.append(number)
        return None
    return TurnDiff(turn=number, status="changed", changes=changes)


def _newly_broken_expectations(base: Golden, head: Golden) -> dict[int, list[TurnChange]]:
    """Per turn, the head script's expectations the head snapshot breaks and the base kept."""
    head_dialogue = _dialogue(head)
    if head_dialogue is None:
        return {}

    def broken(golden: Golden) -> set[tuple[int | None, str]]:
        turns = [t.model_dump(exclude_none=True) for t in golden.snapshot.turns]
        return {(c.turn, c.summary) for c in classify.broken_expectations(head_dialogue, turns)}

    found: dict[int, list[TurnChange]] = {}
    for turn, summary in sorted(broken(head) - broken(base), key=lambda b: (b[0] or 0, b[1])):
        change = ExpectationBroken(
            message=summary.removeprefix("expectation broken: "), category="behaviour"
        )
        found.setdefault(turn or 0, []).append(change)
    return found


def _dialogue(golden: Golden) -> Any:
    """The golden's script as the harness loads it (None when it does not validate: the
    golden diff still reports what it can)."""
    from pydantic import ValidationError

    from foundry_goldens.goldens.dialogues import Dialogue

    data = golden.script.model_dump(exclude_none=True)
    data.setdefault("name", golden.name)
    try:
        return Dialogue.model_validate(data)
    except ValidationError:
        return None


def _ordered_tools(expect: dict[str, Any] | None) -> list[str]:
    """Tools the head's script says are called in order (`expect.calls_in_order`)."""
    entries = (expect or {}).get("calls_in_order") or []
    return [e if isinstance(e, str) else str(e.get("name")) for e in entries if e]


def _error_changes(old: dict[str, Any] | None, new: dict[str, Any] | None) -> list[TurnChange]:
    if old == new:
        return []
    key = ("type", "code")
    if old is None or new is None or [old.get(k) for k in key] != [new.get(k) for k in key]:
        return [ErrorChanged(old=old, new=new)]
    return [TraceChanged(subject="error", fields=field_changes(old, new))]


def snapshot_turn_changes(
    old: dict[str, Any], new: dict[str, Any], threshold: float = DEFAULT_USAGE_THRESHOLD_PERCENT
) -> list[TurnChange]:
    """Changes between two snapshot turns (dicts as in docs/contracts.md), uncategorized."""

    def trace(turn: dict[str, Any]) -> TurnTrace:
        output = turn.get("output") or {}
        return trace_of(output.get("items") or [], output.get("usage"))

    changes: list[TurnChange] = []
    if old.get("user") != new.get("user"):
        old_user, new_user = old.get("user"), new.get("user")
        changes.append(
            UserChanged(
                old=old_user, new=new_user, word_diff=word_diff(old_user or "", new_user or "")
            )
        )
    changes += _trace_changes(trace(old), trace(new), threshold)
    changes += _error_changes(old.get("error"), new.get("error"))
    return changes


def classify_snapshots(
    name: str,
    old: Mapping[str, Any],
    new: Mapping[str, Any],
    dialogue: Any = None,
    usage_threshold_percent: float = classify.DEFAULT_USAGE_THRESHOLD_PERCENT,
) -> classify.DialogueClassification:
    """Classify every difference between two snapshots of one dialogue (docs/contracts.md), and
    the dialogue's expectations broken by `new` (when `dialogue`, a harness Dialogue, is given).
    """
    result = classify.DialogueClassification(dialogue=name)
    old_turns, new_turns = list(old.get("turns", [])), list(new.get("turns", []))
    if len(old_turns) != len(new_turns):
        result.changes += classify.classify_changes(
            None, [TurnCountChanged(old=len(old_turns), new=len(new_turns))]
        )
    for index, (before, after) in enumerate(zip(old_turns, new_turns, strict=False)):
        ordered: Sequence[str] = ()
        if dialogue is not None and index < len(dialogue.turns):
            ordered = dialogue.turns[index].expect.ordered_tools
        changes = snapshot_turn_changes(before, after, usage_threshold_percent)
        result.changes += classify.classify_changes(index + 1, changes, ordered)
    if dialogue is not None:
        result.changes += classify.broken_expectations(dialogue, new_turns)
    return result


def _trace_changes(base: TurnTrace, head: TurnTrace, threshold: float) -> list[TurnChange]:
    changes: list[TurnChange] = []
    changes.extend(_tool_changes(base.tool_calls, head.tool_calls))
    if base.reply != head.reply:
        changes.append(
            ReplyChanged(
                old=base.reply, new=head.reply, word_diff=word_diff(base.reply, head.reply)
            )
        )
    changes.extend(_usage_changes(base.usage, head.usage, threshold))
    for position in range(max(len(base.messages), len(head.messages))):
        fields = field_changes(_at(base.messages, position), _at(head.messages, position))
        if fields:
            changes.append(TraceChanged(subject=f"message {position + 1}", fields=fields))
    changes.extend(_other_item_changes(base.other_items, head.other_items))
    return changes


def _at(items: list[dict[str, Any]], position: int) -> dict[str, Any] | None:
    return items[position] if position < len(items) else None


def _tool_changes(base: list[ToolCall], head: list[ToolCall]) -> list[TurnChange]:
    changes: list[TurnChange] = []
    base_by_key = {(c.name, c.occurrence): c for c in base}
    head_by_key = {(c.name, c.occurrence): c for c in head}
    for call in base:
        if (call.name, call.occurrence) not in head_by_key:
            changes.append(
                ToolCallRemoved(
                    tool=call.name,
                    occurrence=call.occurrence,
                    arguments=parse_json(call.arguments)[1],
                    output=parse_json(call.output)[1],
                )
            )
    for call in head:
        if (call.name, call.occurrence) not in base_by_key:
            changes.append(
                ToolCallAdded(
                    tool=call.name,
                    occurrence=call.occurrence,
                    arguments=parse_json(call.arguments)[1],
                    output=parse_json(call.output)[1],
                )
            )
    old_order = [c.label for c in base if (c.name, c.occurrence) in head_by_key]
    new_order = [c.label for c in head if (c.name, c.occurrence) in base_by_key]
    if old_order != new_order:
        changes.append(ToolOrderChanged(old=old_order, new=new_order))
    for new in head:
        old = base_by_key.get((new.name, new.occurrence))
        if old is not None:
            changes.extend(_matched_call_changes(old, new))
    return changes


def _matched_call_changes(old: ToolCall, new: ToolCall) -> list[TurnChange]:
    changes: list[TurnChange] = []
    if old.arguments != new.arguments:
        (old_ok, old_args), (new_ok, new_args) = (
            parse_json(old.arguments),
            parse_json(new.arguments),
        )
        fields = field_changes(old_args, new_args)
        if fields:  # equal once parsed: only whitespace or key order moved
            changes.append(
                ToolArgumentsChanged(tool=new.name, occurrence=new.occurrence, fields=fields)
            )
    if old.output != new.output:
        (old_ok, old_out), (new_ok, new_out) = parse_json(old.output), parse_json(new.output)
        if (
            old_ok
            and new_ok
            and isinstance(old_out, dict | list)
            and isinstance(new_out, dict | list)
        ):
            fields = field_changes(old_out, new_out)
            if fields:
                changes.append(
                    ToolOutputChanged(
                        tool=new.name, occurrence=new.occurrence, format="json", fields=fields
                    )
                )
        else:
            changes.append(
                ToolOutputChanged(
                    tool=new.name,
                    occurrence=new.occurrence,
                    format="text",
                    text_diff=elide(word_diff(old.output or "", new.output or "")),
                )
            )
    statuses: tuple[tuple[Literal["call", "output"], str | None, str | None], ...] = (
        ("call", old.status, new.status),
        ("output", old.output_status, new.output_status),
    )
    for item, old_status, new_status in statuses:
        if old_status != new_status:
            changes.append(
                ToolStatusChanged(
                    tool=new.name,
                    occurrence=new.occurrence,
                    item=item,
                    old=old_status,
                    new=new_status,
                )
            )
    rest = field_changes(old.rest, new.rest)
    if rest:
        changes.append(TraceChanged(subject=f"{new.label} call", fields=rest))
    return changes


def _usage_changes(
    base: dict[str, Any], head: dict[str, Any], threshold: float
) -> list[TurnChange]:
    changes: list[TurnChange] = []
    for field in sorted(base.keys() | head.keys()):
        old, new = _number(base.get(field)), _number(head.get(field))
        if old == new:
            continue
        percent = (new - old) / old * 100 if old and new is not None else None
        if percent is None or abs(percent) > threshold:
            changes.append(
                UsageChanged(
                    field=field,
                    old=old,
                    new=new,
                    change_percent=round(percent, 1) if percent is not None else None,
                )
            )
    return changes


def _number(value: Any) -> int | float | None:
    return value if isinstance(value, int | float) and not isinstance(value, bool) else None


def _other_item_changes(base: list[dict[str, Any]], head: list[dict[str, Any]]) -> list[TurnChange]:
    """Items neither calls nor assistant messages, paired by position among the same type."""
    changes: list[TurnChange] = []
    base_by_type = _group_by_type(base)
    head_by_type = _group_by_type(head)
    for kind in sorted(base_by_type.keys() | head_by_type.keys()):
        olds, news = base_by_type.get(kind, []), head_by_type.get(kind, [])
        for position in range(max(len(olds), len(news))):
            fields = field_changes(_at(olds, position), _at(news, position))
            if fields:
                changes.append(TraceChanged(subject=f"{kind} {position + 1}", fields=fields))
    return changes


def _group_by_type(items: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    grouped: dict[str, list[dict[str, Any]]] = {}
    for item in items:
        grouped.setdefault(item_type(item), []).append(item)
    return grouped


def _consistency_notes(golden: Golden) -> list[str]:
    """Where the head's snapshot and script disagree: the snapshot was not re-recorded."""
    notes = []
    script, snapshot = golden.script.turns, golden.snapshot.turns
    if len(script) != len(snapshot):
        notes.append(
            f"the script has {len(script)} turns but the snapshot {len(snapshot)}: re-record it"
        )
    for index, (script_turn, snapshot_turn) in enumerate(zip(script, snapshot, strict=False)):
        if snapshot_turn.user is not None and snapshot_turn.user != script_turn.user:
            notes.append(
                f"turn {index + 1}: the snapshot was recorded for another user message than the "
                "script has: re-record it"
            )
    return notes
