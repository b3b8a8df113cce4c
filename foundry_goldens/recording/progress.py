"""What a recording run shows a person: a live line per running dialogue, then a summary table."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

# The width of output that is not a terminal (a CI log, a pipe, a file): wide enough that rich
# never breaks a line, since a path or message split at its guessed 80 columns (or COLUMNS)
# can no longer be searched for or copied. Nothing here pads lines to the width.
UNWRAPPED_WIDTH = 100_000


def make_console(*, stderr: bool = False) -> Console:
    """A console for stdout (or stderr) that wraps only in an interactive terminal: in CI
    (CI=true) or when the stream is not a terminal, lines are never broken, whatever COLUMNS
    says, and tables are laid out as wide as their content."""
    console = Console(stderr=stderr)
    ci = os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")
    # rich counts FORCE_COLOR as a terminal; it asks for colour, not for a terminal's width.
    colour_on_a_pipe = bool(os.environ.get("FORCE_COLOR")) and not _isatty(console.file)
    if console.is_terminal and not ci and not colour_on_a_pipe:
        return console
    return Console(stderr=stderr, width=UNWRAPPED_WIDTH, soft_wrap=True)


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no such method, or a closed stream
        return False


@dataclass
class DialogueOutcome:
    name: str
    turns_total: int
    turns_done: int = 0
    # recorded | unchanged | changed | new | failed | cancelled
    status: str = "pending"
    detail: str = ""
    seconds: float = 0.0
    report: list[str] = field(default_factory=list)
    classification: Any = None  # --check: a foundry_goldens.review.classify.DialogueClassification

    @property
    def ok(self) -> bool:
        return self.status in ("recorded", "unchanged", "reworded")


class ProgressReporter(Protocol):
    def started(self, name: str, turns: int) -> None: ...
    def turn_done(self, name: str, turn: int) -> None: ...
    def finished(self, outcome: DialogueOutcome) -> None: ...


class SilentProgress:
    def started(self, name: str, turns: int) -> None:
        pass

    def turn_done(self, name: str, turn: int) -> None:
        pass

    def finished(self, outcome: DialogueOutcome) -> None:
        pass


class _RedrawnByItsThread(Progress):
    """rich redraws the whole table on every add_task, from the caller's thread: with 100
    dialogues that is half of a recording's CPU. The live display's thread redraws it a few
    times a second anyway (and once more when it stops)."""

    def refresh(self) -> None:
        if not self.live.auto_refresh:
            super().refresh()


class RichProgress:
    """A row per dialogue while it records, advanced turn by turn, and one for the whole run
    (thread-safe: rich locks itself). A dialogue recorded without trouble leaves the live
    display (the summary table lists it); a failed one stays. Redrawing costs in proportion to
    the rows: with 100 dialogues on screen it takes most of a core."""

    REFRESH_PER_SECOND = 2

    def __init__(self, console: Console) -> None:
        self._progress = _RedrawnByItsThread(
            TextColumn("{task.fields[name]:<28}"),
            BarColumn(bar_width=24),
            MofNCompleteColumn(),
            TextColumn("{task.fields[unit]}"),
            TextColumn("{task.fields[status]}"),
            TimeElapsedColumn(),
            console=console,
            refresh_per_second=self.REFRESH_PER_SECOND,
        )
        self._tasks: dict[str, TaskID] = {}
        self._lock = threading.Lock()
        self._run = self._progress.add_task(
            "run", total=0, name="dialogues", unit="done", status=""
        )

    def __enter__(self) -> RichProgress:
        self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()

    def started(self, name: str, turns: int) -> None:
        with self._lock:
            self._tasks[name] = self._progress.add_task(
                name, total=turns, name=name, unit="turns", status="recording"
            )
            total = self._progress.tasks[self._run].total or 0
            self._progress.update(self._run, total=total + 1)

    def turn_done(self, name: str, turn: int) -> None:
        task = self._tasks[name]
        # Its last turn done, the dialogue has milliseconds of writing left: its row leaves
        # (a failure brings it back), so the live table holds what is still running.
        self._progress.update(
            task, completed=turn, visible=turn < (self._progress.tasks[task].total or 0)
        )

    def finished(self, outcome: DialogueOutcome) -> None:
        colour = "green" if outcome.ok else "red"
        self._progress.update(
            self._tasks[outcome.name],
            completed=outcome.turns_done,
            status=f"[{colour}]{outcome.status}[/]",
            visible=not outcome.ok,
        )
        self._progress.advance(self._run)


STATUS_STYLE = {
    "recorded": "green",
    "unchanged": "green",
    "reworded": "cyan",
    "changed": "yellow",
    "new": "yellow",
    "failed": "red",
    "cancelled": "red",
}


def summary_table(
    outcomes: Iterable[DialogueOutcome], title: str, redact: Callable[[str], str] = str
) -> Table:
    """One row per dialogue; ``redact`` (a ``redaction.redactor.Redactor``) masks the details."""
    table = Table(title=title)
    table.add_column("dialogue")
    table.add_column("turns", justify="right")
    table.add_column("status")
    table.add_column("seconds", justify="right")
    table.add_column("detail", overflow="fold")
    for outcome in outcomes:
        style = STATUS_STYLE.get(outcome.status, "")
        table.add_row(
            outcome.name,
            f"{outcome.turns_done}/{outcome.turns_total}",
            f"[{style}]{outcome.status}[/]" if style else outcome.status,
            f"{outcome.seconds:.2f}",
            # A detail is text, not markup: "[the ...]" in it would vanish as a rich tag.
            escape(redact(outcome.detail)),
        )
    return table


def print_outcomes(
    console: Console,
    outcomes: list[DialogueOutcome],
    *,
    check: bool,
    redact: Callable[[str], str] = str,
    report: Sequence[str] | None = None,
    errors: Console | None = None,
) -> None:
    """The summary table and the drift report (``report``'s lines, else each changed
    dialogue's own) on ``console``, and each failure on ``errors`` (default: ``console``), as
    foundry-goldens record prints them; every detail through ``redact`` (the report is
    published)."""
    console.print(summary_table(outcomes, "drift check" if check else "recording", redact))
    if report is not None:
        for line in report:
            console.print(redact(line), highlight=False, markup=False)
    for outcome in outcomes if report is None else ():
        if outcome.report:
            console.print(f"[bold]{outcome.name}[/]")
            for line in outcome.report:
                console.print(f"  {redact(line)}", highlight=False, markup=False)
    for outcome in outcomes:
        if outcome.status in ("failed", "cancelled"):
            (errors or console).print(
                f"[red]failed:[/] {escape(outcome.name)}:",
                escape(redact(outcome.detail)),
                highlight=False,
            )
