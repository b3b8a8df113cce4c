"""The emulator's scripted agents and rule engine, without HTTP."""

from __future__ import annotations

import json
from collections.abc import Mapping

import pytest

from foundry_goldens.emulator import catalog
from foundry_goldens.emulator.agents import (
    AGENTS,
    POLICY_ASSISTANT,
    RETAIL_SUPPORT,
    RETAIL_SUPPORT_GUARDED,
)
from foundry_goldens.emulator.engine import (
    AgentSpec,
    ApprovalRequest,
    Call,
    ConversationState,
    Event,
    FileSearch,
    Intent,
    ListTools,
    Reasoning,
    Reply,
    SlotSpec,
    ToolCall,
    ToolResult,
    ToolSpec,
    resume_approval,
    run_turn,
)


def calls(events: list[Event]) -> list[tuple[str, dict[str, str]]]:
    return [(e.name, dict(e.arguments)) for e in events if isinstance(e, ToolCall)]


def reply(events: list[Event]) -> str:
    assert isinstance(events[-1], Reply), events
    return events[-1].text


def play(agent: AgentSpec, *texts: str) -> tuple[ConversationState, list[list[Event]]]:
    state = ConversationState()
    return state, [run_turn(agent, state, text) for text in texts]


def test_agents_are_registered_by_name() -> None:
    assert set(AGENTS) == {
        "retail-support",
        "retail-support-guarded",
        "policy-assistant",
        "store-assistant",
    }
    assert RETAIL_SUPPORT_GUARDED.require_approval == {"start_return"}
    assert {t.name for t in RETAIL_SUPPORT.tools} == {
        "search_products",
        "get_customer_orders",
        "get_order",
        "start_return",
        "track_shipment",
    }


def test_a_greeting_calls_no_tool_and_lists_tools_only_on_the_first_turn() -> None:
    _, (first, second) = play(RETAIL_SUPPORT, "Hello!", "Hello again")
    assert isinstance(first[0], ListTools)
    assert calls(first) == []
    assert "Contoso Retail" in reply(first)
    assert not any(isinstance(e, ListTools) for e in second)


def test_asks_for_what_is_missing_and_remembers_what_earlier_turns_gave() -> None:
    state, turns = play(
        RETAIL_SUPPORT, "Where is my order?", "It's ana@example.com", "ORD-1001 please"
    )
    assert calls(turns[0]) == [] and "email address" in reply(turns[0])
    assert calls(turns[1]) == [("get_customer_orders", {"email": "ana@example.com"})]
    assert "Which order" in reply(turns[1])
    assert calls(turns[2]) == [("get_order", {"order_id": "ORD-1001"})]
    assert "delivered on 2025-05-02" in reply(turns[2])
    assert state.slots["email"] == "ana@example.com" and state.pending == []


def test_later_turns_use_the_email_from_turn_one() -> None:
    _, turns = play(
        RETAIL_SUPPORT, "Hi, my email is ana@example.com", "Show my orders", "What's my email?"
    )
    assert calls(turns[1]) == [("get_customer_orders", {"email": "ana@example.com"})]
    assert "ana@example.com" in reply(turns[2])


def test_several_tool_calls_in_one_turn() -> None:
    _, (_, turn) = play(
        RETAIL_SUPPORT, "my email is jonas@example.de", "Show my orders and search for cups"
    )
    assert calls(turn) == [
        ("get_customer_orders", {"email": "jonas@example.de"}),
        ("search_products", {"query": "cups"}),
    ]


def test_anything_else_gets_the_fallback_and_the_help_text() -> None:
    _, (turn,) = play(RETAIL_SUPPORT, "Bananas are yellow")
    assert calls(turn) == []
    assert reply(turn) == f"{RETAIL_SUPPORT.fallback} {RETAIL_SUPPORT.help_text}"


def test_a_search_with_no_result() -> None:
    _, (turn,) = play(RETAIL_SUPPORT, "Do you have any flying cars?")
    assert calls(turn) == [("search_products", {"query": "flying cars"})]
    assert "couldn't find any products" in reply(turn)


@pytest.mark.parametrize(
    ("text", "query", "product"),
    [
        ("イヤホンを探しています", "イヤホン", "ワイヤレスイヤホン Sakura"),
        ("Ich suche eine Kaffeemühle", "Kaffeemühle", "Kaffeemühle „Bergland“"),
        ("Habt ihr Espresso-Tassen?", "Espresso-Tassen", None),
    ],
)
def test_non_ascii_queries(text: str, query: str, product: str | None) -> None:
    _, (turn,) = play(RETAIL_SUPPORT, text)
    assert calls(turn) == [("search_products", {"query": query})]
    if product:
        assert product in reply(turn)
    else:
        assert "couldn't find any products" in reply(turn)


def test_a_failing_tool_is_a_failed_call_with_an_mcp_error() -> None:
    _, (turn,) = play(RETAIL_SUPPORT, "Please track ORD-2001")
    failed = [e for e in turn if isinstance(e, ToolCall) and e.name == "track_shipment"]
    assert len(failed) == 1
    assert failed[0].result.error is not None
    assert failed[0].result.error["type"] == "mcp_tool_execution_error"
    assert "couldn't reach the carrier" in reply(turn)


