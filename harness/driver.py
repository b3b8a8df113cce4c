"""Drives one dialogue through `run_inference`, turn by turn, exactly as AI GO! does.

Each request holds the whole chat so far; every earlier assistant message is
`model_output_to_message` of that turn's output, so the extra `conversation_id` field rides
along as it does in AI GO!. Every turn's output is checked the way AI GO! reads it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from latticeflow.core.dtypes import (
    ChatCompletionInput,
    ChatCompletionInputMessage,
    FunctionCall,
    Message,
    MessageRole,
    OpenResponsesModelOutput,
    model_output_to_message,
)
from pydantic import ValidationError

from harness.dialogues import Dialogue, Turn
from harness.expectations import BrokenExpectation, TurnFacts, evaluate

RunInference = Callable[[str, dict[str, Any]], str]


class TurnFailure(Exception):
    """A turn did not run or broke an invariant; names the dialogue, the turn and the reason."""

    def __init__(self, dialogue: str, turn: int, reason: str) -> None:
        super().__init__(f"{dialogue}, turn {turn}: {reason}")
        self.dialogue = dialogue
        self.turn = turn
        self.reason = reason


class ExpectationFailure(TurnFailure):
    """A turn ran but broke its dialogue's `expect` entries (all of them are listed)."""

    def __init__(self, dialogue: str, turn: int, broken: list[BrokenExpectation]) -> None:
        super().__init__(dialogue, turn, "; ".join(str(b) for b in broken))
        self.broken = broken


@dataclass(frozen=True)
class TurnError:
    """A turn that failed as its dialogue expects (`expect: {error: ...}`)."""

    type: str
    code: str | None
    message: str

    @classmethod
    def of(cls, exc: BaseException) -> TurnError:
        code = getattr(exc, "code", None)
        # FoundryError keeps Foundry's message apart from the request id (which varies).
        message = getattr(exc, "message", None)
        return cls(
            type(exc).__name__,
            str(code) if code is not None else None,
            str(message) if isinstance(message, str) else str(exc),
        )


# What an errored turn leaves as its output: nothing.
EMPTY_OUTPUT = OpenResponsesModelOutput(items=[])


@dataclass(frozen=True)
class TurnResult:
    number: int  # 1-based, as people count turns
    user: str
    request_body: str
    output_json: str
    output: OpenResponsesModelOutput
    error: TurnError | None = None

    @property
    def assistant_message(self) -> Message:
        return _last_assistant_message(self.output)

    @cached_property
    def echo(self) -> Any:
        """This turn's assistant message as AI GO! echoes it in every later request (built
        once: a dialogue's requests repeat all earlier turns)."""
        return model_output_to_message(self.output)

    @property
    def conversation_id(self) -> str:
        if self.error is not None:
            return ""
        return str((self.assistant_message.model_extra or {}).get("conversation_id") or "")

    @property
    def reply(self) -> str:
        if self.error is not None:
            return ""
        return "".join(getattr(part, "text", "") or "" for part in self.assistant_message.content)

    @property
    def tools_called(self) -> list[str]:
        return [item.name for item in self.output.items if isinstance(item, FunctionCall)]


def _last_assistant_message(output: OpenResponsesModelOutput) -> Message:
    for item in reversed(output.items):
        if isinstance(item, Message) and item.role == MessageRole.assistant:
            return item
    raise LookupError("no assistant message")


def build_request_body(previous: list[TurnResult], user_text: str) -> str:
    """The chat-completion body AI GO! sends for the next turn."""
    messages: list[Any] = []
    for turn in previous:
        messages.append(ChatCompletionInputMessage(role="user", content=turn.user))
        if turn.error is None:  # a failed turn leaves no assistant message to echo
            messages.append(turn.echo)
    messages.append(ChatCompletionInputMessage(role="user", content=user_text))
    return ChatCompletionInput(messages=messages).model_dump_json()


def check_turn(dialogue: str, number: int, output_json: str) -> OpenResponsesModelOutput:
    """Parse the output as AI GO! does and require an assistant message with a conversation id."""
    try:
        output = OpenResponsesModelOutput.model_validate_json(output_json)
    except (ValidationError, ValueError) as exc:
        raise TurnFailure(
            dialogue, number, f"output does not parse as OpenResponsesModelOutput: {exc}"
        ) from None
    try:
        message = _last_assistant_message(output)
    except LookupError:
        raise TurnFailure(dialogue, number, "output has no assistant message") from None
    if not (message.model_extra or {}).get("conversation_id"):
        raise TurnFailure(
            dialogue, number, "the assistant message carries no conversation_id extra field"
        )
    return output


def turn_facts(result: TurnResult) -> TurnFacts:
    usage = result.output.usage
    return TurnFacts(
        user=result.user,
        items=list(result.output.items),
        reply=result.reply,
        prompt_tokens=usage.num_prompt_tokens if usage else None,
        completion_tokens=usage.num_completion_tokens if usage else None,
        error_code=result.error.code if result.error else None,
        error_message=result.error.message if result.error else None,
    )


def check_expectations(dialogue: str, turn: Turn, result: TurnResult) -> None:
    broken = evaluate(turn, turn_facts(result))
    if broken:
        raise ExpectationFailure(dialogue, result.number, broken)


def _is_foundry_failure(exc: BaseException) -> bool:
    """The snippet's FoundryError (by name: the snippet is loaded by path, not imported);
    anything else (a replay mismatch, a bug) is never an expected failure."""
    return type(exc).__name__ == "FoundryError"


def drive_dialogue(
    dialogue: Dialogue,
    run_inference: RunInference,
    environment: Mapping[str, Any],
    *,
    check_expected: bool = True,
    tolerate_errors: bool = False,
    on_turn: Callable[[TurnResult], None] | None = None,
    before_turn: Callable[[int, Turn], None] | None = None,
) -> list[TurnResult]:
    """Run every turn in order; raise `TurnFailure` at the first broken invariant.

    A turn that raises `FoundryError` is a failure unless its dialogue expects an error there
    (`expect.error`) or `tolerate_errors` (a drift check: the error is then reported as a
    behaviour change instead of ending the recording).
    """
    results: list[TurnResult] = []
    for number, turn in enumerate(dialogue.turns, start=1):
        if before_turn is not None:
            before_turn(number, turn)
        body = build_request_body(results, turn.user)
        try:
            output_json = run_inference(body, dict(environment))
        except Exception as exc:
            expected = turn.expect.error is not None or tolerate_errors
            if not expected or not _is_foundry_failure(exc):
                raise TurnFailure(dialogue.name, number, f"{type(exc).__name__}: {exc}") from exc
            result = TurnResult(number, turn.user, body, "", EMPTY_OUTPUT, TurnError.of(exc))
        else:
            output = check_turn(dialogue.name, number, output_json)
            result = TurnResult(number, turn.user, body, output_json, output)
        first = next((r for r in results if r.error is None), None)
        if (
            first is not None
            and result.error is None
            and result.conversation_id != (first.conversation_id)
        ):
            raise TurnFailure(
                dialogue.name,
                number,
                f"conversation id changed from {first.conversation_id!r} "
                f"to {result.conversation_id!r}",
            )
        if check_expected:
            check_expectations(dialogue.name, turn, result)
        results.append(result)
        if on_turn is not None:
            on_turn(result)
    return results
