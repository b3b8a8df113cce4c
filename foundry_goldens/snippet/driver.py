"""Drives one dialogue through `run_inference`, turn by turn, exactly as AI GO! does.

Each request holds the whole chat so far, built either way AI GO! builds it (the dialogue's
`request_mode`), optionally after a leading system message (`system`):

- `echo`: every earlier assistant message is `model_output_to_message` of that turn's output,
  so the extra `conversation_id` field rides along and the snippet continues one conversation;
- `rebuild`: the chat is rebuilt from the trace with latticeflow-core's converters
  (`model_input_to_trace_items`, `model_output_to_trace_items`, `trace_items_to_model_input`),
  which keep the text of assistant messages only: no conversation id comes back, so the
  snippet must recognise the conversation it created from the chat itself;
- `aigo`: AI GO!'s own multi-turn path (its `multi_turn_solver`): the chat rebuilt from the
  trace as in `rebuild`, after the system message it opens with.

A snippet whose `run_inference` takes a `sample` argument gets the dialogue as that sample (a
dataset row) in every mode, as AI GO! passes one: it keeps apart dialogues whose chats look
alike, which matters when several record at once against one project.

In every mode a dialogue is one conversation: a snippet that starts a new one per turn when
the echo is lost makes AI GO! evaluate an agent that forgets (and pays for the whole history
again on every turn).

Every turn's output is checked the way AI GO! reads it.
"""

from __future__ import annotations

import contextlib
import inspect
import time
import weakref
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal

from latticeflow.core.dtypes import (
    ChatCompletionInput,
    ChatCompletionInputMessage,
    FunctionCall,
    Message,
    MessageRole,
    OpenResponsesModelOutput,
    TraceItem,
    model_input_to_trace_items,
    model_output_to_message,
    model_output_to_trace_items,
    trace_items_to_model_input,
)
from pydantic import ValidationError
from pydantic_core import to_json

from foundry_goldens import jsontext
from foundry_goldens.goldens.dialogues import Dialogue, Turn
from foundry_goldens.snippet.watchdog import DeadlineInterrupt, interrupt_after

RunInference = Callable[[str, dict[str, Any]], str]
# The snippet's setting for a turn's deadline (integration/run_inference.py, TURN_TIMEOUT_KEY).
TURN_TIMEOUT_KEY = "FOUNDRY_TURN_TIMEOUT_SECONDS"
# The snippet ends a turn at its deadline itself; the watchdog (snippet/watchdog.py) only ends
# what the snippet cannot see while vcrpy records, this long after.
WATCHDOG_GRACE_SECONDS = 2.0


@dataclass(frozen=True)
class Deadlines:
    """A dialogue's total deadline and each turn's (seconds).

    A turn gets `turn`, or what is left of the dialogue's if that is less, as the snippet's
    turn deadline: a stalled server cannot hold a dialogue past its own.
    """

    dialogue: float
    turn: float

    def describe(self, what: str) -> str:
        return f"the dialogue's deadline of {self.dialogue:g} s (--dialogue-timeout) {what}"

    def turn_limit(self, left: float) -> tuple[float, bool]:
        """The turn's deadline given the dialogue's time left, and whether that cut it."""
        return min(left, self.turn), left < self.turn

    def watchdog(self, limit: float, cut_by_dialogue: bool) -> AbstractContextManager[None]:
        passed = (
            self.describe("passed")
            if cut_by_dialogue
            else f"the turn's deadline of {self.turn:g} s "
            f"(--turn-timeout, {TURN_TIMEOUT_KEY}) passed"
        )
        return interrupt_after(
            limit + WATCHDOG_GRACE_SECONDS, f"Foundry was still answering when {passed}"
        )


class TurnFailure(Exception):
    """A turn did not run or broke an invariant; names the dialogue, the turn and the reason."""

    def __init__(self, dialogue: str, turn: int, reason: str) -> None:
        super().__init__(f"{dialogue}, turn {turn}: {reason}")
        self.dialogue = dialogue
        self.turn = turn
        self.reason = reason


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
    # The user message as this turn's request carried it (the driver passes it on, so a
    # dialogue serializes each user message once); empty: built from `user` when asked.
    sent_user_json: str = field(default="", repr=False, compare=False)

    @property
    def assistant_message(self) -> Message:
        return _last_assistant_message(self.output)

    @cached_property
    def user_message_json(self) -> str:
        """This turn's user message as every later echoed request repeats it."""
        return self.sent_user_json or _message_json("user", self.user)

    @cached_property
    def echo_json(self) -> str:
        return str(self.echo.model_dump_json())

    @cached_property
    def echo(self) -> Any:
        """This turn's assistant message as AI GO! echoes it in every later request (built
        once: a dialogue's requests repeat all earlier turns)."""
        return model_output_to_message(self.output)

    @cached_property
    def trace_items(self) -> list[TraceItem]:
        """This turn in the trace AI GO! keeps: the user message, then the output's items."""
        return [*_trace_items("user", self.user), *model_output_to_trace_items(self.output)]

    @cached_property
    def rebuilt_jsons(self) -> list[str]:
        """This turn's messages as a chat rebuilt from the trace holds them, serialized (once:
        every later rebuilt request repeats them; the converter reads item by item, so a
        turn's part of the rebuilt chat does not depend on the turns around it)."""
        rebuilt = trace_items_to_model_input(self.trace_items)
        if not isinstance(rebuilt, ChatCompletionInput):
            raise TypeError("a dialogue's trace rebuilds to chat messages only")
        return [str(message.model_dump_json()) for message in rebuilt.messages]

    @cached_property
    def conversation_id(self) -> str:
        # Kept: every later turn's check compares its id with the first turn's.
        if self.error is not None:
            return ""
        return str((self.assistant_message.model_extra or {}).get("conversation_id") or "")

    @property
    def blocked_prompt(self) -> bool:
        """The content filter blocked this turn's prompt (the reply is the snippet's refusal)."""
        if self.error is not None:
            return False
        blocked = (self.assistant_message.model_extra or {}).get("content_filter_blocked")
        return isinstance(blocked, dict) and blocked.get("source_type") == "prompt"

    @property
    def seeded_messages(self) -> int:
        """How many earlier messages the snippet seeded a new conversation with (0: none)."""
        seeded = (self.assistant_message.model_extra or {}).get("conversation_seeded") or {}
        return int(seeded.get("messages") or 0) if isinstance(seeded, dict) else 0

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


