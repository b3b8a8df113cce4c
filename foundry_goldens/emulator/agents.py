"""The scripted agents, as data: their tools, the slots they remember, the intents they serve.

To add an agent, build another `AgentSpec` (reuse or add tools in `catalog.py`) and list it in
`AGENTS`; the engine needs no change.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import replace

from foundry_goldens.emulator import catalog
from foundry_goldens.emulator.engine import (
    AgentSpec,
    Call,
    Document,
    FunctionSpec,
    Intent,
    KnowledgeBase,
    SlotSpec,
    ToolResult,
    ToolSpec,
)

# --- how the agent talks about each tool's output ----------------------------------------------


def _say_search(args: Mapping[str, str], result: ToolResult, slots: Mapping[str, str]) -> str:
    found = result.output["results"]
    if not found:
        return f"I couldn't find any products matching “{args['query']}”."
    listed = "; ".join(
        f"{p['name']} ({p['sku']}) – {p['price']} {p['currency']}, "
        + ("in stock" if p["in_stock"] else "out of stock")
        for p in found
    )
    noun = "product" if len(found) == 1 else "products"
    return f"I found {len(found)} {noun} for “{args['query']}”: {listed}."


def _item_names(order: Mapping[str, object]) -> str:
    items = order["items"]
    if not isinstance(items, list):
        raise TypeError(f"an order's items are a list, not {type(items).__name__}")
    return ", ".join(f"{item['name']} ×{item['quantity']}" for item in items)


def _say_orders(args: Mapping[str, str], result: ToolResult, slots: Mapping[str, str]) -> str:
    orders = result.output["orders"]
    if not orders:
        return f"I couldn't find any orders for {args['email']}."
    listed = "; ".join(f"{o['order_id']} ({_item_names(o)}, {o['status']})" for o in orders)
    noun = "order" if len(orders) == 1 else "orders"
    return f"I found {len(orders)} {noun} for {args['email']}: {listed}."


def _say_order(args: Mapping[str, str], result: ToolResult, slots: Mapping[str, str]) -> str:
    order = result.output
    if not order["found"]:
        return f"I couldn't find an order {args['order_id']}."
    if "email" in slots and order["email"] != slots["email"]:
        return f"Order {order['order_id']} is not on the account for {slots['email']}."
    status = {
        "delivered": f"was delivered on {order['delivered_on']} by {order['carrier']}",
        "shipped": f"has shipped with {order['carrier']} and is on its way",
        "processing": "is still being processed and has not shipped yet",
    }[order["status"]]
    return (
        f"Order {order['order_id']} (placed {order['placed_on']}: {_item_names(order)}, "
        f"total {order['total']} {order['currency']}) {status}."
    )


def _say_return(args: Mapping[str, str], result: ToolResult, slots: Mapping[str, str]) -> str:
    outcome = result.output
    if outcome["status"] != "return_started":
        return f"I couldn't start a return for {args['order_id']}: {outcome['reason']}."
    return (
        f"I started return {outcome['return_id']} for order {outcome['order_id']} "
        f"(reason: {outcome['reason']}). Your return label: {outcome['label_url']}"
    )


def _say_tracking(args: Mapping[str, str], result: ToolResult, slots: Mapping[str, str]) -> str:
    if result.error is not None:
        return (
            f"I couldn't reach the carrier's tracking service for {args['order_id']} right now; "
            "please try again later."
        )
    return f"Tracking for {args['order_id']}: {result.output}."


# --- tools: the "retail-tools" MCP server ------------------------------------------------------


def _schema(**properties: str) -> dict[str, object]:
    return {
        "type": "object",
        "properties": {
            name: {"type": "string", "description": text} for name, text in properties.items()
        },
        "required": list(properties),
        "additionalProperties": False,
    }


RETAIL_TOOLS: tuple[ToolSpec, ...] = (
    ToolSpec(
        "search_products",
        "Search the product catalog by free text.",
        _schema(query="Words to look for in product names and categories."),
        catalog.search_products,
        _say_search,
    ),
    ToolSpec(
        "get_customer_orders",
        "List a customer's orders by the email address on the account.",
        _schema(email="The customer's email address."),
        catalog.get_customer_orders,
        _say_orders,
    ),
    ToolSpec(
        "get_order",
        "Get one order's items, status and delivery details.",
        _schema(order_id="The order number, e.g. ORD-1234."),
        catalog.get_order,
        _say_order,
    ),
    ToolSpec(
        "start_return",
        "Start a return for a delivered order and create a return label.",
        _schema(order_id="The order number, e.g. ORD-1234.", reason="Why the customer returns it."),
        catalog.start_return,
        _say_return,
        read_only=False,
        denied="Understood, I did not start a return for {order_id}. Ask again any time.",
    ),
    ToolSpec(
        "track_shipment",
        "Get live tracking events for a shipped order from the carrier.",
        _schema(order_id="The order number, e.g. ORD-1234."),
        catalog.track_shipment,
        _say_tracking,
    ),
)

# --- what the agent listens for ----------------------------------------------------------------

_ARTICLES = r"(?:(?:any|some|an?|the|eine[nm]?|ein|nach)\s+)*"
_QUERY_PATTERNS = (
    r"(?i)\b(?:search(?:ing)? for|looking for|look for|find me|what about|how about"
    r"|do you (?:also )?(?:have|sell|carry))\s+" + _ARTICLES + r"(.+?)(?:\s+and\s+.*)?[?.!]*$",
    r"(?i)\b(?:ich suche|habt ihr|haben sie)\s+" + _ARTICLES + r"(.+?)[?.!]*$",
    # This lookbehind, like the e-mail slot's, starts a match only where a token starts: the
    # same matches in linear time (unanchored, a long token would be rescanned from every
    # position).
    r"(?<![^\s、。,!?！？])([^\s、。,!?！？]+?)(?:を探して|はありますか)",
)

RETAIL_SLOTS: tuple[SlotSpec, ...] = (
    SlotSpec(
        "email",
        (r"(?<![\w.+-])([\w.+-]+@[\w-]+(?:\.[\w-]+)+)",),
        "Could you tell me the email address on your account?",
        normalize=lambda value: value.strip().lower(),
    ),
    SlotSpec(
        "order_id",
        (r"(?i)\b(ORD[-\s]?\d{4})\b",),
        "Which order do you mean? Please give me the order number (it looks like ORD-1234).",
        normalize=lambda value: "ORD-" + value[-4:],
    ),
    SlotSpec(
        "reason",
        (
            r"(?i)\bbecause\s+(.+?)[.!]*$",
            r"(?i)\breason(?:\s+is|:)\s*(.+?)[.!]*$",
            r"(?i)\bweil\s+(.+?)[.!]*$",
        ),
        "What is the reason for the return?",
        free_text=True,
    ),
    SlotSpec("query", _QUERY_PATTERNS, "What are you looking for?", free_text=True),
)

_HELP = (
    "I can search the catalog, look up and track your orders, and start returns. How can I help?"
)
_FALLBACK = "Sorry, I didn't catch that."

RETAIL_INTENTS: tuple[Intent, ...] = (
    Intent(
        "greeting",
        (
            r"(?i)^\s*(?:hi|hello|hey|hallo|good (?:morning|afternoon|evening))\b",
            r"(?i)^\s*guten (?:tag|morgen)\b",
            r"^\s*こんにちは",
        ),
        reply="Hello! I'm the Contoso Retail support assistant.",
        small_talk=True,
        offer_help=True,
    ),
    Intent(
        "help",
        (r"(?i)\bwhat can you do\b", r"(?i)^\s*help\b", r"(?i)\bhow can you help\b"),
        reply=_HELP,
        small_talk=True,
    ),
    Intent(
        "thanks",
        (r"(?i)\b(?:thanks|thank you|danke)\b", r"ありがとう"),
        reply="You're welcome!",
        small_talk=True,
    ),
    Intent(
        "recall_email",
        (r"(?i)\bwhat(?:'s| is| was)\s+my\s+email\b", r"(?i)\bwhich email\b"),
        needs=("email",),
        reply="The email address you gave me is {email}.",
    ),
    Intent(
        "orders",
        (
            r"(?i)\b(?:my orders|order history|what did i order)\b",
            r"(?i)\b(?:list|show)(?: me)?(?: all)?(?: of)?(?: my)? orders\b",
            r"(?i)\bmeine bestellungen\b",
        ),
        needs=("email",),
        calls=(Call("get_customer_orders", {"email": "email"}),),
        triggered_by=("email",),
    ),
    Intent(
        "order_status",
        (
            r"(?i)\bwhere(?:'s| is)\s+my\s+(?:order|package|parcel)\b",
            r"(?i)\bstatus\b",
            r"(?i)\bwo ist meine?\s+(?:bestellung|paket)\b",
            r"注文",
        ),
        needs=("email", "order_id"),
        calls=(
            Call("get_customer_orders", {"email": "email"}, when=("email",), unless=("order_id",)),
            Call("get_order", {"order_id": "order_id"}),
        ),
        triggered_by=("order_id",),
    ),
    Intent(
        "track",
        (r"(?i)\btrack(?:ing)?\b", r"(?i)\bsendungsverfolgung\b"),
        needs=("order_id",),
        calls=(
            Call("get_order", {"order_id": "order_id"}),
            Call("track_shipment", {"order_id": "order_id"}),
        ),
    ),
    Intent(
        "return",
        (
            r"(?i)\b(?:return|refund|send (?:it|this) back)\b",
            r"(?i)\b(?:zurückgeben|rücksendung)\b",
            r"返品",
        ),
        needs=("order_id", "reason"),
        calls=(Call("start_return", {"order_id": "order_id", "reason": "reason"}),),
        consumes=("reason",),
    ),
    Intent(
        "search",
        (
            r"(?i)\b(?:search|looking for|look for|find me|what about|how about)\b",
            r"(?i)\bdo you (?:also )?(?:have|sell|carry)\b",
            r"(?i)\b(?:ich suche|habt ihr|haben sie)\b",
            r"を探して|はありますか",
        ),
        needs=("query",),
        calls=(Call("search_products", {"query": "query"}),),
        consumes=("query",),
    ),
)

_HELP = (
    "I can search the catalog, look up and track your orders, and start returns. How can I help?"
)
_FALLBACK = "Sorry, I didn't catch that."

RETAIL_SUPPORT = AgentSpec(
    name="retail-support",
    version="1",
    model="gpt-4.1-mini",
    instructions=(
        "You are the Contoso Retail customer-support agent. Use the retail-tools MCP server to "
        "search products, look up orders and start returns. Ask for the customer's email and "
        "order number when you need them."
    ),
    server_label="retail-tools",
    server_url="https://retail-tools.contoso.example/mcp",
    tools=RETAIL_TOOLS,
    slots=RETAIL_SLOTS,
    intents=RETAIL_INTENTS,
    help_text=_HELP,
    fallback=_FALLBACK,
)

# Same agent, but starting a return changes data, so it needs the user's approval first.
RETAIL_SUPPORT_GUARDED = replace(
    RETAIL_SUPPORT,
    name="retail-support-guarded",
    instructions=RETAIL_SUPPORT.instructions + " Starting a return requires the user's approval.",
    require_approval=frozenset({"start_return"}),
)

# --- policy-assistant: answers from files (file_search), thinks first (a reasoning model) -------

_RETURNS_POLICY = (
    "Contoso Retail returns policy. You can return most items within 30 days of delivery for a "
    "full refund to the original payment method. Opened electronics can be returned within 14 "
    "days if all accessories and the original packaging are included. Items marked final sale, "
    "gift cards and personalised products cannot be returned. To start a return, sign in, open "
    "the order and choose Return items, or ask the support assistant; you will receive a prepaid "
    "return label by email. Refunds are issued within 5 business days after the warehouse "
    "receives the parcel. Exchanges are handled as a return plus a new order. Damaged or wrong "
    "items can be returned at any time within 60 days, and Contoso pays the return shipping."
)
_SHIPPING_POLICY = (
    "Contoso Retail shipping policy. Standard shipping takes 3 to 5 business days and is free "
    "for orders over 50 EUR; below that it costs 4.90 EUR. Express shipping delivers the next "
    "business day when ordered before 2 pm and costs 9.90 EUR. We ship to Germany, Austria, "
    "Switzerland, France and Japan. Every shipped order gets a tracking number by email."
)
_WARRANTY = (
    "Contoso Retail warranty. Electronics carry a two-year warranty from the delivery date that "
    "covers manufacturing defects, not accidental damage. Claims need the order number and a "
    "short description of the fault; Contoso repairs, replaces or refunds the item."
)


def small_talk(greeting: str) -> tuple[Intent, Intent]:
    """An English-speaking agent's greeting (then its help text) and its answer to thanks."""
    return (
        Intent(
            "greeting",
            (r"(?i)^\s*(?:hi|hello|hey|hallo|good (?:morning|afternoon|evening))\b",),
            reply=greeting,
            small_talk=True,
            offer_help=True,
        ),
        Intent(
            "thanks",
            (r"(?i)\b(?:thanks|thank you|danke)\b",),
            reply="You're welcome!",
            small_talk=True,
        ),
    )


