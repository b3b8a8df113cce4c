"""A dialogue turn's `expect:` block, checked against what the turn did.

Run while recording, and on replay for every turn not known to hold (its `expect:` block, its
output or these checks changed since recording: goldens/held.py), so `pytest --snapshot-update`
cannot accept an output that breaks the dialogue's own expectations. Tool checks go through
latticeflow-core's agent scorers (FunctionCallCoverage, DisallowedFunctionCalls,
FunctionCallOutput[Not]Contains): a check here means what it means in AI GO!.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from latticeflow.core.dtypes import (
    InputTextContent,
    Message,
    MessageRole,
    MessageStatus,
    OpenResponsesModelOutput,
    SolverTrace,
    Trace,
)
from latticeflow.core.experimental.scorers import (
    DisallowedFunctionCalls,
    FunctionCallCoverage,
    FunctionCallOutputContains,
    FunctionCallOutputNotContains,
    ScorerBase,
)

from foundry_goldens.goldens import scorer_templates
from foundry_goldens.goldens.dialogues import (
    ExpectedCall,
    ToolCallExpectation,
    Turn,
    TurnExpectations,
)
from foundry_goldens.goldens.refusals import is_refusal

scorer_templates.install()


@dataclass(frozen=True)
class BrokenExpectation:
    """One `expect` key that does not hold; `key` is as written in the dialogue file."""

    key: str
    message: str

    def __str__(self) -> str:
        return f"expect.{self.key}: {self.message}"


@dataclass(frozen=True)
class TurnFacts:
    """What a turn did, as the checks need it (from a live result or a snapshot turn)."""

    user: str
    items: Sequence[Any]  # Open Responses items (latticeflow models) of the turn's output
    reply: str
    prompt_tokens: int | None
    completion_tokens: int | None
    error_code: str | None = None
    error_message: str | None = None

    @property
    def failed(self) -> bool:
        return self.error_code is not None or self.error_message is not None


class _LazyTrace:
    """The turn's trace for the scorers, built when a check first needs it: building it is
    most of a check's cost, and a turn that checks no tool needs none."""

    def __init__(self, facts: TurnFacts) -> None:
        self._facts = facts
        self._trace: SolverTrace | None = None

    def get(self) -> SolverTrace:
        if self._trace is None:
            self._trace = _solver_trace(self._facts)
        return self._trace


def _score(scorer: ScorerBase, lazy: _LazyTrace) -> dict[str, Any]:
    # The agent scorers compute without awaiting anything: stepping the coroutine once finishes
    # it, where asyncio.run (a new event loop per check) was a tenth of a replayed turn.
    trace = lazy.get()
    coroutine = scorer.ascore({}, trace)
    try:
        coroutine.send(None)
    except StopIteration as done:
        return dict(done.value.values)
    coroutine.close()  # one that does await: run it again on an event loop
    return dict(asyncio.run(scorer.ascore({}, trace)).values)


def _solver_trace(facts: TurnFacts) -> SolverTrace:
    # The user message first: latticeflow treats items before it as a preamble and skips them.
    user = Message(
        type="message",
        id="user",
        status=MessageStatus.completed,
        role=MessageRole.user,
        content=[InputTextContent(type="input_text", text=facts.user)],
    )
    return SolverTrace(trace=Trace.from_items([user, *facts.items]), raw_outputs=[])


def _call_entry(call: ExpectedCall) -> str | dict[str, Any]:
    if isinstance(call, str):
        return call
    entry: dict[str, Any] = {"name": call.name}
    if call.arguments is not None:
        entry["arguments"] = call.arguments
    return entry


def _called(facts: TurnFacts) -> list[tuple[str, dict[str, Any] | None]]:
    calls = []
    for item in facts.items:
        if getattr(item, "type", None) == "function_call":
            try:
                arguments = json.loads(item.arguments)
            except (TypeError, ValueError):
                arguments = None
            calls.append((item.name, arguments if isinstance(arguments, dict) else None))
    return calls


