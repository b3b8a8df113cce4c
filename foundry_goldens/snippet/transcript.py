"""Driven turns written out: as a readable transcript (user text, tool calls with outputs, the
reply), and as the snapshot document (normalize_dialogue)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from latticeflow.core.dtypes import FunctionCall, FunctionCallOutput
from rich.console import Console
from rich.markup import escape

from foundry_goldens.goldens.normalization import Aliases, normalize_output
from foundry_goldens.snippet.driver import TurnResult

MAX_OUTPUT = 120


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_OUTPUT else text[: MAX_OUTPUT - 1] + "…"


def print_transcript(console: Console, turns: Iterable[TurnResult]) -> None:
    for turn in turns:
        console.print(
            f"[bold cyan]turn {turn.number} user:[/] {escape(turn.user)}", highlight=False
        )
        for item in turn.output.items:
            if isinstance(item, FunctionCall):
                status = getattr(item.status, "value", item.status)
                console.print(
                    f"  [yellow]tool call[/] {escape(item.name)} "
                    f"{escape(_short(item.arguments))} ({status})",
                    highlight=False,
                )
            elif isinstance(item, FunctionCallOutput):
                output = item.output if isinstance(item.output, str) else str(item.output)
                console.print(f"  [yellow]tool output[/] {escape(_short(output))}", highlight=False)
        usage = turn.output.usage
        tokens = (
            f" [dim]({usage.num_prompt_tokens} in / {usage.num_completion_tokens} out tokens)[/]"
            if usage
            else ""
        )
        console.print(
            f"[bold green]turn {turn.number} agent:[/] {escape(turn.reply)}{tokens}",
            highlight=False,
        )
        console.print(f"  [dim]conversation {turn.conversation_id}[/]")


def normalize_dialogue(name: str, turns: Iterable[TurnResult]) -> dict[str, Any]:
    """The snapshot document of docs/contracts.md."""
    aliases = Aliases()
    return {"dialogue": name, "turns": [_normalize_turn(t, aliases) for t in turns]}


def _normalize_turn(turn: TurnResult, aliases: Aliases) -> dict[str, Any]:
    if turn.error is not None:  # a turn that failed as its dialogue expects
        error = {"type": turn.error.type, "code": turn.error.code, "message": turn.error.message}
        return {"turn": turn.number, "user": turn.user, "error": error}
    return {
        "turn": turn.number,
        "user": turn.user,
        "output": normalize_output(turn.output, aliases),
    }