POLICY_FILES = (
    Document("assistant-7Rt2kQ9wXbLm4Np8Vs3Yc1", "returns-policy.md", _RETURNS_POLICY),
    Document("assistant-3Hd8Gf5Jk2Lq9Wz4Xc7Vb6", "shipping-policy.md", _SHIPPING_POLICY),
    Document("assistant-9Pm1Nb4Vc7Xz2Lk5Jh8Gf3", "warranty.md", _WARRANTY),
)

POLICY_INTENTS: tuple[Intent, ...] = (
    *small_talk("Hello! I answer questions about Contoso Retail's policies."),
    # Asking for the policies in full quotes every file: more than the agent's output budget
    # (max_output_tokens), so the reply is cut.
    Intent(
        "full_policies",
        (r"(?i)\b(?:full|whole|entire|complete)\b.*\bpolic(?:y|ies)\b",),
        search="all policies full text",
        reply="Here are our policies in full. "
        + " ".join((_RETURNS_POLICY, _SHIPPING_POLICY, _WARRANTY)),
        cites=("returns-policy.md", "shipping-policy.md", "warranty.md"),
    ),
    Intent(
        "return_eligibility",
        (r"(?i)\b(?:can i|could i|am i (?:still )?(?:able|allowed|eligible))\b.*\breturn",),
        reasoning=(
            "The customer asks whether an opened item can still be returned after some time. "
            "The returns policy has a general 30-day window and a shorter 14-day window for "
            "opened electronics, so the answer depends on the item type; I should check the "
            "policy file and state both limits."
        ),
        search="return window opened electronics",
        reply=(
            "It depends on the item: unopened items can be returned within 30 days of delivery, "
            "but opened electronics only within 14 days, with all accessories and the original "
            "packaging. After that, only damaged or wrong items can still be returned (within "
            "60 days)."
        ),
        cites=("returns-policy.md",),
    ),
    Intent(
        "returns_policy",
        (
            r"(?i)^(?!.*\b(?:can|could|am) i\b)(?!.*\b(?:full|whole|entire|complete)\b)"
            r".*\b(?:returns?|refunds?)\b",
        ),
        search="returns policy",
        reply=(
            "You can return most items within 30 days of delivery for a full refund; opened "
            "electronics within 14 days. Refunds arrive within 5 business days after the "
            "warehouse receives the parcel."
        ),
        cites=("returns-policy.md",),
    ),
    Intent(
        "shipping_policy",
        (r"(?i)^(?!.*\b(?:full|whole|entire|complete)\b).*\b(?:shipping|delivery|deliver)\b",),
        search="shipping policy costs and times",
        reply=(
            "Standard shipping takes 3 to 5 business days and is free over 50 EUR (otherwise "
            "4.90 EUR); express delivers the next business day for 9.90 EUR."
        ),
        cites=("shipping-policy.md",),
    ),
    Intent(
        "warranty",
        (r"(?i)^(?!.*\b(?:full|whole|entire|complete)\b).*\b(?:warranty|guarantee|defect)",),
        search="warranty coverage",
        reply=(
            "Electronics carry a two-year warranty from delivery covering manufacturing "
            "defects (not accidental damage); Contoso repairs, replaces or refunds the item."
        ),
        cites=("warranty.md",),
    ),
)

