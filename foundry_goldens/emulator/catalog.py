"""The retail data behind the emulator's MCP tools: a small catalog and order book.

The tools only read it (a return is answered, never written back), so conversations in one
emulator cannot affect each other and every run gives the same outputs.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from foundry_goldens.emulator.engine import JsonObject, ToolResult


@dataclass(frozen=True)
class Product:
    sku: str
    name: str
    category: str
    price: str  # a decimal string, so output JSON is exact
    in_stock: int
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class Order:
    order_id: str
    email: str
    placed_on: str
    status: str  # processing | shipped | delivered
    items: tuple[tuple[str, int], ...]  # (sku, quantity)
    carrier: str | None = None
    delivered_on: str | None = None


CURRENCY = "EUR"

PRODUCTS: tuple[Product, ...] = (
    Product(
        "P-100",
        "Wireless Headphones WH-100",
        "audio",
        "199.00",
        12,
        ("headphones", "noise cancelling", "bluetooth"),
    ),
    Product(
        "P-101",
        "ワイヤレスイヤホン Sakura",
        "audio",
        "89.00",
        5,
        ("earbuds", "イヤホン", "bluetooth"),
    ),
    Product(
        "P-102",
        "Kaffeemühle „Bergland“",
        "kitchen",
        "49.90",
        3,
        ("coffee grinder", "Kaffee", "Mühle"),
    ),
    Product("P-103", "LED Desk Lamp", "home", "34.50", 0, ("lamp", "light", "office")),
    Product(
        "P-104", "Trail Running Shoes", "sports", "120.00", 7, ("shoes", "running", "sneakers")
    ),
    Product(
        "P-105", "Espresso Cups (set of 4)", "kitchen", "24.00", 20, ("coffee", "cups", "espresso")
    ),
    Product("P-106", "Aluminium Laptop Stand", "office", "59.00", 9, ("laptop", "stand", "desk")),
)

CUSTOMERS: Mapping[str, str] = {
    "ana@example.com": "Ana Lima",
    "jonas@example.de": "Jonas Müller",
    "haruto@example.jp": "佐藤 陽翔",
}

ORDERS: tuple[Order, ...] = (
    Order(
        "ORD-1001",
        "ana@example.com",
        "2025-04-28",
        "delivered",
        (("P-100", 1),),
        "DHL",
        "2025-05-02",
    ),
    Order("ORD-1002", "ana@example.com", "2025-05-20", "processing", (("P-103", 1), ("P-105", 1))),
    Order("ORD-2001", "jonas@example.de", "2025-05-11", "shipped", (("P-102", 1),), "DHL"),
    Order(
        "ORD-3001",
        "haruto@example.jp",
        "2025-03-30",
        "delivered",
        (("P-101", 2),),
        "Yamato",
        "2025-04-03",
    ),
)

_BY_SKU = {product.sku: product for product in PRODUCTS}
_STOP_WORDS = {"a", "an", "the", "any", "some", "for", "me", "please", "eine", "einen", "ein"}


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold()


def _matches(product: Product, query: str) -> bool:
    haystack = _fold(" ".join((product.name, product.category, *product.tags)))
    words = [w for w in _fold(query).split() if w not in _STOP_WORDS]
    # Every word must appear; a plural "s" may be dropped ("lamps" finds "lamp").
    return bool(words) and all(
        w in haystack or (len(w) > 3 and w.endswith("s") and w[:-1] in haystack) for w in words
    )


def _order_summary(order: Order) -> JsonObject:
    total = sum(float(_BY_SKU[sku].price) * qty for sku, qty in order.items)
    summary: JsonObject = {
        "order_id": order.order_id,
        "status": order.status,
        "placed_on": order.placed_on,
        "items": [
            {"sku": sku, "name": _BY_SKU[sku].name, "quantity": qty} for sku, qty in order.items
        ],
        "total": f"{total:.2f}",
        "currency": CURRENCY,
    }
    return summary


def _find_order(order_id: str) -> Order | None:
    return next((o for o in ORDERS if o.order_id == order_id), None)


# --- the MCP tools -----------------------------------------------------------------------------


def search_products(args: Mapping[str, str]) -> ToolResult:
    query = args["query"]
    results = [
        {
            "sku": p.sku,
            "name": p.name,
            "price": p.price,
            "currency": CURRENCY,
            "in_stock": p.in_stock > 0,
        }
        for p in PRODUCTS
        if _matches(p, query)
    ]
    return ToolResult({"query": query, "results": results})


def get_customer_orders(args: Mapping[str, str]) -> ToolResult:
    email = args["email"]
    orders = [_order_summary(o) for o in ORDERS if o.email == email]
    return ToolResult({"email": email, "customer": CUSTOMERS.get(email), "orders": orders})


def get_order(args: Mapping[str, str]) -> ToolResult:
    order = _find_order(args["order_id"])
    if order is None:
        return ToolResult({"order_id": args["order_id"], "found": False})
    details: dict[str, Any] = {"found": True, **_order_summary(order), "email": order.email}
    details["carrier"] = order.carrier
    details["delivered_on"] = order.delivered_on
    return ToolResult(details)


def start_return(args: Mapping[str, str]) -> ToolResult:
    order = _find_order(args["order_id"])
    if order is None:
        return ToolResult(
            {"order_id": args["order_id"], "status": "rejected", "reason": "order not found"}
        )
    if order.status != "delivered":
        reason = f"order is {order.status}; only delivered orders can be returned"
        return ToolResult({"order_id": order.order_id, "status": "rejected", "reason": reason})
    return_id = "RMA-" + order.order_id.removeprefix("ORD-")
    return ToolResult(
        {
            "order_id": order.order_id,
            "status": "return_started",
            "return_id": return_id,
            "reason": args["reason"],
            "label_url": f"https://returns.example.com/labels/{return_id}.pdf",
        }
    )


def track_shipment(args: Mapping[str, str]) -> ToolResult:
    # Always fails, the way a flaky carrier integration does: an MCP tool execution error.
    message = (
        f"Carrier tracking service unavailable for {args['order_id']}: upstream timed out after 30s"
    )
    return ToolResult(
        error={"type": "mcp_tool_execution_error", "content": [{"type": "text", "text": message}]}
    )
