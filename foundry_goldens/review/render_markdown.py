"""The report as Markdown for a PR comment: summary table first, then each changed dialogue turn
by turn. Long values are cut; the JSON report (and the files) hold them whole.

Everything taken from the goldens is untrusted (they come in pull requests from anyone): it is
written only through markdown_text's `code`, `text` and `html_text`, never pasted in.
"""

from __future__ import annotations

from foundry_goldens.review import markdown_text as md
from foundry_goldens.review.compare import FORMATTING_ONLY_NOTE
from foundry_goldens.review.diffs import shorten
from foundry_goldens.review.report import (
    DialogueDiff,
    ErrorChanged,
    ExpectationBroken,
    ExpectChanged,
    FieldChange,
    GoldenDiffReport,
    ReplyChanged,
    RevisionInfo,
    ScriptSettingsChanged,
    Segment,
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

MAX_FIELDS = 12  # field changes listed per block before "… and N more"
VALUE_LIMIT = 80  # characters of one value
SUMMARY_LIMIT = 200  # characters of a reply in an added/removed turn's summary
FOOTER = (
    "<sub>Intended? Accept it by re-recording with `foundry-goldens record` and committing the "
    "cassettes and snapshots together; see docs/golden-review.md.</sub>"
)


def render_markdown(report: GoldenDiffReport) -> str:
    span = f"{_describe(report.base)} and {_describe(report.head)}"
    if not report.changed:
        reformatted = [d.name for d in report.dialogues if FORMATTING_ONLY_NOTE in d.notes]
        formatting = (
            f" Snapshots of {', '.join(md.code(n) for n in reformatted)} differ only in "
            "formatting (the same traces)."
            if reformatted
            else ""
        )
        return f"No golden changes between {span}.{formatting}{_unrecorded(report.head)}\n"
    lines = [f"## Golden diff: {_describe(report.base)} → {_describe(report.head)}", ""]
    lines += ["| Dialogues | Count |", "| --- | ---: |"]
    summary = report.summary
    for label, count in (
        ("added", summary.added),
        ("removed", summary.removed),
        ("changed", summary.changed),
        ("cassette only", summary.cassette_only),
        ("unchanged", summary.unchanged),
    ):
        lines.append(f"| {label} | {count} |")
    if report.head.unrecorded:
        lines += ["", _unrecorded(report.head).strip()]
    by_status = {
        status: [d for d in report.dialogues if d.status == status]
        for status in ("changed", "added", "removed", "cassette_only", "unchanged")
    }
    # Behaviour first; a dialogue whose replies were only reworded (or whose usage moved) is one
    # line with its similarity, expanded on a click.
    changed = by_status["changed"]
    behaviour = [d for d in changed if d.headline == "behaviour"]
    rest = [d for d in changed if d.headline != "behaviour"]
    if changed:
        lines += [
            "",
            f"**Behaviour changes: {len(behaviour)} dialogue(s)**"
            + (f" ({', '.join(md.code(d.name) for d in behaviour)})" if behaviour else ""),
        ]
    for dialogue in behaviour:
        lines += ["", *_changed_dialogue(dialogue, report.usage_threshold_percent)]
    if rest:
        lines += ["", "### Wording, usage and other changes only", ""]
    for dialogue in rest:
        lines += [*_collapsed_dialogue(dialogue, report.usage_threshold_percent), ""]
    if rest:
        lines.pop()
    for dialogue in by_status["added"]:
        lines += ["", *_added_dialogue(dialogue)]
    if by_status["removed"]:
        lines += ["", "### Removed dialogues", ""]
        for dialogue in by_status["removed"]:
            lines.append(
                f"- {md.code(dialogue.name)} ({_plural(dialogue.turn_count.base or 0, 'turn')}): "
                "its script, snapshot and cassette were deleted"
            )
    if by_status["cassette_only"]:
        lines += ["", "### Cassette changed, goldens unchanged", ""]
        for dialogue in by_status["cassette_only"]:
            lines.append(
                f"- {md.code(dialogue.name)}: its cassette changed"
                f"{_requests(dialogue)} but its snapshot and script did not. Replay gives the "
                "same output; check that the new recording was intended."
            )
    noted = [d for d in by_status["unchanged"] if d.notes]
    if noted:
        lines += ["", "### Notes on unchanged dialogues", ""]
        lines += [f"- {md.code(d.name)}: {_text(note)}" for d in noted for note in d.notes]
    lines += ["", FOOTER]
    return "\n".join(lines) + "\n"


def _describe(revision: RevisionInfo) -> str:
    if revision.commit is None:
        return "the working tree"
    short = md.escape(revision.commit[:7])
    if revision.label == revision.ref:
        return f"{md.code(revision.ref)} ({short})"
    return f"{_text(revision.label)} ({short})"


def _unrecorded(revision: RevisionInfo) -> str:
    """A dialogue script without recordings is no golden yet, but the reviewer should know."""
    if not revision.unrecorded:
        return ""
    names = ", ".join(md.code(name) for name in revision.unrecorded)
    return f" Not recorded yet (a script without snapshot and cassette): {names}."


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _requests(dialogue: DialogueDiff) -> str:
    counts = dialogue.cassette_requests
    if counts.base is None or counts.head is None or counts.base == counts.head:
        return ""
    return f" ({counts.base} → {counts.head} requests)"


def _changed_dialogue(dialogue: DialogueDiff, threshold: float) -> list[str]:
    lines = [f"### {md.code(dialogue.name)}: {_changed_label(dialogue)}", ""]
    for change in dialogue.changes:
        if isinstance(change, TurnCountChanged):
            lines.append(f"**Turn count: {change.old} → {change.new}.**  ")
    if dialogue.cassette == "changed":
        lines.append(f"Cassette: re-recorded{_requests(dialogue)}.")
    else:
        lines.append(
            "Cassette: unchanged. The same recorded traffic now gives another output, so the "
            "change comes from the integration or harness code (or a hand-edited golden)."
        )
    lines.append("")
    for change in dialogue.changes:
        if isinstance(change, ScriptSettingsChanged):
            lines += ["- dialogue settings:", *_fields(change.fields, indent="  "), ""]
    return _with_turns_and_notes(lines, dialogue)


def _collapsed_dialogue(dialogue: DialogueDiff, threshold: float) -> list[str]:
    similarity = (
        f", reply similarity {dialogue.similarity:.2f}" if dialogue.similarity is not None else ""
    )
    body = _changed_dialogue(dialogue, threshold)[2:]  # without the heading
    return [
        "<details>",
        f"<summary><code>{md.html_text(dialogue.name)}</code>: "
        f"{md.html_text(dialogue.headline)}{similarity}</summary>",
        "",
        *body,
        "",
        "</details>",
    ]


def _changed_label(dialogue: DialogueDiff) -> str:
    if dialogue.headline == "behaviour":
        turns = sorted(
            {t.turn for t in dialogue.turns if t.status != "changed"}
            | {t.turn for t in dialogue.turns for c in t.changes if c.category == "behaviour"}
        )
        where = f" in turn{'s' if len(turns) > 1 else ''} {', '.join(map(str, turns))}"
        return f"behaviour changed{where if turns else ''}"
    return "changed"


def _added_dialogue(dialogue: DialogueDiff) -> list[str]:
    lines = [
        f"### {md.code(dialogue.name)}: added ({_plural(dialogue.turn_count.head or 0, 'turn')}, "
        f"{_plural(dialogue.cassette_requests.head or 0, 'recorded request')})",
        "",
    ]
    return _with_turns_and_notes(lines, dialogue)


def _with_turns_and_notes(lines: list[str], dialogue: DialogueDiff) -> list[str]:
    for turn in dialogue.turns:
        lines += _turn(turn)
    for note in dialogue.notes:
        lines.append(f"> Note: {_text(note)}")
    if lines[-1] == "":
        lines.pop()
    return lines


def _turn(turn: TurnDiff) -> list[str]:
    if turn.status != "changed":
        if turn.summary is None:
            raise ValueError(f"turn {turn.turn} is {turn.status} but carries no summary")
        return [f"**Turn {turn.turn}** ({turn.status})", *_summary(turn.summary), ""]
    lines = [f"**Turn {turn.turn}**"]
    usage = [c for c in turn.changes if isinstance(c, UsageChanged)]
    # Behaviour first within the turn too; the order is otherwise the comparison's.
    ordered = sorted(turn.changes, key=lambda c: c.category != "behaviour")
    for change in ordered:
        if not isinstance(change, UsageChanged):
            lines += _change(change)
        elif change is usage[0]:  # all token counts on one line
            lines.append(f"- usage: {', '.join(_usage(c) for c in usage)}")
    return [*lines, ""]


def _usage(change: UsageChanged) -> str:
    moved = f" ({change.change_percent:+g}%)" if change.change_percent is not None else ""
    return f"{md.code(change.field)} {_number(change.old)} → {_number(change.new)}{moved}"


def _summary(summary: TurnSummary) -> list[str]:
    tools = ", ".join(md.code(name) for name in summary.tools) or "none"
    reply = (
        summary.reply
        if len(summary.reply) <= SUMMARY_LIMIT
        else summary.reply[:SUMMARY_LIMIT] + "…"
    )
    return [
        f"- user: {_text(summary.user or '')}",
        f"- tools: {tools}",
        f"- reply: {_text(reply)}",
    ]


def _change(change: TurnChange) -> list[str]:
    match change:
        case ToolCallAdded() | ToolCallRemoved():
            verb = "added" if isinstance(change, ToolCallAdded) else "removed"
            text = f"- tool call {verb}: {md.code(change.tool)} #{change.occurrence}"
            text += f" with {md.code(shorten(change.arguments, VALUE_LIMIT))}"
            if change.output is not None:
                text += f" → {md.code(shorten(change.output, VALUE_LIMIT))}"
            return [text]
        case ToolOrderChanged():
            old = ", ".join(md.code(label) for label in change.old)
            new = ", ".join(md.code(label) for label in change.new)
            return [f"- tool call order: {old} → {new}"]
        case ToolArgumentsChanged():
            head = f"- {md.code(change.tool)} #{change.occurrence} arguments:"
            return [head, *_fields(change.fields, indent="  ")]
        case ToolOutputChanged():
            head = f"- {md.code(change.tool)} #{change.occurrence} output:"
            if change.format == "json":
                return [head, *_fields(change.fields, indent="  ")]
            return [f"{head} {_inline(change.text_diff, one_line=True)}"]
        case ToolStatusChanged():
            what = "call" if change.item == "call" else "output"
            return [
                f"- {md.code(change.tool)} #{change.occurrence} {what} status: "
                f"{_status(change.old)} → {_status(change.new)}"
            ]
        case ReplyChanged():
            quoted = _inline(change.word_diff).split("\n")
            return ["- reply:", *(f"  > {md.line_start(line)}".rstrip() for line in quoted)]
        case UsageChanged():
            return [f"- usage: {_usage(change)}"]
        case UserChanged():
            return [f"- user: {_inline(change.word_diff, one_line=True)}"]
        case ExpectationBroken():
            return [f"- **expectation broken**: {_text(change.message)}"]
        case ErrorChanged():
            return [f"- **error**: {_error(change.old)} → {_error(change.new)}"]
        case ExpectChanged():
            return ["- expect:", *_fields(change.fields, indent="  ")]
        case TraceChanged():
            subject = md.line_start(_text(change.subject))  # it starts the list item
            return [f"- {subject}:", *_fields(change.fields, indent="  ")]
    return [f"- {change.kind}"]  # pragma: no cover - a kind without a renderer yet


def _error(error: dict[str, object] | None) -> str:
    if not error:
        return "none (the turn replied)"
    kind, code, message = (str(error.get(key)) for key in ("type", "code", "message"))
    return f"{md.code(kind)} {md.code(code)}: {_text(message)}"


def _number(value: int | float | None) -> str:
    return "none" if value is None else f"{value:g}"


def _fields(fields: list[FieldChange], indent: str) -> list[str]:
    lines = []
    for field in fields[:MAX_FIELDS]:
        path = md.code(field.path) if field.path else "whole value"
        if field.change == "added":
            lines.append(f"{indent}- {path} added: {md.code(shorten(field.new, VALUE_LIMIT))}")
        elif field.change == "removed":
            was = md.code(shorten(field.old, VALUE_LIMIT))
            lines.append(f"{indent}- {path} removed (was {was})")
        else:
            old, new = shorten(field.old, VALUE_LIMIT), shorten(field.new, VALUE_LIMIT)
            lines.append(f"{indent}- {path}: {md.code(old)} → {md.code(new)}")
    if len(fields) > MAX_FIELDS:
        lines.append(f"{indent}- … and {len(fields) - MAX_FIELDS} more field changes")
    return lines


def _inline(segments: list[Segment], one_line: bool = False) -> str:
    """~~deleted~~ **inserted** in place; markers never enclose whitespace or a line break. The
    text between and inside the markers is escaped: content never adds or closes a marker."""
    out = []
    previous = None
    for segment in segments:
        text = md.visible(segment.text)
        if one_line:
            text = md.one_line(text)
        if segment.op == "equal":
            out.append(md.text(text))  # line breaks kept: the caller quotes line by line
        elif segment.op == "elided":
            out.append("…")
        else:
            mark = "~~" if segment.op == "delete" else "**"
            if previous == "delete":  # a replacement: ~~old~~ **new**
                out.append(" ")
            out.append(_mark(text, mark))
        previous = segment.op
    return "".join(out)


def _mark(text: str, mark: str) -> str:
    if not text.strip():
        return f"{mark}{'⏎' if chr(10) in text else '␣'}{mark}"
    lines = []
    for line in text.split("\n"):
        core = line.strip()
        if not core:
            lines.append(line)
            continue
        lead = line[: len(line) - len(line.lstrip())]
        trail = line[len(line.rstrip()) :]
        lines.append(f"{lead}{mark}{md.text(core)}{mark}{trail}")
    return "\n".join(lines)


def _text(text: str) -> str:
    """Untrusted prose on one line (see markdown_text.text)."""
    return md.inline(text)


def _status(status: str | None) -> str:
    return "none" if status is None else md.code(status)


def inline_word_diff(segments: list[Segment]) -> str:
    """A whole word diff on one line, ~~old~~ **new** (the drift check's report uses it)."""
    return _inline(segments, one_line=True)


def escape_markdown(text: str) -> str:
    """`text` as Markdown prose that shows exactly its characters (see markdown_text.text)."""
    return md.text(text)
