"""A dialogue turn's `expect:` block, checked against real turns driven through the snippet and
the emulator (latticeflow-core's agent scorers do the tool checks)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from foundry_goldens.emulator import FoundryEmulator
from foundry_goldens.emulator.variation import BehaviourChange
from foundry_goldens.goldens.dialogues import Dialogue, DialogueError, load_dialogue
from foundry_goldens.snippet.checking import ExpectationFailure, checking_each_turn
from foundry_goldens.snippet.credentials import StaticTokenCredential
from foundry_goldens.snippet.driver import TurnFailure, drive_dialogue
from foundry_goldens.snippet.loader import load_integration


@pytest.fixture
def emulator() -> Iterator[FoundryEmulator]:
    with FoundryEmulator(seed="expectations") as running:
        yield running


def environment(emulator: FoundryEmulator) -> dict[str, Any]:
    return {
        "AZURE_AI_PROJECT_ENDPOINT": emulator.endpoint,
        "AZURE_FOUNDRY_AGENT_NAME": "retail-support",
        "AZURE_TOKEN_CREDENTIAL": StaticTokenCredential(),
    }


def dialogue(tmp_path: Path, *turns: dict[str, Any]) -> Dialogue:
    path = tmp_path / "probe.yaml"
    path.write_text(
        yaml.safe_dump({"name": "probe", "agent": "retail-support", "turns": list(turns)}),
        encoding="utf-8",
    )
    return load_dialogue(path)


def drive(emulator: FoundryEmulator, script: Dialogue) -> list[Any]:
    """Drive the dialogue as a recording does: each turn's expectations checked as it arrives."""
    return drive_dialogue(
        script,
        load_integration().run_inference,
        environment(emulator),
        on_turn=checking_each_turn(script),
    )


TWO_TOOLS = "My email is jonas@example.de. Show my orders and search for espresso cups"


def test_every_kind_of_expectation_holds_on_a_matching_turn(
    tmp_path: Path, emulator: FoundryEmulator
) -> None:
    expect = {
        "tools": ["search_products"],
        "calls": [
            {"name": "get_customer_orders", "arguments": {"email": "jonas@example.de"}},
            {"name": "search_products", "arguments_include": {"query": "espresso cups"}},
        ],
        "calls_in_order": ["get_customer_orders", "search_products"],
        "tools_not_called": ["start_return"],
        "reply_contains": ["ORD-2001"],
        "reply_not_contains": ["flying cars"],
        "reply_matches": [r"Espresso Cups \(set of \d\)"],
        "reply_not_matches": [r"(?i)sorry"],
        "tool_output_contains": {"search_products": [r'"in_stock": true']},
        "tool_output_not_contains": {"get_customer_orders": ["ORD-1001"]},
        "refusal": False,
        "max_prompt_tokens": 100_000,
        "max_completion_tokens": 1_000,
        "min_completion_tokens": 1,
    }
    [turn] = drive(emulator, dialogue(tmp_path, {"user": TWO_TOOLS, "expect": expect}))
    assert [name for name in turn.tools_called] == ["get_customer_orders", "search_products"]


@pytest.mark.parametrize(
    ("expect", "says"),
    [
        ({"calls": [{"name": "search_products", "arguments": {"query": "tea"}}]}, "expect.calls"),
        (
            {"calls": [{"name": "search_products", "arguments_include": {"query": "tea"}}]},
            'no search_products call with arguments including {"query": "tea"}',
        ),
        (
            {"calls_in_order": ["search_products", "get_customer_orders"]},
            "expect.calls_in_order: expected search_products, get_customer_orders in this order",
        ),
        ({"tools_not_called": ["search_products"]}, "expect.tools_not_called: must not call"),
        ({"reply_matches": ["(?i)refund"]}, "expect.reply_matches: '(?i)refund' does not match"),
        ({"reply_not_contains": ["ORD-2001"]}, "expect.reply_not_contains: 'ORD-2001' is in"),
        (
            {"tool_output_contains": {"search_products": ["P-999"]}},
            "expect.tool_output_contains.search_products: no output of search_products",
        ),
        ({"refusal": True}, "expect.refusal: the reply is not a refusal"),
        ({"max_completion_tokens": 3}, "expect.max_completion_tokens: "),
        ({"error": {"code": "server_error"}}, "expect.error: expected the turn to fail"),
    ],
)
def test_a_broken_expectation_names_dialogue_turn_and_key(
    tmp_path: Path, emulator: FoundryEmulator, expect: dict[str, Any], says: str
) -> None:
    script = dialogue(tmp_path, {"user": "Hello!"}, {"user": TWO_TOOLS, "expect": expect})
    with pytest.raises(ExpectationFailure) as failure:
        drive(emulator, script)
    assert str(failure.value).startswith("probe, turn 2: ")
    assert says in str(failure.value)


