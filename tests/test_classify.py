"""The change classifier: behaviour, wording, usage or other, the same for every report."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from foundry_goldens.goldens.dialogues import Dialogue, load_dialogue
from foundry_goldens.goldens.refusals import is_refusal
from foundry_goldens.review.classify import word_similarity
from foundry_goldens.review.compare import classify_snapshots
from tests.paths import DIALOGUE_DIR, SNAPSHOT_DIR


def golden(name: str) -> tuple[dict[str, Any], Dialogue]:
    snapshot = json.loads((SNAPSHOT_DIR / f"{name}.json").read_text(encoding="utf-8"))
    return snapshot, load_dialogue(DIALOGUE_DIR / f"{name}.yaml")


def items(snapshot: dict[str, Any], turn: int) -> list[dict[str, Any]]:
    return list(snapshot["turns"][turn - 1]["output"]["items"])


def reply_part(snapshot: dict[str, Any], turn: int) -> dict[str, Any]:
    message = [i for i in items(snapshot, turn) if i["type"] == "message"][-1]
    return dict(message["content"][0])


def set_reply(snapshot: dict[str, Any], turn: int, text: str) -> None:
    message = [i for i in items(snapshot, turn) if i["type"] == "message"][-1]
    message["content"][0]["text"] = text


def categories(old: dict[str, Any], new: dict[str, Any], script: Dialogue) -> list[tuple]:
    result = classify_snapshots(script.name, old, new, script)
    return [(c.turn, c.category, c.kind) for c in result.changes]


def test_identical_snapshots_have_no_change() -> None:
    old, script = golden("multi_tool_turn")
    result = classify_snapshots("multi_tool_turn", old, copy.deepcopy(old), script)
    assert result.changes == [] and result.headline == "unchanged"


def test_a_reworded_reply_is_wording_with_its_similarity() -> None:
    old, script = golden("multi_tool_turn")
    new = copy.deepcopy(old)
    text = reply_part(old, 2)["text"]
    set_reply(new, 2, "Sure. " + text.replace("I found", "I see"))
    result = classify_snapshots("multi_tool_turn", old, new, script)
    [change] = result.changes
    assert (change.turn, change.category, change.kind) == (2, "wording", "reply_changed")
    assert change.similarity == word_similarity(text, "Sure. " + text.replace("I found", "I see"))
    assert 0.8 < (change.similarity or 0) < 1
    assert result.headline == "wording" and not result.has_behaviour_change


def test_parallel_calls_in_another_order_are_information_only() -> None:
    old, script = golden("multi_tool_turn")
    new = copy.deepcopy(old)
    turn = new["turns"][1]["output"]["items"]
    turn[0], turn[1], turn[2], turn[3] = turn[2], turn[3], turn[0], turn[1]
    assert categories(old, new, script) == [(2, "other", "tool_order_changed")]


def test_calls_in_another_order_where_the_dialogue_requires_order_is_behaviour() -> None:
    old, script = golden("failing_tool")
    assert script.turns[0].expect.ordered_tools == ["get_order", "track_shipment"]
    new = copy.deepcopy(old)
    turn = new["turns"][0]["output"]["items"]
    calls = [i for i, item in enumerate(turn) if item["type"] in ("function_call",)]
    outputs = [i for i, item in enumerate(turn) if item["type"] == "function_call_output"]
    a, b = calls[0], calls[1]
    turn[a], turn[b] = turn[b], turn[a]
    turn[outputs[0]], turn[outputs[1]] = turn[outputs[1]], turn[outputs[0]]
    found = categories(old, new, script)
    assert (1, "behaviour", "tool_order_changed") in found
    assert (1, "behaviour", "expectation_broken") in found


@pytest.mark.parametrize(
    ("edit", "kind"),
    [
        ("drop_call", "tool_call_removed"),
        ("change_argument", "tool_arguments_changed"),
        ("fail_call", "tool_status_changed"),
        ("refuse", "reply_changed"),
        ("error", "error_changed"),
        ("lose_conversation", "trace_changed"),
    ],
)
def test_behaviour_changes_are_behaviour(edit: str, kind: str) -> None:
    old, script = golden("order_lookup")
    new = copy.deepcopy(old)
    turn = new["turns"][2]
    call = next(i for i in turn["output"]["items"] if i["type"] == "function_call")
    if edit == "drop_call":
        turn["output"]["items"] = [
            i for i in turn["output"]["items"] if i.get("call_id") != call["call_id"]
        ]
    elif edit == "change_argument":
        call["arguments"] = '{"order_id":"ORD-1001"}'
    elif edit == "fail_call":
        call["status"] = "incomplete"
    elif edit == "refuse":
        set_reply(new, 3, "I'm sorry, but I can't help with that request.")
    elif edit == "error":
        new["turns"][2] = {
            "turn": 3,
            "user": turn["user"],
            "error": {"type": "FoundryError", "code": "server_error", "message": "failed"},
        }
    elif edit == "lose_conversation":
        [i for i in turn["output"]["items"] if i["type"] == "message"][-1]["conversation_id"] = (
            "conversation-2"
        )
    result = classify_snapshots("order_lookup", old, new, script)
    assert any(c.turn == 3 and c.category == "behaviour" and c.kind == kind for c in result.changes)
    assert result.headline == "behaviour"


def test_a_turn_less_is_behaviour_and_usage_beyond_the_threshold_is_usage() -> None:
    old, script = golden("order_lookup")
    new = copy.deepcopy(old)
    new["turns"][0]["output"]["usage"]["num_prompt_tokens"] *= 2
    new["turns"][1]["output"]["usage"]["num_prompt_tokens"] += 1  # within 10%: not reported
    del new["turns"][2]
    found = categories(old, new, script)
    assert (None, "behaviour", "turn_count_changed") in found
    assert (1, "usage", "usage_changed") in found
    assert all(turn != 2 for turn, _, _ in found)
    lenient = classify_snapshots("order_lookup", old, new, None, usage_threshold_percent=200)
    assert [c.kind for c in lenient.changes] == ["turn_count_changed"]


def test_word_similarity() -> None:
    assert word_similarity("a b c d", "a b c d") == 1.0
    assert word_similarity("a b c d", "w x y z") == 0.0
    assert word_similarity("the order has shipped", "the order has not shipped") == 0.889


@pytest.mark.parametrize(
    ("reply", "refused"),
    [
        ("I'm sorry, but I can't help with that request.", True),
        ("Of course. I cannot assist with that.", True),
        # The snippet's answers to a blocked prompt, a filtered reply (integration/run_inference)
        ("I can't help with that. Azure AI Foundry's content filter blocked the request.", True),
        ("Azure AI Foundry's content filter blocked the reply (violence: medium).", True),
        ("Sorry, I didn't catch that.", False),
        ("I found 2 orders; I can't help with returns of final-sale items.", False),
        ("I couldn't reach the carrier's tracking service right now.", False),
    ],
)
def test_refusals(reply: str, refused: bool) -> None:
    assert is_refusal(reply) is refused