def _describe_calls(facts: TurnFacts) -> str:
    made = [f"{name}({json.dumps(args, ensure_ascii=False)})" for name, args in _called(facts)]
    return ", ".join(made) or "none"


def _coverage(
    key: str,
    calls: list[ExpectedCall],
    mode: Literal["any_order", "in_order"],
    trace: _LazyTrace,
    facts: TurnFacts,
) -> list[BrokenExpectation]:
    if not calls:
        return []
    scorer = FunctionCallCoverage(
        function_calls=json.dumps([_call_entry(c) for c in calls]), mode=mode
    )
    if _score(scorer, trace)["all_required_calls_made"]:
        return []
    wanted = ", ".join(
        c if isinstance(c, str) else json.dumps(_call_entry(c), ensure_ascii=False) for c in calls
    )
    order = " in this order" if mode == "in_order" else ""
    return [BrokenExpectation(key, f"expected {wanted}{order}; called: {_describe_calls(facts)}")]


def _subsets(key: str, calls: list[ExpectedCall], facts: TurnFacts) -> list[BrokenExpectation]:
    broken = []
    made = _called(facts)
    for call in calls:
        if not isinstance(call, ToolCallExpectation) or call.arguments_include is None:
            continue
        wanted = call.arguments_include
        if not any(
            name == call.name
            and args is not None
            and all(args.get(k) == v for k, v in wanted.items())
            for name, args in made
        ):
            broken.append(
                BrokenExpectation(
                    key,
                    f"no {call.name} call with arguments including "
                    f"{json.dumps(wanted, ensure_ascii=False)}; called: {_describe_calls(facts)}",
                )
            )
    return broken


def _tool_checks(expect: TurnExpectations, facts: TurnFacts) -> list[BrokenExpectation]:
    trace = _LazyTrace(facts)
    broken: list[BrokenExpectation] = []
    broken += _coverage("tools", list(expect.tools), "any_order", trace, facts)
    broken += _coverage("calls", list(expect.calls), "any_order", trace, facts)
    broken += _subsets("calls", list(expect.calls), facts)
    broken += _coverage("calls_in_order", list(expect.calls_in_order), "in_order", trace, facts)
    broken += _subsets("calls_in_order", list(expect.calls_in_order), facts)
    if expect.tools_not_called:
        scorer = DisallowedFunctionCalls(function_calls=json.dumps(expect.tools_not_called))
        if not _score(scorer, trace)["no_disallowed_calls_made"]:
            broken.append(
                BrokenExpectation(
                    "tools_not_called",
                    f"must not call {', '.join(expect.tools_not_called)}; "
                    f"called: {_describe_calls(facts)}",
                )
            )
    for tool, patterns in expect.tool_output_contains.items():
        for pattern in patterns:
            contains = FunctionCallOutputContains(function_name=tool, pattern=pattern)
            if not _score(contains, trace)["is_correct"]:
                broken.append(
                    BrokenExpectation(
                        f"tool_output_contains.{tool}", f"no output of {tool} matches {pattern!r}"
                    )
                )
    for tool, patterns in expect.tool_output_not_contains.items():
        for pattern in patterns:
            not_scorer = FunctionCallOutputNotContains(function_name=tool, pattern=pattern)
            if not _score(not_scorer, trace)["is_correct"]:
                broken.append(
                    BrokenExpectation(
                        f"tool_output_not_contains.{tool}",
                        f"an output of {tool} matches {pattern!r}",
                    )
                )
    return broken