POLICY_ASSISTANT = AgentSpec(
    name="policy-assistant",
    version="2",
    model="o4-mini",
    instructions=(
        "You answer questions about Contoso Retail's returns, shipping and warranty policies "
        "from the attached files only, and cite them. Answer each policy in its own message."
    ),
    server_label="",
    server_url="",
    tools=(),
    slots=(),
    intents=POLICY_INTENTS,
    help_text="Ask me about returns, shipping or the warranty.",
    fallback="Sorry, I can only answer questions about our policies.",
    knowledge=KnowledgeBase("vs_Pq7Lm2Xr9Tb4Wd1Nc8Hk5Zf", POLICY_FILES),
    message_per_intent=True,
    max_output_tokens=300,
    # Assumed: the v1 recording's agent (not a reasoning model) shows `effort: none`; a
    # reasoning model thinks at openai's default effort.
    reasoning_effort="medium",
)

# --- store-assistant: client-side function tools (the caller runs them) ------------------------
# Its functions are declared as Foundry shows function tools in a response's `tools`
# (tests/reference/v1/function_tool_conversation_v1.json): the agent only calls them; the
# caller runs them and sends a `function_call_output`, which the agent puts into words.


def _json_object(output: str) -> dict[str, object]:
    """The caller's output as a JSON object, or {} when it is not one (a failed function)."""
    try:
        parsed = json.loads(output)
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def _say_store_hours(args: Mapping[str, str], output: str) -> str:
    result = _json_object(output)
    hours, city = result.get("hours"), result.get("city") or args["city"]
    if not isinstance(hours, str) or "error" in result:
        return f"Sorry, I couldn't get the {args['city']} store's opening hours: the tool failed."
    return f"The {city} store is open {hours} today."


