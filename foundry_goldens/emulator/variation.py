"""The emulator's variation mode: a stand-in for a live model, and behaviour changes to inject.

A live Foundry agent rewords its replies on every run, its token counts move and its parallel
tool calls come back in either order; ids and timestamps are new each time. `Variation(seed)`
does the same to the scripted agents, deterministically per seed, while keeping every fact
(ids, numbers, names, tool calls and their arguments): what differs between seeds is wording,
usage, the order of calls from independent intents, and ids. Off by default (`variation=None`),
so recordings stay byte-identical.

`BehaviourChange` makes the agent really behave differently (a tool dropped, an argument
changed, calls swapped, a refusal, a failed response), for the benchmark that measures whether
the change classifier tells the two apart (benchmarks/live_variation.py).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

from foundry_goldens.emulator.engine import Event, ListTools, Reply, ToolCall

# (pattern, alternatives): each alternative is a `re.sub` replacement with the same facts.
# The first alternative is never the original on purpose only where several fit; any may be.
_PHRASINGS: tuple[tuple[str, tuple[str | Callable[[re.Match[str]], str], ...]], ...] = (
    (
        r"Hello! I'm the Contoso Retail support assistant\.",
        (
            "Hi! I'm the Contoso Retail support assistant.",
            "Hello, this is the Contoso Retail support assistant.",
            "Hi there! You're chatting with the Contoso Retail support assistant.",
        ),
    ),
    (
        r"I can search the catalog, look up and track your orders, and start returns\. "
        r"How can I help\?",
        (
            "I can search our catalog, look up and track orders, and start returns for you. "
            "What can I do for you?",
            "I'm able to search the catalog, look up or track your orders and start returns. "
            "How can I help today?",
        ),
    ),
    (
        r"I found (\d+) (orders?|products?) for",
        (
            r"I found \1 \2 for",
            lambda m: f"There {'is' if m.group(1) == '1' else 'are'} {m.group(1)} {m.group(2)} for",
            r"I see \1 \2 for",
        ),
    ),
    (r"I couldn't find", ("I wasn't able to find", "I did not find", "I couldn't find")),
    (
        r"Could you tell me the email address on your account\?",
        (
            "What's the email address on your account?",
            "Could you give me the email address on your account, please?",
            "Which email address is your account under?",
        ),
    ),
    (
        r"Which order do you mean\? Please give me the order number \(it looks like ORD-1234\)\.",
        (
            "Which order is it about? Please tell me the order number (like ORD-1234).",
            "Could you tell me the order number? It looks like ORD-1234.",
            "Which order do you mean? The order number looks like ORD-1234.",
        ),
    ),
    (
        r"is still being processed and has not shipped yet",
        (
            "is still being processed and hasn't shipped yet",
            "has not shipped yet; it is still being processed",
        ),
    ),
    (r"has shipped with (\S+) and is on its way", (r"is on its way with \1", r"shipped with \1")),
    (r"You're welcome!", ("Happy to help!", "Glad I could help!", "You're welcome!")),
    (
        r"What is the reason for the return\?",
        ("Why would you like to return it?", "What's the reason for the return?"),
    ),
    (r"please try again later", ("please try again in a little while", "please try later")),
)
_OPENERS = ("", "", "Sure. ", "Thanks! ", "Of course. ")
_CLOSERS = ("", "", " Anything else I can help with?", " Let me know if you need anything else.")


def _pick(options: Sequence[object], *key: object) -> object:
    digest = hashlib.sha256("\x1f".join(map(str, key)).encode()).digest()
    return options[int.from_bytes(digest[:4], "big") % len(options)]


@dataclass(frozen=True)
class Variation:
    """How a live model varies, per seed; `where` keys every choice to one reply of one turn."""

    seed: int
    usage_spread: float = 0.04  # token counts move by up to ±4%

    def reword(self, text: str, *where: object) -> tuple[str, int]:
        """The reply in other words with the same facts, and how far text moved at its start."""
        for index, (pattern, alternatives) in enumerate(_PHRASINGS):
            choice = _pick(alternatives, self.seed, "phrase", index, *where)
            text = re.sub(pattern, choice, text)  # type: ignore[call-overload]
        opener = str(_pick(_OPENERS, self.seed, "opener", *where))
        if text.startswith(("Hello", "Hi", "Hallo", "こんにちは", "I'm sorry")):
            opener = ""  # a greeting opens the reply already; no "Sure." before a refusal
        closer = str(_pick(_CLOSERS, self.seed, "closer", *where))
        if "?" in text:
            closer = ""  # it asks a question: no "anything else?" after it
        return opener + text + closer, len(opener)

    def vary_events(self, events: list[Event], *where: object) -> list[Event]:
        varied: list[Event] = []
        for position, event in enumerate(_reorder_parallel(events, self.seed, *where)):
            if isinstance(event, Reply):
                # Citations sit at the end of the text they cite: keep them there.
                text, shift = self.reword(event.text, *where, position)
                if event.citations:
                    text, shift = event.text, 0
                citations = tuple(replace(c, index=c.index + shift) for c in event.citations)
                event = Reply(text, citations)
            varied.append(event)
        return varied

    def vary_usage(self, usage: Mapping[str, Any], *where: object) -> dict[str, Any]:
        def moved(value: object, name: str) -> int:
            if not isinstance(value, int):
                raise TypeError(f"usage {name} is {value!r}, not a token count")
            factor = 1 + (int(str(_pick(range(-100, 101), self.seed, name, *where))) / 100) * (
                self.usage_spread
            )
            return max(1, round(value * factor)) if value else 0

        varied = dict(usage)
        varied["input_tokens"] = moved(usage["input_tokens"], "input")
        varied["output_tokens"] = moved(usage["output_tokens"], "output")
        varied["total_tokens"] = varied["input_tokens"] + varied["output_tokens"]
        return varied


def _reorder_parallel(events: list[Event], seed: int, *where: object) -> list[Event]:
    """Calls of independent intents (e.g. "show my orders and search for cups") are parallel:
    a live model returns them in either order. Calls within one intent stay in order."""
    out: list[Event] = []
    run: list[ToolCall] = []

    def flush() -> None:
        groups: dict[str, list[ToolCall]] = {}
        for call in run:
            groups.setdefault(call.intent, []).append(call)
        ordered = list(groups.values())
        if len(ordered) > 1 and _pick((False, True), seed, "swap", *where, len(out)):
            ordered.reverse()
        out.extend(call for group in ordered for call in group)
        run.clear()

    for event in events:
        if isinstance(event, ToolCall) and event.approval_request_id is None:
            run.append(event)
            continue
        flush()
        out.append(event)
    flush()
    return out


# --- behaviour changes, injected on purpose ---------------------------------------------------

ChangeKind = Literal["drop_tool", "change_argument", "swap_order", "refuse", "error"]
REFUSAL_TEXT = "I'm sorry, but I can't help with that request."


@dataclass(frozen=True)
class BehaviourChange:
    """A real change of the agent's behaviour in one turn (`turn`: the conversation's n-th
    response, 1-based) or in every turn (`turn` None). `tool` names the call it affects
    (drop_tool, change_argument); swap_order reverses the turn's calls."""

    kind: ChangeKind
    tool: str = ""
    turn: int | None = None

    def applies(self, turn: int) -> bool:
        return self.turn is None or self.turn == turn

    def change_events(self, events: list[Event]) -> list[Event]:
        if self.kind == "drop_tool":
            return [e for e in events if not (isinstance(e, ToolCall) and e.name == self.tool)]
        if self.kind == "change_argument":
            return [_changed_argument(e) if _is_call(e, self.tool) else e for e in events]
        if self.kind == "swap_order":
            calls = [e for e in events if isinstance(e, ToolCall)]
            swapped = iter(reversed(calls))
            return [next(swapped) if isinstance(e, ToolCall) else e for e in events]
        if self.kind == "refuse":
            return [*(e for e in events if isinstance(e, ListTools)), Reply(REFUSAL_TEXT)]
        return events  # "error": the response fails (see FoundryProject)

    @property
    def fails_response(self) -> bool:
        return self.kind == "error"


def _is_call(event: Event, tool: str) -> bool:
    return isinstance(event, ToolCall) and event.name == tool


def _changed_argument(event: Event) -> Event:
    if not isinstance(event, ToolCall):
        raise TypeError(f"only a tool call's argument can change, not a {type(event).__name__}")
    name, value = next(iter(event.arguments.items()))
    changed = value.upper() if value.upper() != value else value + "-X"
    return replace(event, arguments={**event.arguments, name: changed})
