"""The drift report of `foundry-goldens record --check`: as plain text lines or as Markdown for a
GitHub job summary (no progress bars, no box drawing).

Behaviour changes and broken expectations lead; wording, usage and other changes are listed as
information, each reworded dialogue on one line with its reply similarity, expandable.

Dialogue names, summaries, replies and error details come from the goldens and the agent: they
are written only through markdown_text (escaped, links and mentions in code spans, invisible
characters shown), as in the PR comment.
"""

from __future__ import annotations

from collections.abc import Sequence

from foundry_goldens.recording.progress import DialogueOutcome
from foundry_goldens.review import markdown_text as md
from foundry_goldens.review.classify import ClassifiedChange, DialogueClassification
from foundry_goldens.review.comparison import text_word_diff
from foundry_goldens.review.diffs import word_diff
from foundry_goldens.review.render_markdown import inline_word_diff


def exit_code(outcomes: Sequence[DialogueOutcome], strict: bool) -> int:
    """1 on a failed dialogue or a behaviour change (`--strict`: on any change), else 0."""
    for outcome in outcomes:
        if outcome.status in ("failed", "cancelled", "changed", "new"):
            return 1
        if strict and outcome.status == "reworded":
            return 1
    return 0


def _where(change: ClassifiedChange) -> str:
    return f"turn {change.turn}" if change.turn else "dialogue"


def _counts(outcomes: Sequence[DialogueOutcome]) -> list[tuple[str, int]]:
    labels = (
        ("behaviour changed", "changed"),
        ("wording, usage or other only", "reworded"),
        ("unchanged", "unchanged"),
        ("new (no committed snapshot)", "new"),
        ("failed", "failed"),
        ("cancelled", "cancelled"),
    )
    counts = [(label, sum(o.status == status for o in outcomes)) for label, status in labels]
    return [(label, n) for label, n in counts if n or label in ("behaviour changed", "unchanged")]


def _classification(outcome: DialogueOutcome) -> DialogueClassification:
    """What a changed or reworded dialogue's drift check found (the check always sets it)."""
    if not isinstance(outcome.classification, DialogueClassification):
        raise TypeError(f"{outcome.name} is {outcome.status} without a classification")
    return outcome.classification


def _escape(text: str) -> str:
    """One line of untrusted prose: escaped, links and mentions in code spans."""
    return md.inline(text)


def render_markdown(outcomes: Sequence[DialogueOutcome], target: str, strict: bool) -> str:
    lines = [f"## Golden drift check against the {_escape(target)}", ""]
    behaviour = sum(
        len(o.classification.of("behaviour"))
        for o in outcomes
        if isinstance(o.classification, DialogueClassification)
    )
    verdict = "fails" if exit_code(outcomes, strict) else "passes"
    rule = "any change" if strict else "behaviour changes and broken expectations only"
    lines += [
        f"**{behaviour} behaviour change(s)**; the check {verdict} (it fails on {rule}).",
        "",
        "| Dialogues | Count |",
        "| --- | ---: |",
        *(f"| {label} | {count} |" for label, count in _counts(outcomes)),
    ]
    failed = [o for o in outcomes if o.status in ("failed", "cancelled")]
    if failed:
        lines += ["", "### Failed", ""]
        lines += [f"- {md.code(o.name)}: {_escape(o.detail)}" for o in failed]
    changed = [(o, _classification(o)) for o in outcomes if o.status == "changed"]
    if changed:
        lines += ["", "### Behaviour changes", ""]
    for outcome, classification in changed:
        lines.append(f"#### {md.code(outcome.name)}")
        lines.append("")
        for change in classification.of("behaviour"):
            lines.append(f"- {_where(change)}: {_escape(change.summary)}")
        others = [c for c in classification.changes if c.category != "behaviour"]
        if others:
            lines += ["", *_details("also (information)", others)]
        lines.append("")
    reworded = [(o, _classification(o)) for o in outcomes if o.status == "reworded"]
    if reworded:
        if lines[-1] != "":
            lines.append("")
        lines += ["### Wording, usage and other changes (information)", ""]
    for outcome, classification in reworded:
        similarity = classification.similarity
        label = f"<code>{md.html_text(outcome.name)}</code>: {classification.headline}" + (
            f", reply similarity {similarity:.2f}" if similarity is not None else ""
        )
        lines += [*_details(label, classification.changes), ""]
    new = [o for o in outcomes if o.status == "new"]
    if new:
        lines += ["### New", "", *(f"- {md.code(o.name)}: {_escape(o.detail)}" for o in new), ""]
    while lines and lines[-1] == "":
        lines.pop()
    return "\n".join(lines) + "\n"


def _details(summary: str, changes: Sequence[ClassifiedChange]) -> list[str]:
    lines = ["<details>", f"<summary>{summary}</summary>", ""]
    for change in changes:
        lines.append(f"- {_where(change)} [{change.category}]: {_escape(change.summary)}")
        if change.old is not None and change.new is not None:
            quoted = inline_word_diff(word_diff(change.old, change.new))
            lines.append(f"  > {md.line_start(quoted)}".rstrip())
    lines += ["", "</details>"]
    return lines


def render_text(outcomes: Sequence[DialogueOutcome]) -> list[str]:
    """Plain lines for a terminal: per changed dialogue, its classified changes, behaviour
    first, each reworded reply whole as a word diff ([-old-]{+new+}), never cut."""
    lines = []
    for outcome in outcomes:
        classification = outcome.classification
        if not isinstance(classification, DialogueClassification) or not classification.changed:
            continue
        lines.append(f"{outcome.name} ({outcome.status})")
        ordered = sorted(classification.changes, key=lambda c: c.category != "behaviour")
        for change in ordered:
            lines.append(f"  {_where(change)} [{change.category}] {change.summary}")
            if change.old is not None and change.new is not None:
                lines.append(f"    {text_word_diff(change.old, change.new)}")
    return lines
