"""The emulator's slot patterns on long and odd user text: anchored to token starts, they find
the same slots as unanchored patterns would. Their speed on 100-200 KB turns is measured by
benchmarks/emulator_long_turn.py, not here; a quadratic pattern would still make the 100 KB
case below take minutes instead of milliseconds."""

from __future__ import annotations

import pytest

from foundry_goldens.emulator.agents import RETAIL_SUPPORT
from foundry_goldens.emulator.engine import ConversationState, Reply, ToolCall, run_turn


def first_call(text: str) -> tuple[str, dict[str, str]] | None:
    events = run_turn(RETAIL_SUPPORT, ConversationState(), text)
    found = [(e.name, dict(e.arguments)) for e in events if isinstance(e, ToolCall)]
    return found[0] if found else None


@pytest.mark.parametrize(
    ("text", "email"),
    [
        ("My email is ana@example.com", "ana@example.com"),
        ("my email is Ana@Example.com.", "ana@example.com"),
        ("(jonas@example.de) please", "jonas@example.de"),
        ("mail:haruto@example.jp", "haruto@example.jp"),
        ("it's a.b+c-d@mail.example.co.uk ok", "a.b+c-d@mail.example.co.uk"),
    ],
)
def test_the_email_slot_finds_the_whole_address(text: str, email: str) -> None:
    assert first_call(text) == ("get_customer_orders", {"email": email})


def test_an_email_after_100_kb_of_one_word_is_found() -> None:
    assert first_call("a" * 100_000 + " my email is ana@example.com") == (
        "get_customer_orders",
        {"email": "ana@example.com"},
    )


def test_100_kb_without_any_slot_gets_a_plain_reply() -> None:
    events = run_turn(RETAIL_SUPPORT, ConversationState(), "a." * 50_000)
    assert isinstance(events[-1], Reply)
    assert not any(isinstance(e, ToolCall) for e in events)


@pytest.mark.parametrize(
    ("text", "query"),
    [("靴を探しています", "靴"), ("こんにちは、傘はありますか", "傘")],
)
def test_the_japanese_product_query_starts_at_a_token(text: str, query: str) -> None:
    call = first_call(text)
    assert call is not None and call[0] == "search_products"
    assert call[1]["query"] == query