def test_a_free_text_answer_fills_the_slot_that_was_asked_for() -> None:
    _, turns = play(RETAIL_SUPPORT, "I want to return ORD-1001", "It broke after a week")
    assert "reason" in reply(turns[0])
    assert calls(turns[1]) == [
        ("start_return", {"order_id": "ORD-1001", "reason": "It broke after a week"})
    ]


def test_a_return_of_an_undelivered_order_is_refused_by_the_tool() -> None:
    _, (turn,) = play(RETAIL_SUPPORT, "Return ORD-1002 because I changed my mind")
    assert "couldn't start a return" in reply(turn)


@pytest.mark.parametrize(("approve", "expected"), [(True, "RMA-3001"), (False, "did not start")])
def test_a_tool_needing_approval_waits_then_resumes(approve: bool, expected: str) -> None:
    state, (turn,) = play(RETAIL_SUPPORT_GUARDED, "Return ORD-3001 because it is broken")
    request = turn[-1]
    assert isinstance(request, ApprovalRequest)
    assert request.arguments == {"order_id": "ORD-3001", "reason": "it is broken"}
    assert not any(isinstance(e, Reply) for e in turn)

    resumed = resume_approval(RETAIL_SUPPORT_GUARDED, state, request, "mcpr_1", approve)
    ran = [e for e in resumed if isinstance(e, ToolCall)]
    assert [(e.name, e.approval_request_id) for e in ran] == (
        [("start_return", "mcpr_1")] if approve else []
    )
    assert expected in reply(resumed)


def test_tools_do_not_change_the_order_book() -> None:
    before = catalog.ORDERS
    result = catalog.start_return({"order_id": "ORD-1001", "reason": "x"})
    assert result.output["status"] == "return_started"
    assert before == catalog.ORDERS
    json.dumps(result.output)  # tool output is plain JSON


def test_an_agent_is_data_the_engine_needs_no_change_for() -> None:
    def echo(args: Mapping[str, str]) -> ToolResult:
        return ToolResult({"echo": args["word"]})

    agent = AgentSpec(
        name="echo",
        version="1",
        model="gpt-4.1-mini",
        instructions="Echo words.",
        server_label="echo-tools",
        server_url="https://echo.example/mcp",
        tools=(
            ToolSpec(
                "echo",
                "Echo a word.",
                {"type": "object"},
                echo,
                lambda args, result, slots: f"Echo: {result.output['echo']}",
            ),
        ),
        slots=(SlotSpec("word", (r"(?i)\becho (\w+)",), "Which word?", free_text=True),),
        intents=(
            Intent(
                "echo", (r"(?i)\becho\b",), needs=("word",), calls=(Call("echo", {"word": "word"}),)
            ),
        ),
        help_text="I echo.",
        fallback="Say echo.",
    )
    _, turns = play(agent, "echo", "hello", "echo again")
    assert reply(turns[0]) == "Which word?"
    assert reply(turns[1]) == "Echo: hello"
    assert reply(turns[2]) == "Echo: again"


# --- policy-assistant: file_search, citations, several messages, reasoning -----------------------


def test_a_policy_question_searches_the_files_and_cites_one() -> None:
    _, (events,) = play(POLICY_ASSISTANT, "What does the warranty cover?")
    assert [type(e) for e in events] == [FileSearch, Reply]  # no MCP server: no tool listing
    assert events[0] == FileSearch(("warranty coverage",))
    answer = events[1]
    assert isinstance(answer, Reply) and "two-year warranty" in answer.text
    (citation,) = answer.citations
    assert (citation.filename, citation.index) == ("warranty.md", len(answer.text))
    assert citation.file_id.startswith("assistant-")


def test_two_policies_in_one_question_are_two_messages_after_one_search() -> None:
    _, (events,) = play(POLICY_ASSISTANT, "Hi! What are your return and shipping policies?")
    assert [type(e) for e in events] == [FileSearch, Reply, Reply]
    search, returns, shipping = events
    assert isinstance(search, FileSearch) and len(search.queries) == 2
    assert isinstance(returns, Reply) and returns.text.startswith("Hello!")  # small talk joins
    assert [c.filename for c in returns.citations] == ["returns-policy.md"]
    assert isinstance(shipping, Reply) and "express" in shipping.text
    assert [c.filename for c in shipping.citations] == ["shipping-policy.md"]


def test_an_eligibility_question_is_reasoned_about_first() -> None:
    _, (events,) = play(POLICY_ASSISTANT, "Can I still return headphones I opened 3 weeks ago?")
    assert [type(e) for e in events] == [Reasoning, FileSearch, Reply]
    assert "14-day" in events[0].summary  # type: ignore[union-attr]
    assert "14 days" in reply(events)


def test_the_retail_agent_still_answers_in_one_message() -> None:
    _, (events,) = play(RETAIL_SUPPORT, "my email is ana@example.com, and track ORD-1001")
    assert sum(isinstance(e, Reply) for e in events) == 1
