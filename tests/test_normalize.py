"""Normalization (goldens.normalization) on real replayed outputs and on a hand-built trace.

The replayed outputs carry fresh random item ids on every run; the snapshot must replace
those ids (and only those, plus call and conversation ids) with aliases numbered by first
appearance across the whole dialogue, keeping links and every other value as returned.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from latticeflow.core.dtypes import OpenResponsesModelOutput

from foundry_goldens.goldens.dialogues import load_dialogues
from foundry_goldens.goldens.normalization import ALIASED_FIELDS
from foundry_goldens.replay.replayer import ReplayResult, replay_dialogue
from foundry_goldens.snippet.driver import TurnResult
from foundry_goldens.snippet.transcript import normalize_dialogue
from tests.paths import DIALOGUE_DIR

DIALOGUES = load_dialogues(DIALOGUE_DIR)
ITEM_TYPES = {"function_call", "function_call_output", "message"}


@pytest.fixture(scope="module")
def replayed() -> dict[str, ReplayResult]:
    return {d.name: replay_dialogue(d) for d in DIALOGUES}


def raw_items(turn: TurnResult) -> list[dict[str, Any]]:
    """The items exactly as run_inference returned them (none for a turn that failed)."""
    if turn.error is not None:
        return []
    items = json.loads(turn.output_json)["items"]
    assert isinstance(items, list)
    return items


def without(data: Any, keys: set[str]) -> Any:
    """`data` with the given keys dropped at every depth."""
    if isinstance(data, dict):
        return {k: without(v, keys) for k, v in data.items() if k not in keys}
    if isinstance(data, list):
        return [without(v, keys) for v in data]
    return data


def expected_aliases(result: ReplayResult) -> dict[tuple[str, str], str]:
    """(kind, raw value) -> alias, numbered by first appearance, computed independently."""
    aliases: dict[tuple[str, str], str] = {}
    counts: dict[str, int] = {}
    for turn in result.turns:
        for item in raw_items(turn):
            for field, kind in ALIASED_FIELDS.items():
                value = item.get(field)
                if isinstance(value, str) and value and (kind, value) not in aliases:
                    counts[kind] = counts.get(kind, 0) + 1
                    aliases[(kind, value)] = f"{kind}-{counts[kind]}"
    return aliases


@pytest.mark.parametrize("name", [d.name for d in DIALOGUES])
def test_only_ids_change_and_aliases_follow_first_appearance(
    replayed: dict[str, ReplayResult], name: str
) -> None:
    result = replayed[name]
    snapshot = result.snapshot()
    aliases = expected_aliases(result)
    assert snapshot["dialogue"] == name
    assert [t["turn"] for t in snapshot["turns"]] == list(range(1, len(result.turns) + 1))

    for turn, normalized in zip(result.turns, snapshot["turns"], strict=True):
        assert normalized["user"] == turn.user
        if turn.error is not None:  # a turn that failed as expected: its error, no output
            assert normalized["error"]["code"] == turn.error.code
            continue
        raw = raw_items(turn)
        items = normalized["output"]["items"]
        assert len(items) == len(raw)
        for before, after in zip(raw, items, strict=True):
            # Every aliased field holds the alias of its raw value, in the same place.
            for field, kind in ALIASED_FIELDS.items():
                assert (field in before) == (field in after)
                if field in before:
                    assert after[field] == aliases[(kind, before[field])]
            # Nothing else differs from what the integration returned, but the added types.
            # (The snippet sets some types itself, e.g. on citations; compare without them.)
            assert without(after, {"type"}) == without(
                {**before, **{f: after[f] for f in ALIASED_FIELDS if f in before}}, {"type"}
            )
        if turn.output.usage is not None:
            assert normalized["output"]["usage"] == json.loads(turn.output_json)["usage"]


@pytest.mark.parametrize("name", [d.name for d in DIALOGUES])
def test_type_comes_first_in_every_item_and_content_part(
    replayed: dict[str, ReplayResult], name: str
) -> None:
    for turn in replayed[name].snapshot()["turns"]:
        for item in turn["output"]["items"] if "output" in turn else []:
            assert next(iter(item)) == "type", item
            assert item["type"] in ITEM_TYPES
            for part in item.get("content") or []:
                assert next(iter(part)) == "type", part
                assert part["type"] == "output_text"


def test_a_call_and_its_output_share_one_alias(replayed: dict[str, ReplayResult]) -> None:
    turn_2 = replayed["multi_tool_turn"].snapshot()["turns"][1]["output"]["items"]
    calls = [(i["call_id"], i["name"]) for i in turn_2 if i["type"] == "function_call"]
    outputs = [i["call_id"] for i in turn_2 if i["type"] == "function_call_output"]
    # Turn 1 made call-1; turn 2's two calls continue the numbering across the dialogue.
    assert calls == [("call-2", "get_customer_orders"), ("call-3", "search_products")]
    assert outputs == ["call-2", "call-3"]
    # ...while the raw trace linked them by Foundry's own ids.
    raw = raw_items(replayed["multi_tool_turn"].turns[1])
    raw_calls = [i["call_id"] for i in raw if "name" in i]
    raw_outputs = [i["call_id"] for i in raw if "output" in i]
    assert raw_calls == raw_outputs and len(set(raw_calls)) == 2
    assert all(call_id.startswith("mcp_") for call_id in raw_calls)


def test_every_turn_shows_the_same_conversation(replayed: dict[str, ReplayResult]) -> None:
    result = replayed["long_conversation"]
    assert len(result.turns) >= 8
    assert len({turn.conversation_id for turn in result.turns}) == 1
    for turn in result.snapshot()["turns"]:
        messages = [i for i in turn["output"]["items"] if i["type"] == "message"]
        assert messages, f"turn {turn['turn']} has no message"
        assert [m["conversation_id"] for m in messages] == ["conversation-1"] * len(messages)


def test_item_aliases_count_across_the_whole_dialogue(replayed: dict[str, ReplayResult]) -> None:
    snapshot = replayed["long_conversation"].snapshot()
    ids = [item["id"] for t in snapshot["turns"] for item in t["output"]["items"]]
    assert ids == [f"item-{n}" for n in range(1, len(ids) + 1)]


def test_snapshots_are_stable_although_raw_ids_are_random(
    replayed: dict[str, ReplayResult],
) -> None:
    [order_lookup] = [d for d in DIALOGUES if d.name == "order_lookup"]
    again = replay_dialogue(order_lookup)
    first, second = replayed["order_lookup"], again
    assert first.turns[0].output_json != second.turns[0].output_json  # fresh item ids
    assert first.snapshot() == second.snapshot()


def turn(number: int, output: dict[str, Any]) -> TurnResult:
    text = json.dumps(output)
    return TurnResult(
        number, f"user {number}", "{}", text, OpenResponsesModelOutput.model_validate_json(text)
    )


def test_repeated_ids_keep_their_alias_and_each_kind_counts_alone() -> None:
    # The same raw value "x" as an item id and as a call id gets item-1 and call-1; an id seen
    # again in a later turn keeps the alias it got first.
    first = {
        "items": [
            {
                "id": "x",
                "call_id": "x",
                "name": "get_order",
                "arguments": "{}",
                "status": "completed",
            },
            {"id": "y", "call_id": "x", "output": "{}", "status": "completed"},
            {
                "id": "z",
                "role": "assistant",
                "status": "completed",
                "content": [{"text": "done", "annotations": []}],
                "conversation_id": "conv_a",
            },
        ]
    }
    second = {
        "items": [
            {
                "id": "x",
                "role": "assistant",
                "status": "completed",
                "content": [{"text": "again", "annotations": []}],
                "conversation_id": "conv_a",
            }
        ]
    }
    turns = [turn(1, first), turn(2, second)]
    before = [t.output.model_dump() for t in turns]

    snapshot = normalize_dialogue("synthetic", turns)

    items_1 = snapshot["turns"][0]["output"]["items"]
    items_2 = snapshot["turns"][1]["output"]["items"]
    assert [(i["type"], i["id"], i.get("call_id")) for i in items_1] == [
        ("function_call", "item-1", "call-1"),
        ("function_call_output", "item-2", "call-1"),
        ("message", "item-3", None),
    ]
    assert items_1[2]["conversation_id"] == "conversation-1"
    assert (items_2[0]["id"], items_2[0]["conversation_id"]) == ("item-1", "conversation-1")
    assert items_2[0]["content"] == [{"type": "output_text", "text": "again", "annotations": []}]
    assert "usage" not in snapshot["turns"][0]["output"]
    assert [t.output.model_dump() for t in turns] == before  # the inputs are not modified
