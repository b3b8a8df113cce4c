"""integration/run_inference.py, unchanged, against the emulator, turn by turn as AI GO! calls it:
each request holds the whole chat so far, and the previous assistant message (with its
`conversation_id` extra field) is `model_output_to_message` of the previous output."""

from __future__ import annotations

import re
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest
from latticeflow.core.dtypes import FunctionCall, FunctionCallOutput, OpenResponsesModelOutput

from foundry_goldens.emulator import FaultConfig, FoundryEmulator
from foundry_goldens.snippet.credentials import StaticTokenCredential
from foundry_goldens.snippet.driver import TurnResult, build_request_body, check_turn


@pytest.fixture
def fresh_clients(snippet: ModuleType) -> Iterator[ModuleType]:
    """The snippet, with its client cache emptied afterwards (its clients outlive the server)."""
    yield snippet
    snippet.reset_client_cache()


def environment(
    emulator: FoundryEmulator, agent: str = "retail-support", **extra: Any
) -> dict[str, Any]:
    return {
        "AZURE_AI_PROJECT_ENDPOINT": emulator.endpoint,
        "AZURE_FOUNDRY_AGENT_NAME": agent,
        "AZURE_TOKEN_CREDENTIAL": StaticTokenCredential(),
        **extra,
    }


def converse(snippet: ModuleType, env: dict[str, Any], *texts: str) -> list[TurnResult]:
    results: list[TurnResult] = []
    for number, text in enumerate(texts, start=1):
        body = build_request_body(results, text)
        output_json = snippet.run_inference(body, env)
        results.append(
            TurnResult(number, text, body, output_json, check_turn("test", number, output_json))
        )
    return results


def calls(output: OpenResponsesModelOutput) -> list[tuple[str, str]]:
    return [
        (item.name, item.status.value) for item in output.items if isinstance(item, FunctionCall)
    ]


@pytest.mark.parametrize("agent", ["retail-support", "retail-support-guarded"])
def test_three_turns_one_conversation_one_client(fresh_clients: ModuleType, agent: str) -> None:
    with FoundryEmulator(seed="integration") as emulator:
        turns = converse(
            fresh_clients,
            environment(emulator, agent),
            "Hi, where is my order?",
            "My email is ana@example.com",
            "ORD-1001 please",
        )
    stats = emulator.stats()  # the final counters stay readable after stop
    assert len({turn.conversation_id for turn in turns}) == 1
    assert turns[0].conversation_id.startswith("conv_")
    assert "email address" in turns[0].reply and turns[0].tools_called == []
    assert turns[1].tools_called == ["get_customer_orders"] and "ORD-1002" in turns[1].reply
    assert turns[2].tools_called == ["get_order"] and "delivered on 2025-05-02" in turns[2].reply
    assert stats.requests == {"POST /conversations": 1, "POST /responses": 3}
    assert stats.connections == 1  # one client, reused across calls


def test_a_long_conversation_remembers_turn_one(fresh_clients: ModuleType) -> None:
    with FoundryEmulator(seed="integration") as emulator:
        turns = converse(
            fresh_clients,
            environment(emulator),
            "Hi, I'm Ana. My email is ana@example.com.",
            "Do you have any trail running shoes?",
            "What about a desk lamp?",
            "Can you track ORD-1001?",
            "Show my orders",
            "What was my email again?",
        )
    assert turns[4].tools_called == ["get_customer_orders"] and "ana@example.com" in turns[4].reply
    assert "ana@example.com" in turns[5].reply
    # The failing tracking tool shows as an incomplete call with its error as output.
    assert calls(turns[3].output) == [("get_order", "completed"), ("track_shipment", "incomplete")]
    failed_output = [i for i in turns[3].output.items if isinstance(i, FunctionCallOutput)][-1]
    assert "mcp_tool_execution_error" in failed_output.output


