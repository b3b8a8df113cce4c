"""One Foundry conversation per chat when AI GO! rebuilds requests from the trace (no echo).

Over real HTTP on loopback: the scripted Foundry (tests/scripted_foundry.py) where request
bodies are asserted, the emulator where what a conversation holds is (hypothesis drives
interleaved, retried and look-alike chats and checks every conversation against its chat).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from foundry_goldens.emulator import FoundryEmulator
from foundry_goldens.snippet.credentials import StaticTokenCredential
from tests.foundry_items import emulator_messages, message
from tests.scripted_foundry import (
    CONV,
    PROJECT_PATH,
    ScriptedFoundry,
    assistant_message,
    chat_body,
    conversation_bodies,
    env,
    response,
)

SYSTEM = {"role": "system", "content": "You are being evaluated."}


def user(text: str) -> dict[str, str]:
    return {"role": "user", "content": text}


def assistant(text: str) -> dict[str, str]:
    return {"role": "assistant", "content": text}  # rebuilt from a trace: text only


def reply_text(returned: str) -> str:
    return str(assistant_message(returned)["content"][0]["text"])


def test_a_rebuilt_chat_continues_the_conversation_this_process_created(
    snippet: ModuleType, foundry: ScriptedFoundry
) -> None:
    foundry.responses = [response([message(f"reply {n}")]) for n in (1, 2, 3)]
    chat = [SYSTEM]
    replies = []
    for n in (1, 2, 3):
        chat.append(user(f"turn {n}"))
        returned = snippet.run_inference(chat_body(*chat), env(foundry))
        replies.append(assistant_message(returned))
        chat.append(assistant(reply_text(returned)))

    assert conversation_bodies(foundry) == [
        {"items": [{"type": "message", "role": "system", "content": SYSTEM["content"]}]}
    ]
    bodies = foundry.response_bodies()
    assert [(b["conversation"], b["input"]) for b in bodies] == [
        (CONV, "turn 1"),
        (CONV, "turn 2"),
        (CONV, "turn 3"),
    ]
    assert ["conversation_resumed" in r for r in replies] == [False, True, True]
    assert all("conversation_seeded" not in r for r in replies)


def test_a_chat_this_process_never_answered_is_seeded(
    snippet: ModuleType, foundry: ScriptedFoundry
) -> None:
    """Another worker answered turn 1 (or this one restarted): nothing to recognise it by."""
    foundry.responses = [response([message("It ships today.")])]
    body = chat_body(SYSTEM, user("Where is ORD-1?"), assistant("Your email?"), user("a@b.c"))
    returned = snippet.run_inference(body, env(foundry))
    assert assistant_message(returned)["conversation_seeded"]["messages"] == 2
    assert len(conversation_bodies(foundry)[0]["items"]) == 3


def test_a_retried_turn_does_not_send_its_message_twice_to_one_conversation(
    snippet: ModuleType, foundry: ScriptedFoundry
) -> None:
    """AI GO! retries a sample's turn: the conversation moved on with the first attempt, so the
    retry gets a conversation of its own, seeded with the chat as it was."""
    foundry.conversation_ids = ["conv_first", "conv_retry"]
    foundry.responses = [response([message("Hello!")]), *[response([message("Fine.")])] * 2]
    first = snippet.run_inference(chat_body(user("Hi")), env(foundry))
    second_turn = chat_body(user("Hi"), assistant(reply_text(first)), user("How are you?"))
    attempt = assistant_message(snippet.run_inference(second_turn, env(foundry)))
    retry = assistant_message(snippet.run_inference(second_turn, env(foundry)))

    assert attempt["conversation_id"] == "conv_first" and "conversation_resumed" in attempt
    assert retry["conversation_id"] == "conv_retry"
    assert retry["conversation_seeded"]["messages"] == 2
    sent = [(b["conversation"], b["input"]) for b in foundry.response_bodies()]
    assert sent.count(("conv_first", "How are you?")) == 1


def test_look_alike_chats_of_two_samples_stay_apart_when_the_sample_is_passed(
    snippet: ModuleType, foundry: ScriptedFoundry
) -> None:
    foundry.conversation_ids = ["conv_a", "conv_b"]
    foundry.responses = [response([message("Hello!")]) for _ in range(4)]
    samples = [{"id": "a", "question": "x"}, {"id": "b", "question": "x"}]
    firsts = [snippet.run_inference(chat_body(user("Hi")), env(foundry), s) for s in samples]
    # Both samples' second turns, in the opposite order: each continues its own conversation.
    for sample, first in reversed(list(zip(samples, firsts, strict=True))):
        body = chat_body(user("Hi"), assistant(reply_text(first)), user("Again"))
        reply = assistant_message(snippet.run_inference(body, env(foundry), sample))
        assert reply["conversation_id"] == f"conv_{sample['id']}"
        assert "conversation_resumed" in reply
    assert len(conversation_bodies(foundry)) == 2


@pytest.mark.parametrize(
    "other",
    [
        {"AZURE_FOUNDRY_AGENT_NAME": "another-agent"},
        {"AZURE_TOKEN_CREDENTIAL": StaticTokenCredential()},  # another identity
    ],
)
def test_a_chat_is_resumed_only_for_the_same_agent_and_identity(
    snippet: ModuleType, foundry: ScriptedFoundry, other: dict[str, Any]
) -> None:
    foundry.conversation_ids = ["conv_1", "conv_2"]
    foundry.responses = [response([message("Hello!")]), response([message("Fine.")])]
    first = snippet.run_inference(chat_body(user("Hi")), env(foundry))
    body = chat_body(user("Hi"), assistant(reply_text(first)), user("How are you?"))
    reply = assistant_message(snippet.run_inference(body, env(foundry, **other)))
    assert reply["conversation_id"] == "conv_2"
    assert reply["conversation_seeded"]["messages"] == 2


def test_an_echoed_turn_moves_the_conversation_past_the_chat_it_continued(
    snippet: ModuleType, foundry: ScriptedFoundry
) -> None:
    """Turn 2 came with the echo; the same turn again without it must not continue the
    conversation (it already holds turn 2)."""
    foundry.conversation_ids = ["conv_1", "conv_2"]
    foundry.responses = [response([message(text)]) for text in ("Hello!", "Fine.", "Fine.")]
    first = snippet.run_inference(chat_body(user("Hi")), env(foundry))
    echoed = {**assistant(reply_text(first)), "conversation_id": "conv_1"}
    snippet.run_inference(chat_body(user("Hi"), echoed, user("How are you?")), env(foundry))
    rebuilt = chat_body(user("Hi"), assistant(reply_text(first)), user("How are you?"))
    reply = assistant_message(snippet.run_inference(rebuilt, env(foundry)))
    assert reply["conversation_id"] == "conv_2"


def test_the_memory_is_bounded_least_recently_used_first(
    snippet: ModuleType, foundry: ScriptedFoundry
) -> None:
    foundry.conversation_ids = ["conv_1", "conv_2", "conv_3", "conv_4"]
    foundry.responses = [response([message(f"Hello {n}!")]) for n in range(4)]
    small = env(foundry, FOUNDRY_CONVERSATION_MEMORY=1)
    firsts = [snippet.run_inference(chat_body(user(f"Hi {n}")), small) for n in (1, 2)]
    assert len(snippet.CONVERSATIONS) == 1
    # The first chat was forgotten: seeded; the second is still remembered: resumed.
    for n, first in reversed(list(zip((1, 2), firsts, strict=True))):
        body = chat_body(user(f"Hi {n}"), assistant(reply_text(first)), user("?"))
        reply = assistant_message(snippet.run_inference(body, small))
        assert ("conversation_resumed" in reply) is (n == 2)


@pytest.mark.parametrize("value", ["-1", "many", "1.5"])
def test_a_bad_memory_setting_is_named(
    snippet: ModuleType, foundry: ScriptedFoundry, value: str
) -> None:
    with pytest.raises(ValueError, match="FOUNDRY_CONVERSATION_MEMORY must be a whole number"):
        snippet.run_inference(
            chat_body(user("Hi")), env(foundry, FOUNDRY_CONVERSATION_MEMORY=value)
        )
    assert foundry.requests == []


def test_concurrent_retries_of_one_turn_resume_the_conversation_once(
    snippet: ModuleType, foundry: ScriptedFoundry
) -> None:
    foundry.conversation_ids = ["conv_first", *(f"conv_retry_{n}" for n in range(8))]
    foundry.responses = [response([message("Hello!")]), *[response([message("Fine.")])] * 8]
    first = snippet.run_inference(chat_body(user("Hi")), env(foundry))
    body = chat_body(user("Hi"), assistant(reply_text(first)), user("How are you?"))
    replies: list[dict[str, Any]] = []
    lock = threading.Lock()

    def send() -> None:
        reply = assistant_message(snippet.run_inference(body, env(foundry)))
        with lock:
            replies.append(reply)

    threads = [threading.Thread(target=send) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    resumed = [r for r in replies if "conversation_resumed" in r]
    assert len(replies) == 8 and len(resumed) == 1
    assert resumed[0]["conversation_id"] == "conv_first"


def test_a_history_longer_than_foundrys_limit_is_seeded_in_calls_of_twenty(
    snippet: ModuleType, foundry: ScriptedFoundry
) -> None:
    """Foundry takes at most 20 items per create or items call: 1 system message and 24
    earlier messages go as a create of 20 and an addition of 5, in order."""
    foundry.responses = [response([message("Done.")])]
    earlier = [user(f"q{n}") if n % 2 == 0 else assistant(f"a{n}") for n in range(24)]
    returned = snippet.run_inference(chat_body(SYSTEM, *earlier, user("last")), env(foundry))

    posts = [r for r in foundry.requests if not r["path"].endswith("/responses")]
    assert [r["path"].removeprefix(PROJECT_PATH) for r in posts] == [
        "/openai/v1/conversations",
        f"/openai/v1/conversations/{CONV}/items",
    ]
    sent = [item["content"] for r in posts for item in r["body"]["items"]]
    assert [len(r["body"]["items"]) for r in posts] == [20, 5]
    assert sent == [SYSTEM["content"], *(m["content"] for m in earlier)]
    assert assistant_message(returned)["conversation_seeded"]["messages"] == 24
    assert [b["input"] for b in foundry.response_bodies()] == ["last"]


# --- against the emulator: what each conversation holds ------------------------------------


@pytest.fixture(scope="module")
def emulator(snippet: ModuleType) -> Iterator[FoundryEmulator]:
    with FoundryEmulator(seed="memory") as running:
        yield running
    snippet.reset_client_cache()


GREETINGS = ["Hi", "Hello there", "Good morning", "Thanks", "Guten Tag"]
# A step: (sample number, retry the sample's last turn instead of taking the next one).
steps = st.lists(st.tuples(st.integers(0, 2), st.booleans()), min_size=1, max_size=12)
scripts = st.lists(st.lists(st.sampled_from(GREETINGS), min_size=1, max_size=4), min_size=3)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(scripts=scripts, steps=steps, pass_sample=st.booleans())
def test_every_conversation_holds_exactly_the_chat_that_used_it(
    snippet: ModuleType,
    emulator: FoundryEmulator,
    scripts: list[list[str]],
    steps: list[tuple[int, bool]],
    pass_sample: bool,
) -> None:
    """Samples whose scripts share lines, interleaved, some turns retried, with and without the
    sample passed: after every call the conversation it answered in holds the system message,
    the chat as sent and the reply, each once, in order (nothing lost, nothing twice)."""
    snippet.CONVERSATIONS.clear()  # one example's chats are not another's
    environment = {
        "AZURE_AI_PROJECT_ENDPOINT": emulator.endpoint,
        "AZURE_FOUNDRY_AGENT_NAME": "retail-support",
        "AZURE_TOKEN_CREDENTIAL": CREDENTIAL,
    }
    chats: dict[int, list[dict[str, str]]] = {}
    sent: dict[int, list[dict[str, str]]] = {}  # the sample's last request
    for number, retry in steps:
        chat = chats.setdefault(number, [SYSTEM])
        if retry and number in sent:
            request = sent[number]
        else:
            script = scripts[number]
            turns_done = (len(chat) - 1) // 2
            request = [*chat, user(script[turns_done % len(script)])]
        sample = {"id": number} if pass_sample else None
        returned = snippet.run_inference(json.dumps({"messages": request}), environment, sample)
        reply = assistant_message(returned)
        expected = [(m["role"], m["content"]) for m in request]
        expected.append(("assistant", reply["content"][0]["text"]))
        assert emulator_messages(emulator.endpoint, reply["conversation_id"]) == expected
        sent[number] = request
        chats[number] = [*request, assistant(reply["content"][0]["text"])]


CREDENTIAL = StaticTokenCredential()