def _reply_checks(expect: TurnExpectations, facts: TurnFacts) -> list[BrokenExpectation]:
    reply, broken = facts.reply, []
    for text in expect.reply_contains:
        if text not in reply:
            broken.append(
                BrokenExpectation("reply_contains", f"{text!r} not in the reply {reply!r}")
            )
    for text in expect.reply_not_contains:
        if text in reply:
            broken.append(BrokenExpectation("reply_not_contains", f"{text!r} is in the reply"))
    for pattern in expect.reply_matches:
        if not re.search(pattern, reply):
            broken.append(
                BrokenExpectation(
                    "reply_matches", f"{pattern!r} does not match the reply {reply!r}"
                )
            )
    for pattern in expect.reply_not_matches:
        if re.search(pattern, reply):
            broken.append(BrokenExpectation("reply_not_matches", f"{pattern!r} matches the reply"))
    if expect.refusal is not None and is_refusal(reply) != expect.refusal:
        said = "is not a refusal" if expect.refusal else "is a refusal"
        broken.append(BrokenExpectation("refusal", f"the reply {said}: {reply!r}"))
    return broken


def _token_checks(expect: TurnExpectations, facts: TurnFacts) -> list[BrokenExpectation]:
    bounds = (
        ("max_prompt_tokens", facts.prompt_tokens, expect.max_prompt_tokens, False),
        ("max_completion_tokens", facts.completion_tokens, expect.max_completion_tokens, False),
        ("min_completion_tokens", facts.completion_tokens, expect.min_completion_tokens, True),
    )
    broken = []
    for key, value, bound, is_min in bounds:
        if bound is None:
            continue
        if value is None:
            broken.append(BrokenExpectation(key, "the output reports no usage"))
        elif (value < bound) if is_min else (value > bound):
            broken.append(BrokenExpectation(key, f"{value} tokens, bound {bound}"))
    return broken


def _error_checks(expect: TurnExpectations, facts: TurnFacts) -> list[BrokenExpectation]:
    wanted = expect.error
    if wanted is None:
        if facts.failed:
            return [
                BrokenExpectation(
                    "error", f"the turn failed ({facts.error_code}: {facts.error_message})"
                )
            ]
        return []
    if not facts.failed:
        return [
            BrokenExpectation("error", f"expected the turn to fail, it replied {facts.reply!r}")
        ]
    broken = []
    if wanted.code is not None and facts.error_code != wanted.code:
        broken.append(
            BrokenExpectation("error.code", f"expected {wanted.code!r}, got {facts.error_code!r}")
        )
    if wanted.message_contains is not None and wanted.message_contains not in (
        facts.error_message or ""
    ):
        broken.append(
            BrokenExpectation(
                "error.message_contains",
                f"{wanted.message_contains!r} not in {facts.error_message!r}",
            )
        )
    return broken


def evaluate(turn: Turn, facts: TurnFacts) -> list[BrokenExpectation]:
    """Every expectation of the turn that does not hold (empty: all hold)."""
    expect = turn.expect
    broken = _error_checks(expect, facts)
    if facts.failed:
        return broken
    return [
        *broken,
        *_tool_checks(expect, facts),
        *_reply_checks(expect, facts),
        *_token_checks(expect, facts),
    ]


def facts_from_snapshot_turn(turn: Mapping[str, Any]) -> TurnFacts:
    """TurnFacts of a snapshot turn (docs/contracts.md), e.g. a fresh recording under --check."""
    error = turn.get("error")
    output_data = turn.get("output") or {"items": []}
    output = OpenResponsesModelOutput.model_validate(output_data)
    texts = [
        "".join(getattr(part, "text", "") or "" for part in item.content)
        for item in output.items
        if isinstance(item, Message) and item.role == MessageRole.assistant
    ]
    usage = output.usage
    return TurnFacts(
        user=str(turn.get("user") or ""),
        items=list(output.items),
        reply=texts[-1] if texts else "",
        prompt_tokens=usage.num_prompt_tokens if usage else None,
        completion_tokens=usage.num_completion_tokens if usage else None,
        error_code=(error.get("code") or "") if isinstance(error, dict) else None,
        error_message=(error.get("message") or "") if isinstance(error, dict) else None,
    )