@pytest.mark.parametrize(
    ("policy", "status", "reply"),
    [
        ("approve", "completed", "I started return RMA-3001"),
        ("deny", "incomplete", "did not start a return for ORD-3001"),
        ("allow:get_order", "incomplete", "did not start a return for ORD-3001"),
        ("allow:start_return", "completed", "I started return RMA-3001"),
    ],
)
def test_approval_flow_follows_the_policy(
    fresh_clients: ModuleType, policy: str, status: str, reply: str
) -> None:
    with FoundryEmulator(seed="integration") as emulator:
        env = environment(emulator, "retail-support-guarded", FOUNDRY_MCP_APPROVAL=policy)
        first, second = converse(
            fresh_clients, env, "I want to return ORD-3001 because it is broken", "Thanks!"
        )
        stats = emulator.stats()
    assert calls(first.output) == [("start_return", status)]
    assert reply in first.reply
    assert "You're welcome" in second.reply
    assert stats.requests["POST /responses"] == 3  # the request, the approval answer, turn 2
    assert first.conversation_id == second.conversation_id


def test_rate_limits_are_retried_by_the_client(fresh_clients: ModuleType) -> None:
    with FoundryEmulator(seed="integration", faults=FaultConfig(rate_limit_every=2)) as emulator:
        turns = converse(
            fresh_clients, environment(emulator), "Hello", "search for lamps", "Thanks"
        )
        stats = emulator.stats()
    assert [t.tools_called for t in turns] == [[], ["search_products"], []]
    # Calls 2 and 4 were limited; each was retried on the same connection.
    assert stats.requests["POST /responses"] == 5 and stats.faults == {"rate_limited": 2}
    assert stats.connections == 1


@pytest.mark.parametrize(
    "faults", [FaultConfig(fail_call=2), FaultConfig(drop_call=2)], ids=["500", "dropped"]
)
def test_one_failed_call_is_retried_by_the_client(
    fresh_clients: ModuleType, faults: FaultConfig
) -> None:
    with FoundryEmulator(seed="integration", faults=faults) as emulator:
        turns = converse(fresh_clients, environment(emulator), "Hello", "search for lamps")
        stats = emulator.stats()
    assert turns[1].tools_called == ["search_products"]
    assert stats.requests["POST /responses"] == 3


def test_persistent_rate_limiting_surfaces_as_a_foundry_error(fresh_clients: ModuleType) -> None:
    with FoundryEmulator(
        seed="integration", faults=FaultConfig(rate_limit_every=1, retry_after=0.01)
    ) as emulator:
        with pytest.raises(fresh_clients.FoundryError) as raised:
            converse(fresh_clients, environment(emulator), "Hello")
        stats = emulator.stats()
    assert raised.value.status_code == 429 and raised.value.code == "rate_limit_exceeded"
    assert stats.requests["POST /responses"] == 3  # the call and the client's two retries
    assert re.search(r"\[request id [0-9a-f]{32}\]$", str(raised.value))


def test_a_malformed_body_fails_the_turn_and_the_next_turn_works(fresh_clients: ModuleType) -> None:
    with FoundryEmulator(seed="integration", faults=FaultConfig(malformed_call=2)) as emulator:
        env = environment(emulator)
        (first,) = converse(fresh_clients, env, "Hello")
        with pytest.raises(fresh_clients.FoundryError) as raised:
            fresh_clients.run_inference(build_request_body([first], "search for lamps"), env)
        assert raised.value.code == "invalid_response"
        assert "not valid JSON" in str(raised.value)
        retried = fresh_clients.run_inference(build_request_body([first], "search for lamps"), env)
    assert "LED Desk Lamp" in retried


def test_unknown_agent_is_a_foundry_error(fresh_clients: ModuleType) -> None:
    with (
        FoundryEmulator(seed="integration") as emulator,
        pytest.raises(fresh_clients.FoundryError) as raised,
    ):
        converse(fresh_clients, environment(emulator, "no-such-agent"), "Hello")
    assert raised.value.status_code == 404 and raised.value.code == "not_found"
    assert "no-such-agent" in str(raised.value)
    # The request id Foundry put in the body and the x-request-id header reaches the error.
    assert raised.value.request_id is not None
    assert raised.value.request_id in raised.value.message  # "[Request ID: …]" in the body
    assert str(raised.value).endswith(f"[request id {raised.value.request_id}]")