def _say_ticket(args: Mapping[str, str], output: str) -> str:
    result = _json_object(output)
    ticket = result.get("ticket_id")
    if not isinstance(ticket, str) or "error" in result:
        return "Sorry, I couldn't open the support ticket: the ticket tool failed."
    return f"I opened support ticket {ticket} for you: “{args['summary']}”."


STORE_FUNCTIONS: tuple[FunctionSpec, ...] = (
    FunctionSpec(
        "get_store_hours",
        "Get today's opening hours of the Contoso store in a city.",
        _schema(city="The city the store is in, e.g. Zurich."),
        _say_store_hours,
    ),
    FunctionSpec(
        "create_support_ticket",
        "Open a support ticket for the customer's problem.",
        _schema(summary="One sentence saying what went wrong."),
        _say_ticket,
    ),
)

STORE_SLOTS: tuple[SlotSpec, ...] = (
    SlotSpec(
        "city",
        (
            r"(?i)\bthe\s+([A-Za-zÀ-ÿ-]+)\s+store\b",
            r"(?i)\bstore\s+(?:in|at)\s+([A-Za-zÀ-ÿ-]+)",
        ),
        "Which city's store do you mean?",
        free_text=True,
        normalize=lambda value: value.strip().title(),
    ),
    SlotSpec(
        "summary",
        (r"(?i)\bticket\b[^:]*:\s*(.+?)[.!]*$",),
        "What went wrong? I'll put it in the ticket.",
        free_text=True,
    ),
)