RequestMode = Literal["echo", "rebuild", "aigo"]


def _message_json(role: Literal["user", "system"], text: str) -> str:
    """`ChatCompletionInputMessage(role=role, content=text).model_dump_json()`, to the byte.

    For text, that model dumps exactly its two fields, each value written by pydantic-core's
    JSON writer, which `pydantic_core.to_json` is too (tests/test_request_modes.py compares
    every shipped turn and odd text with the model's bytes). Building and validating the model
    (latticeflow's post-init hook included) cost 15 times as much per message."""
    if type(text) is not str:  # anything else (a str subclass too): the model decides
        return str(ChatCompletionInputMessage(role=role, content=text).model_dump_json())
    return _MESSAGE_JSON[role] + to_json(text).decode("utf-8") + "}"


_MESSAGE_JSON = {
    role: '{"role":' + to_json(role).decode("utf-8") + ',"content":' for role in ("user", "system")
}


def _trace_items(role: Literal["user", "system"], text: str) -> list[TraceItem]:
    message = ChatCompletionInputMessage(role=role, content=text)
    return model_input_to_trace_items(ChatCompletionInput(messages=[message]))


def build_request_body(
    previous: list[TurnResult],
    user_text: str,
    *,
    mode: RequestMode = "echo",
    system: str | None = None,
    user_json: str | None = None,
    system_json: str | None = None,
) -> str:
    """The chat-completion body AI GO! sends for the next turn (see the module docstring).
    `user_json`, `system_json`: the new user message and the system message, already
    serialized as `_message_json` does (a dialogue's every request opens with the same one)."""
    # Each earlier message as AI GO! serializes it, kept from the turn that made it: a
    # dialogue's requests repeat every earlier turn (tests/test_request_modes.py checks this is
    # ChatCompletionInput(messages=...).model_dump_json() of the chat built whole, to the byte).
    parts = [] if system is None else [system_json or _message_json("system", system)]
    for turn in previous:
        if mode != "echo":  # rebuild and aigo: the chat rebuilt from the trace
            parts.extend(turn.rebuilt_jsons)
            continue
        parts.append(turn.user_message_json)
        if turn.error is None:  # a failed turn leaves no assistant message to echo
            parts.append(turn.echo_json)
    parts.append(user_json or _message_json("user", user_text))
    return '{"messages":[' + ",".join(parts) + "]}"


def conversations_expected(dialogue: Dialogue) -> int:
    """Conversations a recording of `dialogue` creates: one, whichever way the requests are
    built (the snippet continues it from the echo or recognises it from the chat)."""
    return 1


def check_conversation(dialogue: Dialogue, result: TurnResult, previous: list[TurnResult]) -> None:
    """The conversation id never changes: with the echo, and without it (`rebuild`, `aigo`),
    where the snippet has only the chat to recognise its conversation by."""
    first = next((r for r in previous if r.error is None), None)
    if first is None or result.conversation_id == first.conversation_id:
        return
    why = (
        ""
        if dialogue.request_mode == "echo"
        else f" (request_mode {dialogue.request_mode}: the request was rebuilt from the trace, "
        "without the conversation_id echo, and the snippet did not recognise the conversation "
        "it created for these earlier messages; AI GO! would evaluate a new conversation "
        "on every turn)"
    )
    raise TurnFailure(
        dialogue.name,
        result.number,
        f"conversation id changed from {first.conversation_id!r} to "
        f"{result.conversation_id!r}{why}",
    )


def dialogue_sample(dialogue: Dialogue) -> dict[str, Any]:
    """The dialogue as the AI GO! dataset row the snippet gets as its sample."""
    return {
        "id": dialogue.name,
        "system": dialogue.system,
        "turns": [turn.user for turn in dialogue.turns],
    }