def test_an_expected_error_is_a_turn_and_the_dialogue_goes_on(
    tmp_path: Path, emulator: FoundryEmulator
) -> None:
    script = dialogue(
        tmp_path,
        {"user": "Hi, I'd like to see my orders."},
        {
            "user": "My email is ana@example.com [emulate: failed-response]",
            "expect": {"error": {"code": "server_error", "message_contains": "did not respond"}},
        },
        {"user": "Can you show me my orders now?", "expect": {"tools": ["get_customer_orders"]}},
    )
    turns = drive(emulator, script)
    assert turns[1].error is not None
    assert (turns[1].error.type, turns[1].error.code) == ("FoundryError", "server_error")
    assert turns[1].conversation_id == "" and turns[1].reply == ""
    assert turns[2].conversation_id == turns[0].conversation_id
    # The failed turn leaves its user message but no assistant message in later requests.
    assert '"My email is ana@example.com' in turns[2].request_body


def test_another_error_code_breaks_the_expectation(
    tmp_path: Path, emulator: FoundryEmulator
) -> None:
    script = dialogue(
        tmp_path,
        {"user": "Hi [emulate: failed-response]", "expect": {"error": {"code": "rate_limit"}}},
    )
    with pytest.raises(ExpectationFailure, match=r"expect.error.code: expected 'rate_limit'"):
        drive(emulator, script)


def test_an_unexpected_error_still_fails_the_turn(
    tmp_path: Path, emulator: FoundryEmulator
) -> None:
    script = dialogue(tmp_path, {"user": "Hi [emulate: failed-response]"})
    with pytest.raises(TurnFailure, match=r"probe, turn 1: FoundryError: Foundry error server"):
        drive(emulator, script)


def test_order_is_checked_only_where_the_dialogue_asks_for_it(tmp_path: Path) -> None:
    swapped = BehaviourChange("swap_order")
    with FoundryEmulator(seed="order", behaviour_change=swapped) as emulator:
        any_order = dialogue(
            tmp_path, {"user": TWO_TOOLS, "expect": {"tools": ["search_products"]}}
        )
        [turn] = drive(emulator, any_order)
        assert turn.tools_called == ["search_products", "get_customer_orders"]
        ordered = dialogue(
            tmp_path,
            {
                "user": TWO_TOOLS,
                "expect": {"calls_in_order": ["get_customer_orders", "search_products"]},
            },
        )
        with pytest.raises(ExpectationFailure, match="in this order"):
            drive(emulator, ordered)


@pytest.mark.parametrize(
    ("expect", "field", "says"),
    [
        ({"reply_matches": ["(unclosed"]}, "turns[0].expect.reply_matches", "regular expression"),
        (
            {"tool_output_contains": {"get_order": ["[a-"]}},
            "turns[0].expect.tool_output_contains",
            "regular expression",
        ),
        (
            {"error": {"code": "server_error"}, "tools": ["get_order"]},
            "turns[0].expect",
            "remove tools or the error",
        ),
        ({"calls": [{"nam": "get_order"}]}, "turns[0].expect.calls[0]", ""),
        ({"max_prompt_tokens": -1}, "turns[0].expect.max_prompt_tokens", "(turn 1)"),
    ],
)
def test_bad_expectations_name_file_turn_and_key(
    tmp_path: Path, expect: dict[str, Any], field: str, says: str
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(
        yaml.safe_dump({"name": "bad", "turns": [{"user": "hi", "expect": expect}]}),
        encoding="utf-8",
    )
    with pytest.raises(DialogueError) as error:
        load_dialogue(path)
    message = str(error.value)
    assert str(path) in message and field in message and says in message
