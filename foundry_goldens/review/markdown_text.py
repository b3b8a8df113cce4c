"""Untrusted text in Markdown: golden content (user text, replies, tool names, arguments, outputs,
dialogue names, error messages) comes from pull requests by anyone, and the reports that quote
it become PR comments and job summaries, rendered by GitHub (CommonMark with HTML, autolinks,
@mentions and #references).

Every piece of content goes through one of these before it meets Markdown:

- `code(text)`: an inline code span no content can close (its backtick run is longer than any
  inside), on one line;
- `text(text)`, `inline(text)` (on one line): prose, every Markdown character escaped, HTML
  (and entities) too; a word that GitHub would turn into a link, a mention or a reference
  (`@user`, `a@b.c`, `https://...`, `www....`, `#12`, `GH-12`) is put in a code span, where
  GitHub links nothing; `line_start` for prose that begins a line;
- `html_text(text)`: for the inside of raw HTML (a `<summary>` line);
- `table_cell(text)`, `fence(text)`: a GFM table cell, a fenced code block.

All of them first make invisible characters visible (`visible`): bidi overrides and isolates,
marks, zero-width characters, C0/C1 controls and other format characters become `<U+202E>`.
"""

from __future__ import annotations

import html
import re
import unicodedata

NEWLINE_MARK = " ⏎ "

# Invisible, though neither a control nor a format character (Hangul fillers, the combining
# grapheme joiner, Khmer inherent vowels).
_INVISIBLE = frozenset({0x034F, 0x115F, 0x1160, 0x17B4, 0x17B5, 0x3164, 0xFFA0})
_HIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
_CANDIDATE = re.compile(r"[^\t\n\x20-\x7e]")


def _show(match: re.Match[str]) -> str:
    char = match.group()
    if unicodedata.category(char) in _HIDDEN_CATEGORIES or ord(char) in _INVISIBLE:
        return f"<U+{ord(char):04X}>"
    return char


def visible(text: str) -> str:
    """`text` with every control, format, bidi, zero-width or line/paragraph separator
    character shown as `<U+XXXX>`; tabs and newlines stay (a CRLF becomes a newline)."""
    return _CANDIDATE.sub(_show, text.replace("\r\n", "\n"))


def one_line(text: str) -> str:
    """Line breaks shown as ⏎, for places where a newline would end the Markdown construct."""
    return text.replace("\r\n", "\n").replace("\n", NEWLINE_MARK)


_BACKTICKS = re.compile(r"`+")


def code(text: str, *, in_table: bool = False) -> str:
    """An inline code span showing `text` literally, on one line, whatever it holds."""
    body = one_line(visible(text))
    if in_table:  # GFM splits table cells at `|` even inside code; `\|` is a literal pipe there
        body = body.replace("|", "\\|")
    if not body:
        return "` `"
    longest = max((len(run) for run in _BACKTICKS.findall(body)), default=0)
    ticks = "`" * (longest + 1)
    # One space each side is stripped when both are there: pad so that a backtick at an end
    # cannot join the fence and that spaces at both ends survive.
    if body[0] == "`" or body[-1] == "`" or (body[0] == body[-1] == " " and body.strip(" ")):
        body = f" {body} "
    return f"{ticks}{body}{ticks}"


# Characters that start Markdown (or HTML, entities, GitHub's math) anywhere in a line.
_SPECIAL = re.compile(r"([\\`*_~\[\]<>|#&$])")
# A word GitHub would link: a mention, an e-mail address, a URL, an issue or PR reference.
_LINKY = re.compile(r"@|://|www\.|#\d|gh-\d", re.IGNORECASE)
_WORDS = re.compile(r"\s+|\S+")


def escape(text: str) -> str:
    """Backslash escapes for the characters that start Markdown or HTML mid-line (no more:
    links, mentions and line starts are `text`'s and `line_start`'s job)."""
    return _SPECIAL.sub(r"\\\1", text)


def text(value: str, *, in_table: bool = False) -> str:
    """`value` as Markdown prose that renders as exactly its (visible) characters: escaped, and
    each word GitHub would link put in a code span. Newlines are kept (see `one_line`)."""
    return "".join(
        code(word, in_table=in_table) if _LINKY.search(word) else escape(word)
        for word in _WORDS.findall(visible(value))
    )


def inline(value: str) -> str:
    """`value` as prose on one line: line breaks shown as ⏎, whitespace at its ends dropped (the
    page shows none, and after a list marker it would start an indented code block)."""
    return text(one_line(visible(value)).strip())


_LIST_OR_UNDERLINE = re.compile(r"(\d{1,9})([.)])|[-+=]")


def line_start(line: str) -> str:
    """A line of escaped prose that may start a Markdown line: no indented code, list item,
    setext underline or thematic break made of its first characters."""
    line = line.lstrip()
    match = _LIST_OR_UNDERLINE.match(line)
    if match is None:
        return line
    if match.group(1):
        return f"{match.group(1)}\\{line[match.end(1) :]}"
    return f"\\{line}"


def html_text(value: str) -> str:
    """`value` for the inside of a raw HTML element (GitHub renders no Markdown there)."""
    return html.escape(one_line(visible(value)), quote=True)


def table_cell(value: str) -> str:
    """`value` as the content of a GFM table cell: one line, pipes escaped."""
    return text(one_line(visible(value)).strip(), in_table=True)


def fence(value: str, info: str = "") -> str:
    """A fenced code block holding `value` verbatim (invisible characters shown): its fence is
    longer than any backtick run inside, so the content cannot close it."""
    body = visible(value)
    longest = max((len(run) for run in _BACKTICKS.findall(body)), default=0)
    ticks = "`" * max(3, longest + 1)
    info = one_line(visible(info)).replace("`", "")
    return f"{ticks}{info}\n{body}\n{ticks}" if body else f"{ticks}{info}\n{ticks}"
