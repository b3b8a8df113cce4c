"""The emulator's variation mode (a live-like agent) and its injected behaviour changes."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from latticeflow.core.dtypes import FunctionCall

from foundry_goldens.emulator import FoundryEmulator
from foundry_goldens.emulator.__main__ import parse_args
from foundry_goldens.emulator.variation import BehaviourChange, Variation
from foundry_goldens.goldens.dialogues import Dialogue, load_dialogues
from foundry_goldens.snippet.credentials import StaticTokenCredential
from foundry_goldens.snippet.driver import TurnResult, drive_dialogue
from foundry_goldens.snippet.loader import load_integration
from tests.paths import DIALOGUE_DIR

FACT = re.compile(r"ORD-\d{4}|RMA-\d{4}|P-\d{3}|\d+\.\d\d EUR|[\w.]+@[\w.]+|20\d\d-\d\d-\d\d")


def run(dialogue: Dialogue, **emulator: Any) -> list[TurnResult]:
    with FoundryEmulator(seed=dialogue.name, **emulator) as running:
        environment = {
            "AZURE_AI_PROJECT_ENDPOINT": running.endpoint,
            "AZURE_FOUNDRY_AGENT_NAME": dialogue.agent or "retail-support",
            "AZURE_TOKEN_CREDENTIAL": StaticTokenCredential(),
        }
        return drive_dialogue(dialogue, load_integration().run_inference, environment)


@pytest.fixture(scope="module")
def shipped() -> list[Dialogue]:
    return load_dialogues(DIALOGUE_DIR)


# The v1 stamps of a response item (tests/reference/v1/function_tool_conversation_v1.json).
# The snippet's converter copies a server-side tool item's request fields into the trace's
# arguments and does not skip them yet (integration/run_inference.py, _ITEM_META_FIELDS), so
# a file_search_call's arguments name its response, whose id follows the variation seed.
V1_STAMPS = ("agent_reference", "response_id")


def _arguments(text: str) -> str:
    parsed = json.loads(text)
    if isinstance(parsed, dict):
        parsed = {k: v for k, v in parsed.items() if k not in V1_STAMPS}
    return json.dumps(parsed, sort_keys=True)


def facts(turns: list[TurnResult]) -> list[tuple[list[tuple[str, str]], list[str]]]:
    return [
        (
            sorted(
                (i.name, _arguments(i.arguments))
                for i in t.output.items
                if i.type == "function_call"
            ),
            sorted(FACT.findall(t.reply)),
        )
        for t in turns
    ]


def test_variation_keeps_every_fact_and_expectation_but_not_the_words(
    shipped: list[Dialogue],
) -> None:
    reworded = 0
    for dialogue in shipped:
        plain = run(dialogue)  # expectations are checked on every turn of both runs
        for seed in (1, 2):
            varied = run(dialogue, variation_seed=seed)
            assert facts(varied) == facts(plain), dialogue.name
            reworded += sum(a.reply != b.reply for a, b in zip(plain, varied, strict=True))
    assert reworded > 40  # most replies are worded differently


def test_variation_is_deterministic_per_seed_and_differs_across_seeds(
    shipped: list[Dialogue],
) -> None:
    [dialogue] = [d for d in shipped if d.name == "order_lookup"]
    first, again, other = (run(dialogue, variation_seed=s) for s in (7, 7, 8))

    def seen(turns: list[TurnResult]) -> list[Any]:  # the snippet's own message ids aside
        return [(t.reply, t.tools_called, t.conversation_id, t.output.usage) for t in turns]

    assert seen(first) == seen(again)
    assert [t.reply for t in first] != [t.reply for t in other]
    # Fresh ids per seed, as a live project gives.
    assert first[0].conversation_id != other[0].conversation_id
    plain = run(dialogue)
    assert first[0].conversation_id != plain[0].conversation_id


def test_usage_moves_by_a_few_percent() -> None:
    variation = Variation(3)
    usage = {"input_tokens": 1000, "output_tokens": 200, "total_tokens": 1200}
    moved = [variation.vary_usage(usage, "d", 1, turn) for turn in range(20)]
    assert all(960 <= m["input_tokens"] <= 1040 for m in moved)
    assert all(m["total_tokens"] == m["input_tokens"] + m["output_tokens"] for m in moved)
    assert len({m["input_tokens"] for m in moved}) > 5


def test_only_calls_of_independent_intents_change_order(shipped: list[Dialogue]) -> None:
    [parallel] = [d for d in shipped if d.name == "multi_tool_turn"]
    [sequential] = [d for d in shipped if d.name == "failing_tool"]
    orders = {tuple(run(parallel, variation_seed=s)[1].tools_called) for s in range(8)}
    assert orders == {
        ("get_customer_orders", "search_products"),
        ("search_products", "get_customer_orders"),
    }
    sequences = {tuple(run(sequential, variation_seed=s)[0].tools_called) for s in range(8)}
    assert sequences == {("get_order", "track_shipment")}


def test_a_refusal_stays_a_refusal_under_variation() -> None:
    variation = Variation(1)
    for turn in range(10):
        text, _ = variation.reword("I'm sorry, but I can't help with that request.", turn)
        assert text.startswith("I'm sorry, but I can't help")


@pytest.mark.parametrize(
    ("change", "check"),
    [
        (BehaviourChange("drop_tool", tool="search_products", turn=2), "dropped"),
        (BehaviourChange("change_argument", tool="get_customer_orders", turn=2), "argument"),
        (BehaviourChange("swap_order", turn=2), "swapped"),
        (BehaviourChange("refuse", turn=2), "refused"),
    ],
)
def test_behaviour_changes_change_the_named_turn_only(
    shipped: list[Dialogue], change: BehaviourChange, check: str
) -> None:
    [dialogue] = [d for d in shipped if d.name == "multi_tool_turn"]
    relaxed = dialogue.model_copy(
        update={
            "turns": [t.model_copy(update={"expect": type(t.expect)()}) for t in dialogue.turns]
        }
    )
    plain = run(relaxed)
    changed = run(relaxed, behaviour_change=change)
    assert (changed[0].reply, changed[0].tools_called) == (plain[0].reply, plain[0].tools_called)
    before, after = plain[1], changed[1]
    if check == "dropped":
        assert after.tools_called == ["get_customer_orders"]
    elif check == "argument":
        [call] = [
            i
            for i in after.output.items
            if isinstance(i, FunctionCall) and i.name == "get_customer_orders"
        ]
        assert call.arguments == '{"email":"JONAS@EXAMPLE.DE"}'
    elif check == "swapped":
        assert after.tools_called == list(reversed(before.tools_called))
    else:
        assert after.tools_called == [] and after.reply.startswith("I'm sorry")


def test_an_error_change_fails_the_response(shipped: list[Dialogue]) -> None:
    [dialogue] = [d for d in shipped if d.name == "greeting"]
    with pytest.raises(Exception, match="turn 2: FoundryError: Foundry error server_error"):
        run(dialogue, behaviour_change=BehaviourChange("error", turn=2))


def test_the_command_line_takes_a_variation_seed() -> None:
    assert parse_args(["--vary", "3"]).vary == 3
    assert parse_args([]).vary is None