_STORE_HELP = "I can tell you a store's opening hours and open support tickets. How can I help?"

STORE_INTENTS: tuple[Intent, ...] = (
    *small_talk("Hello! I'm the Contoso store assistant."),
    Intent(
        "store_hours",
        (r"(?i)\b(?:opening hours|open(?:ing)? times?|hours|when (?:is|does) .*\bopen)\b",),
        needs=("city",),
        calls=(Call("get_store_hours", {"city": "city"}),),
    ),
    Intent(
        "support_ticket",
        (r"(?i)\b(?:support ticket|open a ticket|file a ticket|raise a ticket)\b",),
        needs=("summary",),
        calls=(Call("create_support_ticket", {"summary": "summary"}),),
        consumes=("summary",),
    ),
)

STORE_ASSISTANT = AgentSpec(
    name="store-assistant",
    version="1",
    model="gpt-4.1-mini",
    instructions=(
        "You are the Contoso store assistant. Use get_store_hours for opening hours and "
        "create_support_ticket when a customer reports a problem."
    ),
    server_label="",
    server_url="",
    tools=(),
    slots=STORE_SLOTS,
    intents=STORE_INTENTS,
    help_text=_STORE_HELP,
    fallback="Sorry, I didn't catch that.",
    functions=STORE_FUNCTIONS,
)

AGENTS: Mapping[str, AgentSpec] = {
    agent.name: agent
    for agent in (RETAIL_SUPPORT, RETAIL_SUPPORT_GUARDED, POLICY_ASSISTANT, STORE_ASSISTANT)
}
