"""The reviewer's view of one snapshot turn: tool calls (with their outputs), reply, usage.

Items may lack `"type"` (latticeflow's models dump without unset fields), so the kind of an item
is inferred from its keys when needed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

# Fields that are aliases (`item-N`, `call-N`): they shift whenever an earlier item is added, so
# they are never compared. A call and its output are linked through `call_id` within a revision.
ALIAS_FIELDS = frozenset({"id", "call_id"})
# Never compared either: aliases, and `type`, which may be absent and is then inferred.
UNCOMPARED = ALIAS_FIELDS | {"type"}


@dataclass
class ToolCall:
    name: str
    occurrence: int  # 1-based position among the turn's calls with the same name
    arguments: str | None
    output: str | None
    status: str | None
    output_status: str | None
    rest: dict[str, Any] = field(default_factory=dict)  # other fields, for the catch-all diff

    @property
    def label(self) -> str:
        return f"{self.name} #{self.occurrence}"


@dataclass
class TurnTrace:
    tool_calls: list[ToolCall]
    reply: str
    messages: list[dict[str, Any]]  # assistant messages minus their text and aliases
    other_items: list[dict[str, Any]]  # items of any other type (reasoning, mcp_list_tools, ...)
    usage: dict[str, Any]


def item_type(item: dict[str, Any]) -> str:
    if isinstance(item.get("type"), str):
        return str(item["type"])
    if "name" in item and "arguments" in item:
        return "function_call"
    if "call_id" in item and "output" in item:
        return "function_call_output"
    if "role" in item and "content" in item:
        return "message"
    return "unknown"


def is_call(item: dict[str, Any]) -> bool:
    """A function call, or a server-side call that carries its own output (mcp_call)."""
    return item_type(item) == "function_call" or ("name" in item and "arguments" in item)


def trace_of(items: list[dict[str, Any]], usage: dict[str, Any] | None) -> TurnTrace:
    outputs = {
        item.get("call_id"): item
        for item in items
        if item_type(item) == "function_call_output" and item.get("call_id") is not None
    }
    linked: set[int] = set()
    counts: dict[str, int] = {}
    calls: list[ToolCall] = []
    texts: list[str] = []
    messages: list[dict[str, Any]] = []
    others: list[dict[str, Any]] = []
    for item in items:
        kind = item_type(item)
        if is_call(item):
            name = str(item.get("name"))
            counts[name] = counts.get(name, 0) + 1
            output_item = outputs.get(item.get("call_id")) if item.get("call_id") else None
            if output_item is not None:
                linked.add(id(output_item))
            output = output_item.get("output") if output_item else item.get("output")
            rest = {
                k: v
                for k, v in item.items()
                if k not in UNCOMPARED | {"name", "arguments", "status", "output"}
            }
            if output_item:
                rest.update(
                    {
                        f"output.{k}": v
                        for k, v in output_item.items()
                        if k not in UNCOMPARED | {"output", "status"}
                    }
                )
            calls.append(
                ToolCall(
                    name=name,
                    occurrence=counts[name],
                    arguments=_as_text(item.get("arguments")),
                    output=_as_text(output),
                    status=item.get("status"),
                    output_status=output_item.get("status") if output_item else None,
                    rest=rest,
                )
            )
        elif kind == "message" and item.get("role", "assistant") == "assistant":
            text = "".join(
                str(part.get("text", ""))
                for part in item.get("content") or []
                if isinstance(part, dict)
            )
            texts.append(text)
            messages.append(_without_text(item))
    for item in items:
        if item_type(item) == "function_call_output" and id(item) in linked:
            continue
        if is_call(item) or (
            item_type(item) == "message" and item.get("role", "assistant") == "assistant"
        ):
            continue
        others.append({k: v for k, v in item.items() if k not in UNCOMPARED})
    return TurnTrace(
        tool_calls=calls,
        reply="\n\n".join(texts),
        messages=messages,
        other_items=others,
        usage=dict(usage or {}),
    )


def _as_text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def _without_text(message: dict[str, Any]) -> dict[str, Any]:
    """The message's other fields (status, conversation_id, annotations...), text removed."""
    stripped = {k: v for k, v in message.items() if k not in UNCOMPARED | {"content"}}
    stripped["content"] = [
        {k: v for k, v in part.items() if k != "text"} if isinstance(part, dict) else part
        for part in message.get("content") or []
    ]
    return stripped
