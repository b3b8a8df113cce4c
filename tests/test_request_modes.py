"""The driver builds each turn's request both ways AI GO! can, and the agent keeps its memory.

`echo`: earlier replies as `model_output_to_message` made them (with `conversation_id`).
`rebuild`: the chat rebuilt from the trace with latticeflow-core's converters (text only), so
the snippet recognises the conversation it created from the chat itself; `aigo` is that, with
the sample passed as AI GO! passes it. Any may lead with a system message. Driven through the
unchanged snippet against the emulator.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest

from foundry_goldens.emulator import FoundryEmulator
from foundry_goldens.goldens.dialogues import Dialogue
from foundry_goldens.snippet.credentials import StaticTokenCredential
from foundry_goldens.snippet.driver import (
    TurnFailure,
    TurnResult,
    build_request_body,
    conversations_expected,
    dialogue_sample,
    drive_dialogue,
)
from tests.foundry_items import emulator_messages

SYSTEM = "You are evaluated for safety. Keep answers short."
ORDER_LOOKUP = [
    {"user": "Hi, where is my order?"},
    {"user": "My email is ana@example.com"},
    {"user": "ORD-1002 please"},
]


@pytest.fixture
def emulator(snippet: ModuleType) -> Iterator[FoundryEmulator]:
    with FoundryEmulator(seed="request-modes") as running:
        yield running
    snippet.reset_client_cache()  # its clients outlive the server


def environment(emulator: FoundryEmulator) -> dict[str, Any]:
    return {
        "AZURE_AI_PROJECT_ENDPOINT": emulator.endpoint,
        "AZURE_FOUNDRY_AGENT_NAME": "retail-support",
        "AZURE_TOKEN_CREDENTIAL": StaticTokenCredential(),
    }


def dialogue(mode: str, system: str | None = None) -> Dialogue:
    return Dialogue.model_validate(
        {"name": "modes", "request_mode": mode, "system": system, "turns": ORDER_LOOKUP}
    )


@pytest.mark.parametrize(
    ("mode", "system"), [("rebuild", None), ("rebuild", SYSTEM), ("aigo", SYSTEM)]
)
def test_rebuilt_requests_keep_one_conversation_and_the_agents_memory(
    snippet: ModuleType, emulator: FoundryEmulator, mode: str, system: str | None
) -> None:
    chosen = dialogue(mode, system)
    turns = drive_dialogue(chosen, snippet.run_inference, environment(emulator))

    # Turn 3 needs the email of turn 2 and the question of turn 1: memory, without an echo.
    assert "ORD-1002" in turns[2].reply and "has not shipped yet" in turns[2].reply
    assert turns[2].tools_called == ["get_order"]
    assert [t.seeded_messages for t in turns] == [0, 0, 0]
    assert len({t.conversation_id for t in turns}) == conversations_expected(chosen) == 1
    assert emulator.stats().conversations == 1
    for turn in turns:  # what AI GO! sent: text only, no conversation id to echo
        messages = json.loads(turn.request_body)["messages"]
        assert all("conversation_id" not in m for m in messages)
        assert (messages[0]["role"] == "system") == (system is not None)
    resumed = ["conversation_resumed" in (t.assistant_message.model_extra or {}) for t in turns]
    assert resumed == [False, True, True]

    # One conversation holds the system message once and every turn once, in order.
    held = emulator_messages(emulator.endpoint, turns[0].conversation_id)
    lead = [("system", SYSTEM)] if system else []
    assert held == [
        *lead,
        ("user", "Hi, where is my order?"),
        ("assistant", turns[0].reply),
        ("user", "My email is ana@example.com"),
        ("assistant", turns[1].reply),
        ("user", "ORD-1002 please"),
        ("assistant", turns[2].reply),
    ]


def test_without_the_memory_a_rebuilt_chat_is_seeded_every_turn_and_the_driver_says_so(
    snippet: ModuleType, emulator: FoundryEmulator
) -> None:
    """FOUNDRY_CONVERSATION_MEMORY=0: the snippet does not recognise its chats.
    The agent still remembers (each new conversation is seeded), but AI GO! would evaluate a
    new conversation per turn: the driver refuses it."""
    env = {**environment(emulator), "FOUNDRY_CONVERSATION_MEMORY": "0"}
    outputs: list[dict[str, Any]] = []

    def run_inference(body: str, environment: dict[str, Any]) -> str:
        outputs.append(json.loads(snippet.run_inference(body, environment)))
        return json.dumps(outputs[-1])

    with pytest.raises(TurnFailure, match="did not recognise the conversation") as caught:
        drive_dialogue(dialogue("aigo", SYSTEM), run_inference, env)
    assert caught.value.turn == 2
    assert emulator.stats().conversations == 2
    second = outputs[1]["items"][-1]
    assert second["conversation_seeded"]["messages"] == 2
    seeded = emulator_messages(emulator.endpoint, second["conversation_id"])
    assert seeded[:3] == [
        ("system", SYSTEM),
        ("user", "Hi, where is my order?"),
        ("assistant", seeded[2][1]),
    ]


def test_aigo_mode_passes_the_dialogue_as_the_sample(
    snippet: ModuleType, emulator: FoundryEmulator
) -> None:
    seen: list[Any] = []

    def run_inference(body: str, environment: dict[str, Any], sample: Any = None) -> str:
        seen.append(sample)
        return str(snippet.run_inference(body, environment, sample=sample))

    chosen = dialogue("aigo", SYSTEM)
    drive_dialogue(chosen, run_inference, environment(emulator))
    assert seen == [dialogue_sample(chosen)] * 3
    assert seen[0] == {"id": "modes", "system": SYSTEM, "turns": [t["user"] for t in ORDER_LOOKUP]}

    seen.clear()  # every mode: AI GO! passes a snippet that takes one its sample
    for mode in ("rebuild", "echo"):
        chosen = dialogue(mode)
        drive_dialogue(chosen, run_inference, environment(emulator))
    assert seen == [dialogue_sample(dialogue("rebuild"))] * 3 + [dialogue_sample(chosen)] * 3


def test_aigo_mode_needs_the_system_message_it_opens_with() -> None:
    with pytest.raises(ValueError, match=r"request_mode aigo .* set `system:`"):
        dialogue("aigo")


def test_look_alike_dialogues_recorded_together_against_one_project_keep_their_own(
    snippet: ModuleType, emulator: FoundryEmulator
) -> None:
    """Two rebuilt dialogues with the same opening, turn by turn in step against one project
    (as --concurrency records against a live one): each keeps one conversation of its own."""
    import threading

    results: dict[str, list[TurnResult]] = {}
    started = threading.Barrier(2)
    shared = environment(emulator)  # one identity, as one recording run has

    def record(name: str) -> None:
        chosen = Dialogue.model_validate(
            {"name": name, "request_mode": "rebuild", "turns": ORDER_LOOKUP}
        )

        def in_step(number: int, turn: Any) -> None:
            started.wait(timeout=30)

        results[name] = drive_dialogue(chosen, snippet.run_inference, shared, before_turn=in_step)

    threads = [threading.Thread(target=record, args=(name,)) for name in ("first", "second")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    ids = {name: {t.conversation_id for t in turns} for name, turns in results.items()}
    assert sorted(ids) == ["first", "second"]  # neither failed
    assert all(len(found) == 1 for found in ids.values()), ids
    assert ids["first"] != ids["second"]


def test_echoed_requests_with_a_system_message_keep_one_conversation(
    snippet: ModuleType, emulator: FoundryEmulator
) -> None:
    turns = drive_dialogue(dialogue("echo", SYSTEM), snippet.run_inference, environment(emulator))

    assert "has not shipped yet" in turns[2].reply
    assert len({t.conversation_id for t in turns}) == 1
    assert [t.seeded_messages for t in turns] == [0, 0, 0]
    items = emulator_messages(emulator.endpoint, turns[0].conversation_id)
    assert items[0] == ("system", SYSTEM)  # once, as the conversation's first item
    assert [role for role, _ in items].count("system") == 1
    assert all(json.loads(t.request_body)["messages"][0]["role"] == "system" for t in turns)


def test_a_rebuilt_turn_that_was_not_seeded_fails_with_a_reason(
    snippet: ModuleType, emulator: FoundryEmulator
) -> None:
    def forgetful(body: str, env: dict[str, Any]) -> str:
        """A snippet that forgets: an unechoed request starts an empty conversation."""
        data = json.loads(body)
        data["messages"] = [m for m in data["messages"] if m["role"] == "user"][-1:]
        return str(snippet.run_inference(json.dumps(data), env))

    with pytest.raises(TurnFailure, match="conversation id changed") as caught:
        drive_dialogue(dialogue("rebuild"), forgetful, environment(emulator))
    assert caught.value.turn == 2


def test_request_bodies_differ_only_in_how_earlier_replies_come_back(
    snippet: ModuleType, emulator: FoundryEmulator
) -> None:
    turns = drive_dialogue(dialogue("echo"), snippet.run_inference, environment(emulator))
    previous: list[TurnResult] = turns[:2]
    echoed = json.loads(build_request_body(previous, "next", mode="echo", system=SYSTEM))
    rebuilt = json.loads(build_request_body(previous, "next", mode="rebuild", system=SYSTEM))

    def plain(messages: list[dict[str, Any]]) -> list[tuple[str, str]]:
        return [(m["role"], m["content"]) for m in messages]

    assert plain(echoed["messages"]) == plain(rebuilt["messages"])
    assert [m.get("conversation_id") for m in echoed["messages"] if m["role"] == "assistant"] == [
        turns[0].conversation_id
    ] * 2
    assert all("conversation_id" not in m for m in rebuilt["messages"])


def test_a_blank_system_message_is_refused() -> None:
    with pytest.raises(ValueError, match="system message is empty"):
        Dialogue.model_validate({"name": "x", "system": "  ", "turns": [{"user": "hi"}]})


def _reference_echo_body(previous: list[TurnResult], user_text: str, system: str | None) -> str:
    """The echo body built the plain way: the whole chat as one model, serialized."""
    from latticeflow.core.dtypes import ChatCompletionInput, ChatCompletionInputMessage

    messages: list[Any] = []
    if system is not None:
        messages.append(ChatCompletionInputMessage(role="system", content=system))
    for turn in previous:
        messages.append(ChatCompletionInputMessage(role="user", content=turn.user))
        if turn.error is None:
            messages.append(turn.echo)
    messages.append(ChatCompletionInputMessage(role="user", content=user_text))
    return str(ChatCompletionInput(messages=messages).model_dump_json())


def test_echo_bodies_assembled_from_kept_messages_are_the_models_serialization() -> None:
    # build_request_body joins each earlier message's JSON, kept from its turn; every shipped
    # echo dialogue's every turn must get exactly the bytes of serializing the chat as a whole.
    from foundry_goldens.goldens.dialogues import load_dialogues
    from foundry_goldens.replay.replayer import replay_dialogue
    from tests.paths import DIALOGUE_DIR

    compared = 0
    for shipped in load_dialogues(DIALOGUE_DIR):
        if shipped.request_mode != "echo":
            continue
        results = replay_dialogue(shipped).turns
        for number, result in enumerate(results):
            expected = _reference_echo_body(results[:number], result.user, shipped.system)
            assert result.request_body == expected, (shipped.name, result.number)
            compared += 1
    assert compared > 40
    odd = 'Grüße "quoted" \\ back\nslash 🚀 \u2028'
    assert build_request_body([], odd, system=odd) == _reference_echo_body([], odd, odd)


def _reference_rebuilt_body(previous: list[TurnResult], user_text: str, system: str | None) -> str:
    """The rebuilt body the plain way: the whole trace through latticeflow-core's converter."""
    from latticeflow.core.dtypes import (
        ChatCompletionInput,
        ChatCompletionInputMessage,
        model_input_to_trace_items,
        trace_items_to_model_input,
    )

    trace: list[Any] = []
    if system is not None:
        lead = ChatCompletionInputMessage(role="system", content=system)
        trace += model_input_to_trace_items(ChatCompletionInput(messages=[lead]))
    for turn in previous:
        trace += turn.trace_items
    messages: list[Any] = []
    if trace:
        rebuilt = trace_items_to_model_input(trace)
        assert isinstance(rebuilt, ChatCompletionInput)
        messages += rebuilt.messages
    messages.append(ChatCompletionInputMessage(role="user", content=user_text))
    return str(ChatCompletionInput(messages=messages).model_dump_json())


def test_rebuilt_bodies_assembled_turn_by_turn_are_the_converters_output() -> None:
    # In rebuild and aigo mode each turn's part of the chat is converted once and kept; every
    # shipped dialogue's every turn must get exactly the bytes of converting the whole trace.
    from foundry_goldens.goldens.dialogues import load_dialogues
    from foundry_goldens.replay.replayer import replay_dialogue
    from tests.paths import DIALOGUE_DIR

    compared = 0
    for shipped in load_dialogues(DIALOGUE_DIR):
        if shipped.request_mode == "echo":
            continue
        results = replay_dialogue(shipped).turns
        for number, result in enumerate(results):
            expected = _reference_rebuilt_body(results[:number], result.user, shipped.system)
            assert result.request_body == expected, (shipped.name, result.number)
            compared += 1
    assert compared > 35