# takes_sample's answers by function: a run of golden tests asks about the same snippet
# function for every dialogue, and inspect.signature cost as much as a turn's own checks.
_TAKES_SAMPLE: weakref.WeakKeyDictionary[Any, bool] = weakref.WeakKeyDictionary()


def takes_sample(run_inference: RunInference) -> bool:
    """Whether `run_inference` accepts AI GO!'s `sample` argument (not every snippet does)."""
    try:
        return _TAKES_SAMPLE[run_inference]
    except (KeyError, TypeError):  # not asked yet, or not weakly referable / hashable
        pass
    answer = _takes_sample(run_inference)
    with contextlib.suppress(TypeError):
        _TAKES_SAMPLE[run_inference] = answer
    return answer


def _takes_sample(run_inference: RunInference) -> bool:
    try:
        parameters = inspect.signature(run_inference).parameters
    except (TypeError, ValueError):
        return False
    return "sample" in parameters or any(
        p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()
    )


def check_turn(dialogue: str, number: int, output_json: str) -> OpenResponsesModelOutput:
    """Parse the output as AI GO! does and require an assistant message with a conversation id."""
    try:
        # latticeflow's model_validate_json is json.loads, then model_validate: the same, with
        # jsontext's faster loads (tests/test_jsontext.py: it parses as json.loads does).
        output = OpenResponsesModelOutput.model_validate(jsontext.loads(output_json))
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


def _is_foundry_failure(exc: BaseException) -> bool:
    """The snippet's FoundryError (by name: the snippet is loaded by path, not imported);
    anything else (a replay mismatch, a bug) is never an expected failure."""
    return type(exc).__name__ == "FoundryError"


def drive_dialogue(
    dialogue: Dialogue,
    run_inference: RunInference,
    environment: Mapping[str, Any],
    *,
    tolerate_errors: bool = False,
    on_turn: Callable[[TurnResult], None] | None = None,
    before_turn: Callable[[int, Turn], None] | None = None,
    deadlines: Deadlines | None = None,
) -> list[TurnResult]:
    """Run every turn in order; raise `TurnFailure` at the first broken invariant of the
    integration (the output parses as AI GO! reads it, one conversation throughout). Whether
    the turns did what the dialogue expects is snippet/checking.py's to judge (`on_turn`).

    A turn that raises `FoundryError` is a failure unless its dialogue expects an error there
    (`expect.error`) or `tolerate_errors` (a drift check: the error is then reported as a
    behaviour change instead of ending the recording).
    """
    results: list[TurnResult] = []
    ends_at = time.monotonic() + deadlines.dialogue if deadlines else None
    call = run_inference
    if takes_sample(run_inference):  # as AI GO! passes a snippet that takes one its sample
        sample = dialogue_sample(dialogue)

        def call(body: str, environment: dict[str, Any]) -> str:
            return run_inference(body, environment, sample=sample)  # type: ignore[call-arg]

    # Serialized once: every request of the dialogue opens with it.
    system_json = None if dialogue.system is None else _message_json("system", dialogue.system)
    for number, turn in enumerate(dialogue.turns, start=1):
        if before_turn is not None:
            before_turn(number, turn)
        # Serialized once: this request ends with it, every later echoed request repeats it.
        user_json = _message_json("user", turn.user)
        body = build_request_body(
            results,
            turn.user,
            mode=dialogue.request_mode,
            system=dialogue.system,
            user_json=user_json,
            system_json=system_json,
        )
        turn_environment = dict(environment)
        cut_by_dialogue = False
        watchdog: AbstractContextManager[None] = nullcontext()
        if deadlines is not None and ends_at is not None:
            left = ends_at - time.monotonic()
            if left <= 0:
                raise TurnFailure(dialogue.name, number, deadlines.describe("passed"))
            limit, cut_by_dialogue = deadlines.turn_limit(left)
            turn_environment[TURN_TIMEOUT_KEY] = f"{limit:.3f}"
            watchdog = deadlines.watchdog(limit, cut_by_dialogue)
        try:
            with watchdog:
                output_json = call(body, turn_environment)
        except Exception as exc:
            expected = turn.expect.error is not None or tolerate_errors
            if not expected or not _is_foundry_failure(exc):
                reason = (
                    str(exc)
                    if isinstance(exc, DeadlineInterrupt)
                    else f"{type(exc).__name__}: {exc}"
                )
                if (
                    deadlines is not None
                    and cut_by_dialogue
                    and getattr(exc, "code", "") == "timeout"
                ):
                    reason += f"; {deadlines.describe('left this turn no more time')}"
                raise TurnFailure(dialogue.name, number, reason) from exc
            error = TurnError.of(exc)
            result = TurnResult(number, turn.user, body, "", EMPTY_OUTPUT, error, user_json)
        else:
            output = check_turn(dialogue.name, number, output_json)
            result = TurnResult(number, turn.user, body, output_json, output, None, user_json)
        if result.error is None:
            check_conversation(dialogue, result, results)
        results.append(result)
        if on_turn is not None:
            on_turn(result)
    return results
