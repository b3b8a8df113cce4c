"""Golden content is untrusted: goldens come in pull requests from anyone, and the golden diff
(a PR comment) and the drift check (a job summary) quote it in Markdown that GitHub renders.

The reports are rendered here as CommonMark with raw HTML enabled (markdown-it-py), as GitHub
would before its own sanitizing, and checked for what content must never become: an element or
attribute (an image, a link, a script, an `on*` handler, raw HTML), a link to an outside site, an
@mention or a #reference outside code (GitHub links those in text but never in code), a bidi
override or another invisible character. The reviewer must still see the content itself.
"""

from __future__ import annotations

import re
import subprocess
import sys
import unicodedata
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from foundry_goldens.recording import check_report
from foundry_goldens.recording.progress import DialogueOutcome
from foundry_goldens.review import diff_goldens, render_markdown
from foundry_goldens.review import markdown_text as md
from foundry_goldens.review.classify import ClassifiedChange, DialogueClassification
from foundry_goldens.review.compare import classify_snapshots
from foundry_goldens.review.diffs import shorten, word_diff
from foundry_goldens.review.report import (
    Counts,
    DialogueDiff,
    ErrorChanged,
    ExpectationBroken,
    ExpectChanged,
    FieldChange,
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
from tests.test_golden_diff import GoldenRepo, order_lookup_turns, snapshot_of

# -- what a safe rendering is -----------------------------------------------------------------

COMMONMARK = MarkdownIt("commonmark", {"html": True})
WITH_TABLES = MarkdownIt("commonmark", {"html": True}).enable("table")

# Elements the report templates make; content adds none (an <em>, a <ol> or a <h1> would be its).
TEMPLATE_TAGS = {
    "h2",
    "h3",
    "h4",
    "p",
    "ul",
    "li",
    "strong",
    "code",
    "blockquote",
    "details",
    "summary",
    "sub",
    "br",  # after "**Turn count: 3 → 4.**"
    "table",
    "thead",
    "tbody",
    "tr",
    "th",
    "td",
}
# The only raw HTML the templates write, in full.
TEMPLATE_HTML = re.compile(
    r"<details>\n<summary>(?:<code>[^<>]*</code>: [^<>]*|also \(information\))</summary>\n"
    r"|</details>\n?"
    r"|<sub>[^<>]*</sub>\n?|<code>|</code>|<sub>|</sub>"
)


def hidden(char: str) -> bool:
    """Invisible or text-direction changing: must never reach the rendered page as itself."""
    if char in "\n\t":
        return False
    return unicodedata.category(char) in ("Cc", "Cf", "Cs", "Zl", "Zp")


@dataclass
class Page:
    tags: list[str] = field(default_factory=list)
    attributes: list[tuple[str, str, str | None]] = field(default_factory=list)
    text: list[str] = field(default_factory=list)  # all of it, in order
    code: list[str] = field(default_factory=list)  # the text of each <code> element
    prose: list[str] = field(default_factory=list)  # outside <code>, each after a code or not
    after_code: list[bool] = field(default_factory=list)

    @property
    def visible(self) -> str:
        return " ".join("".join(self.text).split())


class _Reader(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.page = Page()
        self.in_code = 0
        self.just_closed_code = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.page.tags.append(tag)
        self.page.attributes += [(tag, name, value) for name, value in attrs]
        self.in_code += tag == "code"
        if tag == "code":
            self.page.code.append("")
        self.just_closed_code = False

    def handle_endtag(self, tag: str) -> None:
        if tag == "code":
            self.in_code -= 1
        self.just_closed_code = tag == "code"

    def handle_data(self, data: str) -> None:
        self.page.text.append(data)
        if self.in_code:
            self.page.code[-1] += data
        else:
            self.page.prose.append(data)
            self.page.after_code.append(self.just_closed_code)
        self.just_closed_code = False

    def handle_comment(self, data: str) -> None:
        raise AssertionError(f"an HTML comment in the rendering: {data!r}")

    def handle_decl(self, decl: str) -> None:
        raise AssertionError(f"a declaration in the rendering: {decl!r}")

    def handle_pi(self, data: str) -> None:
        raise AssertionError(f"a processing instruction in the rendering: {data!r}")


# Occurrence numbers the templates write after a tool's name ("`get_order` #1 arguments").
OWN_OCCURRENCE = re.compile(r"^ #\d+(?:\s|$)")


def rendered(markdown: str, renderer: MarkdownIt = COMMONMARK) -> Page:
    """Render and check: only the templates' elements and raw HTML, no attributes (but a table's
    alignment), no invisible characters, no link, mention or reference outside code."""
    for token in renderer.parse(markdown):
        pieces = [token, *(token.children or [])]
        for piece in pieces:
            if piece.type in ("html_block", "html_inline"):
                assert TEMPLATE_HTML.fullmatch(piece.content), f"raw HTML: {piece.content!r}"
            assert piece.type not in ("link_open", "image", "autolink"), piece
    html = renderer.render(markdown)
    hidden_chars = {f"U+{ord(c):04X}" for c in markdown + html if hidden(c)}
    assert not hidden_chars, f"invisible characters reach the page: {hidden_chars}"
    reader = _Reader()
    reader.feed(html)
    reader.close()
    page = reader.page
    assert set(page.tags) <= TEMPLATE_TAGS, set(page.tags) - TEMPLATE_TAGS
    assert all(
        tag in ("th", "td") and name == "style" and value in ("text-align:right", "")
        for tag, name, value in page.attributes
    ), page.attributes
    for prose, after_code in zip(page.prose, page.after_code, strict=True):
        for match in re.finditer(r"@|://|www\.|gh-\d|#\d", prose, re.IGNORECASE):
            own = after_code and match.start() == 1 and OWN_OCCURRENCE.match(prose)
            assert own, f"{match.group()!r} outside code in {prose!r}"
    return page


def shows(page: Page, content: str) -> None:
    """The reviewer sees `content`: each of its words (invisible characters as <U+XXXX>, line
    breaks as ⏎ or as line breaks) is in the page's text."""
    for word in md.visible(content).split():
        assert word in page.visible, f"{word!r} is not shown in {page.visible!r}"


def shows_value(page: Page, value: Any) -> None:
    """A JSON value is shown compact and cut to 80 characters: the words before the cut."""
    text = shorten(value, 80)
    words = md.visible(text).split()
    shows(page, " ".join(words[:-1] if text.endswith("…") else words))


# -- hostile inputs ---------------------------------------------------------------------------

HOSTILE = [
    "``",
    "`",
    "```",
    "~~~",
    "<img src=x onerror=alert(1)>",
    '<a href="https://evil.example">click</a>',
    "<script>alert(1)</script>",
    "[docs](https://evil.example/phish)",
    "![pixel](https://evil.example/p.png)",
    "[ref]: https://evil.example",
    "<https://evil.example>",
    "https://evil.example/x?y=1",
    "www.evil.example",
    "javascript:alert(1)",
    "@someone",
    "@org/team",
    "ana@example.com",
    "#12",
    "GH-34",
    "owner/repo#56",
    "&#64;someone",
    "&lt;img&gt;",
    "&#x202E;",
    "\u202e",
    "\u202d",
    "\u2066",
    "\u2069",
    "\u200e",
    "\u200f",
    "\u200b",
    "\u2060",
    "\ufeff",
    "\x00",
    "\x1b[31m",
    "\x85",
    "\u2028",
    "\r",
    "\r\n",
    "\n",
    "\n\n",
    "|",
    "| a | b |\n|---|---|",
    "</summary>",
    "</details>",
    "<details>",
    "<!--",
    "</code>",
    "    ",
    "\t",
    "- ",
    "1. ",
    "# ",
    "> ",
    "---",
    "===",
    "***",
    "~~",
    "**",
    "_",
    "$x^2$",
    "\\",
    ":smile:",
]

hostile_text = st.lists(st.sampled_from(HOSTILE) | st.text(max_size=4), min_size=0, max_size=5).map(
    "".join
) | st.text(max_size=12)
hostile_value = (
    hostile_text
    | st.dictionaries(hostile_text, hostile_text, max_size=2)
    | st.lists(hostile_text, max_size=2)
)


# -- the pieces -------------------------------------------------------------------------------


@pytest.mark.parametrize("content", HOSTILE)
def test_code_span_cannot_be_closed_or_left(content: str) -> None:
    page = rendered(f"- a {md.code(content)} b")
    assert "".join(page.prose).split() == ["a", "b"]
    assert page.code == [md.one_line(md.visible(content))]
    shows(page, content)


@given(st.text())
def test_code_span_holds_any_text(content: str) -> None:
    page = rendered(f"- a {md.code(content)} b")
    assert "".join(page.prose).split() == ["a", "b"]  # all of it inside the one code element
    assert page.code == [md.one_line(md.visible(content)) or " "]


@given(hostile_text)
def test_text_is_shown_as_itself(content: str) -> None:
    page = rendered(f"- a: {md.text(md.one_line(content))}")
    expected = md.one_line(md.visible(content))
    assert " ".join("".join(page.text).split()) == " ".join(f"a: {expected}".split())


@given(hostile_text, hostile_text)
def test_html_text_and_table_cell(name: str, cell: str) -> None:
    markdown = (
        f"<details>\n<summary><code>{md.html_text(name)}</code>: wording</summary>\n\n"
        f"| Dialogue | Note |\n| --- | ---: |\n| {md.table_cell(name)} | {md.table_cell(cell)} |"
        "\n\n</details>\n"
    )
    page = rendered(markdown, WITH_TABLES)
    assert page.tags.count("td") == 2  # the cells stay two
    shows(page, name)
    shows(page, cell)


@given(hostile_text)
def test_fence_cannot_be_closed(content: str) -> None:
    tokens = COMMONMARK.parse(md.fence(content) + "\n\nafter")
    assert [t.type for t in tokens][:1] == ["fence"]
    assert tokens[0].content.rstrip("\n") == md.visible(content).rstrip("\n")
    assert tokens[-2].content == "after"


def test_visible_names_invisible_characters() -> None:
    assert md.visible("a\u202eb\u2066c\u200bd\x00e\x85f\u2028") == (
        "a<U+202E>b<U+2066>c<U+200B>d<U+0000>e<U+0085>f<U+2028>"
    )
    assert md.visible("tab\tnew\r\nline\rx é 日本 🙂") == "tab\tnew\nline<U+000D>x é 日本 🙂"


def test_words_github_would_link_go_in_code_spans() -> None:
    assert md.text("ask @someone at https://evil.example or see #12 and www.x.example") == (
        "ask `@someone` at `https://evil.example` or see `#12` and `www.x.example`"
    )
    assert md.text("1 < 2 & `x` *y* [z](u) $m$ #tag") == (
        "1 \\< 2 \\& \\`x\\` \\*y\\* \\[z\\](u) \\$m\\$ \\#tag"
    )


# -- the golden diff (the PR comment), every field hostile --------------------------------------


def fields_of(values: list[Any], paths: list[str]) -> list[FieldChange]:
    return [
        FieldChange(path=paths[0], change="changed", old=values[0], new=values[1]),
        FieldChange(path=paths[1], change="added", new=values[2]),
        FieldChange(path=paths[2], change="removed", old=values[3]),
    ]


@st.composite
def hostile_reports(draw: st.DrawFn) -> tuple[GoldenDiffReport, list[str], list[Any]]:
    """A report with every kind of change and every string field drawn from hostile text.
    Returns it with the texts and JSON values that must show in the rendering."""
    shown = draw(st.lists(hostile_text, min_size=31, max_size=31))
    values = draw(st.lists(hostile_value, min_size=11, max_size=11))
    n_behaviour, n_wording, n_added, n_removed, n_cassette, n_unchanged = shown[0:6]
    tool, other_tool, *paths = shown[6:11]
    old_reply, new_reply, old_user, new_user, old_out, new_out = shown[11:17]
    status_a, status_b, field, message, subject = shown[17:22]
    err_type, err_code, err_message, note = shown[22:26]
    summary_user, summary_reply, summary_tool, ref, label = shown[26:31]
    unrecorded = summary_tool
    changes: list[TurnChange] = [
        ToolCallAdded(tool=tool, occurrence=1, arguments=values[0], output=values[1]),
        ToolCallRemoved(tool=other_tool, occurrence=2, arguments=values[2], output=None),
        ToolOrderChanged(old=[f"{tool} #1", f"{other_tool} #1"], new=[f"{other_tool} #1", tool]),
        ToolArgumentsChanged(tool=tool, occurrence=1, fields=fields_of(values[3:7], paths)),
        ToolOutputChanged(
            tool=tool, occurrence=1, format="text", text_diff=word_diff(old_out, new_out)
        ),
        ToolOutputChanged(
            tool=other_tool, occurrence=1, format="json", fields=fields_of(values[7:11], paths)
        ),
        ToolStatusChanged(tool=tool, occurrence=1, item="call", old=status_a, new=status_b),
        ReplyChanged(old=old_reply, new=new_reply, word_diff=word_diff(old_reply, new_reply)),
        UsageChanged(field=field, old=1, new=2.5, change_percent=150.0),
        UserChanged(old=old_user, new=new_user, word_diff=word_diff(old_user, new_user)),
        ExpectationBroken(message=message),
        ErrorChanged(old=None, new={"type": err_type, "code": err_code, "message": err_message}),
        ExpectChanged(fields=fields_of(values[3:7], paths)),
        TraceChanged(subject=subject, fields=fields_of(values[7:11], paths)),
    ]
    for change in changes:
        change.category = "behaviour"
    turns = [
        TurnDiff(turn=1, status="changed", changes=changes),
        TurnDiff(
            turn=2,
            status="added",
            summary=TurnSummary(user=summary_user, tools=[summary_tool], reply=summary_reply),
        ),
    ]
    settings_change = ScriptSettingsChanged(fields=fields_of(values[3:7], paths))
    counts = Counts(base=3, head=4)

    def dialogue(name: str, status: Any, **kwargs: Any) -> DialogueDiff:
        return DialogueDiff(
            name=name,
            status=status,
            cassette="changed",
            cassette_requests=counts,
            turn_count=counts,
            **kwargs,
        )

    dialogues = [
        dialogue(
            n_behaviour,
            "changed",
            headline="behaviour",
            changes=[TurnCountChanged(old=3, new=4), settings_change],
            turns=turns,
            notes=[note],
        ),
        dialogue(
            n_wording,
            "changed",
            headline="wording",
            similarity=0.5,
            turns=[TurnDiff(turn=1, status="changed", changes=changes[7:8])],
        ),
        dialogue(n_added, "added", turns=turns[1:]),
        dialogue(n_removed, "removed"),
        dialogue(n_cassette, "cassette_only"),
        dialogue(n_unchanged, "unchanged", notes=[note]),
    ]
    report = GoldenDiffReport(
        base=RevisionInfo(ref=ref, commit="0123456789abcdef", label=ref),
        head=RevisionInfo(
            ref=None, commit="fedcba9876543210", label=label, unrecorded=[unrecorded]
        ),
        usage_threshold_percent=10,
        changed=True,
        behaviour_changed=[n_behaviour],
        summary=Summary(added=1, removed=1, changed=2, cassette_only=1, unchanged=1),
        dialogues=dialogues,
    )
    # Word diffs interleave old and new: each piece of them must show.
    pieces = [
        segment.text
        for change in changes
        for segment in getattr(change, "word_diff", getattr(change, "text_diff", []))
    ]
    return report, [*shown[:11], *shown[17:], *pieces], values


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hostile_reports())
def test_golden_diff_markdown_is_safe_for_any_content(
    drawn: tuple[GoldenDiffReport, list[str], list[Any]],
) -> None:
    report, texts, values = drawn
    markdown = render_markdown(report)
    assert rendered(markdown, WITH_TABLES).tags.count("table") == 1  # content makes no table
    page = rendered(markdown)
    for text in texts:
        shows(page, text)
    for value in values:
        shows_value(page, value)


def test_unchanged_report_is_safe() -> None:
    hostile = "x``<img src=x onerror=alert(1)>``@someone\u202e"
    report = GoldenDiffReport(
        base=RevisionInfo(ref=hostile, commit="0123456789", label=hostile),
        head=RevisionInfo(ref=None, commit=None, label="the working tree", unrecorded=[hostile]),
        usage_threshold_percent=10,
        changed=False,
        summary=Summary(unchanged=1),
        dialogues=[],
    )
    page = rendered(render_markdown(report))
    shows(page, hostile)


# -- the drift check's job summary ----------------------------------------------------------------


@settings(max_examples=100, deadline=None)
@given(st.lists(hostile_text, min_size=12, max_size=12))
def test_check_report_markdown_is_safe_for_any_content(texts: list[str]) -> None:
    name_a, name_b, name_c, name_d, detail, summary, old, new, other, target, new_d, fail_d = texts
    behaviour = DialogueClassification(
        dialogue=name_a,
        changes=[
            ClassifiedChange(turn=2, category="behaviour", kind="tool_call_added", summary=summary),
            ClassifiedChange(
                turn=3, category="wording", kind="reply_changed", summary=other, old=old, new=new
            ),
        ],
    )
    wording = DialogueClassification(
        dialogue=name_b,
        changes=[
            ClassifiedChange(
                turn=1,
                category="wording",
                kind="reply_changed",
                summary=other,
                similarity=0.4,
                old=new,
                new=old,
            )
        ],
    )
    outcomes = [
        DialogueOutcome(name=name_a, turns_total=3, status="changed", classification=behaviour),
        DialogueOutcome(name=name_b, turns_total=1, status="reworded", classification=wording),
        DialogueOutcome(name=name_c, turns_total=1, status="failed", detail=fail_d),
        DialogueOutcome(name=name_d, turns_total=1, status="new", detail=new_d),
        DialogueOutcome(name=detail, turns_total=1, status="cancelled", detail=detail),
    ]
    markdown = check_report.render_markdown(outcomes, target, strict=False)
    assert rendered(markdown, WITH_TABLES).tags.count("table") == 1
    page = rendered(markdown)
    pieces = [s.text for diff in (word_diff(old, new), word_diff(new, old)) for s in diff]
    for text in [*texts[:6], *texts[8:], *pieces]:
        shows(page, text)


def test_check_report_of_real_classifications_is_safe() -> None:
    """Summaries as the classifier writes them, from hostile snapshots."""
    turns = order_lookup_turns()
    changed = order_lookup_turns()
    changed[1]["calls"] = [
        ("get_customer_orders", {"email": "``<img src=x onerror=alert(1)>`` @someone"}, {})
    ]
    changed[1]["user"] = "ping @maintainer \u202eevil"
    changed[2]["reply"] = "See [this](https://evil.example) <script>x</script> #1 \u2066"
    classification = classify_snapshots(
        "order_lookup", snapshot_of("x", turns), snapshot_of("x", changed)
    )
    outcome = DialogueOutcome(
        name="order_lookup", turns_total=3, status="changed", classification=classification
    )
    markdown = check_report.render_markdown([outcome], "local Foundry emulator", strict=False)
    page = rendered(markdown)
    assert "<img src=x onerror=alert(1)>" in page.visible
    assert "<U+2066>" in page.visible  # the reply, in its word diff
    assert "\\u202eevil" in page.visible and "@maintainer" in page.visible  # repr()'d


# -- end to end: `foundry-goldens diff` on a pull request with hostile goldens ------------------

HOSTILE_NAME = "a``<img src=x onerror=alert(1)>``"
HOSTILE_USER = "Hi @octocat, see https://evil.example and #1\u202eexe.txt"
HOSTILE_ARGUMENT = "`` <img src=x onerror=alert(1)> ``[click](https://evil.example)"
HOSTILE_REPLY = (
    "Done ``</code><img src=x onerror=alert(document.cookie)>``\n\n"
    "[reset your password](https://evil.example/login) <a href=//evil.example>here</a>\n"
    "# cc @security-team \u2066\u200b &#64;admin\n"
    "- item\n1. item\n---\n    indented <b>code</b>"
)


def test_foundry_goldens_diff_end_to_end_with_hostile_goldens(tmp_path: Path) -> None:
    repo = GoldenRepo(tmp_path / "repo")
    repo.write("order_lookup", order_lookup_turns())
    repo.write("greeting", [{"user": "Hello!", "reply": "Hello!", "usage": (120, 9)}])
    repo.commit("Record goldens")

    turns = order_lookup_turns()
    turns[0]["user"] = HOSTILE_USER
    turns[1]["calls"] = [("get_customer_orders", {"email": HOSTILE_ARGUMENT}, {"ok": True})]
    turns[2]["reply"] = HOSTILE_REPLY
    repo.write("order_lookup", turns)
    repo.write(
        HOSTILE_NAME,
        [{"user": HOSTILE_USER, "reply": HOSTILE_REPLY, "usage": (1, 1)}],
        description=HOSTILE_REPLY,
    )
    repo.write("greeting", [{"user": "Hello!", "reply": HOSTILE_REPLY, "usage": (120, 9)}])

    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "foundry_goldens",
            "diff",
            "--repo",
            str(repo.root),
            "--base",
            "HEAD",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stderr
    markdown = completed.stdout
    page = rendered(markdown)
    assert f"### {md.code(HOSTILE_NAME)}: added" in markdown
    for content in (HOSTILE_NAME, HOSTILE_USER, HOSTILE_REPLY):
        shows(page, content)
    assert "<img src=x onerror=alert(1)>" in page.visible  # as text, for the reviewer
    assert "<U+202E>exe.txt" in page.visible

    # The same report through the library: the reply changed in two dialogues, one collapsed.
    report = diff_goldens(repo.root, base="HEAD")
    assert {d.headline for d in report.dialogues if d.status == "changed"} >= {"behaviour"}
    assert render_markdown(report) == markdown
