"""Foundry-shaped JSON payloads, built with a fixed key order and serialized stably.

The shapes follow real Foundry traffic (tests/reference/ holds copies of public recordings, each
with its source): conversations, responses addressed to an agent, their output items,
conversation item lists and error bodies. Every field except the response's `agent` is one that
openai's own models declare.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from typing import Any

from harness.emulator.engine import (
    AgentSpec,
    ApprovalRequest,
    JsonObject,
    ListTools,
    Reply,
    ToolCall,
    arguments_json,
)


def dumps(payload: Any) -> bytes:
    """Stable bytes: insertion key order (the builders fix it), compact, UTF-8, non-ASCII kept."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def count_tokens(text: str) -> int:
    """A deterministic stand-in for a tokenizer: about four characters per token."""
    return math.ceil(len(text) / 4)


def error(
    code: str, message: str, *, type: str = "invalid_request_error", param: str | None = None
) -> JsonObject:
    return {"error": {"code": code, "message": message, "type": type, "param": param}}


def conversation(conversation_id: str, created_at: int, metadata: JsonObject) -> JsonObject:
    return {
        "id": conversation_id,
        "object": "conversation",
        "created_at": created_at,
        "metadata": metadata,
    }


# --- items -------------------------------------------------------------------------------------


def user_message(item_id: str, text: str) -> JsonObject:
    return {
        "id": item_id,
        "type": "message",
        "status": "completed",
        "role": "user",
        "content": [{"type": "input_text", "text": text}],
    }


def approval_response(
    item_id: str, approval_request_id: str, approve: bool, reason: str | None
) -> JsonObject:
    return {
        "id": item_id,
        "type": "mcp_approval_response",
        "approval_request_id": approval_request_id,
        "approve": approve,
        "reason": reason,
    }


def list_tools(item_id: str, agent: AgentSpec) -> JsonObject:
    return {
        "id": item_id,
        "type": "mcp_list_tools",
        "server_label": agent.server_label,
        "tools": [
            {
                "name": tool.name,
                "description": tool.description,
                "input_schema": tool.input_schema,
                "annotations": {"read_only": tool.read_only},
            }
            for tool in agent.tools
        ],
        "error": None,
    }


def mcp_call(item_id: str, agent: AgentSpec, call: ToolCall) -> JsonObject:
    failed = call.result.error is not None
    return {
        "id": item_id,
        "type": "mcp_call",
        "status": "failed" if failed else "completed",
        "approval_request_id": call.approval_request_id,
        "server_label": agent.server_label,
        "name": call.name,
        "arguments": arguments_json(call.arguments),
        "output": None if failed else json.dumps(call.result.output, ensure_ascii=False),
        "error": call.result.error,
    }


def approval_request(item_id: str, agent: AgentSpec, request: ApprovalRequest) -> JsonObject:
    return {
        "id": item_id,
        "type": "mcp_approval_request",
        "server_label": agent.server_label,
        "name": request.name,
        "arguments": arguments_json(request.arguments),
    }


def assistant_message(item_id: str, reply: Reply) -> JsonObject:
    return {
        "id": item_id,
        "type": "message",
        "status": "completed",
        "role": "assistant",
        "content": [{"type": "output_text", "text": reply.text, "annotations": [], "logprobs": []}],
    }


ITEM_ID_PREFIXES: dict[type, str] = {
    ListTools: "mcpl",
    ToolCall: "mcp",
    ApprovalRequest: "mcpr",
    Reply: "msg",
}


def output_item(
    item_id: str, agent: AgentSpec, event: ListTools | ToolCall | ApprovalRequest | Reply
) -> JsonObject:
    if isinstance(event, ListTools):
        return list_tools(item_id, agent)
    if isinstance(event, ToolCall):
        return mcp_call(item_id, agent, event)
    if isinstance(event, ApprovalRequest):
        return approval_request(item_id, agent, event)
    return assistant_message(item_id, event)


def item_text(item: JsonObject) -> str:
    """The text in an item that a model would read or write, for token counts."""
    kind = item["type"]
    if kind == "message":
        return " ".join(part.get("text", "") for part in item["content"])
    if kind in ("mcp_call", "mcp_approval_request"):
        return item["arguments"] + (item.get("output") or "")
    if kind == "mcp_list_tools":
        return json.dumps(item["tools"], ensure_ascii=False)
    return ""


def item_list(items: Sequence[JsonObject], has_more: bool) -> JsonObject:
    return {
        "object": "list",
        "data": list(items),
        "first_id": items[0]["id"] if items else None,
        "last_id": items[-1]["id"] if items else None,
        "has_more": has_more,
    }


# --- responses ---------------------------------------------------------------------------------


def mcp_tool(agent: AgentSpec) -> JsonObject:
    """The agent's MCP tool as a response's `tools` entry shows it."""
    if agent.require_approval:
        never = [tool.name for tool in agent.tools if tool.name not in agent.require_approval]
        require_approval: Any = {
            "always": {"tool_names": sorted(agent.require_approval)},
            "never": {"tool_names": never},
        }
    else:
        require_approval = "never"
    return {
        "type": "mcp",
        "server_label": agent.server_label,
        "server_url": agent.server_url,
        "allowed_tools": None,
        "headers": None,
        "require_approval": require_approval,
        "server_description": None,
    }


def usage(
    history: Iterable[JsonObject], output: Iterable[JsonObject], instructions: str
) -> JsonObject:
    """Token counts derived from the texts alone: history read in, output written."""
    input_tokens = count_tokens(instructions) + sum(count_tokens(item_text(i)) for i in history)
    # The tool listing is read by the model, not written by it: input only.
    output_tokens = sum(count_tokens(item_text(i)) for i in output if i["type"] != "mcp_list_tools")
    return {
        "input_tokens": input_tokens,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": output_tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": input_tokens + output_tokens,
    }


def response(
    *,
    response_id: str,
    created_at: int,
    agent: AgentSpec,
    output: list[JsonObject],
    usage: JsonObject,
    conversation_id: str | None,
    metadata: JsonObject,
) -> JsonObject:
    return {
        "id": response_id,
        "object": "response",
        "created_at": created_at,
        "status": "completed",
        "background": False,
        "completed_at": created_at + 1,
        "error": None,
        "incomplete_details": None,
        "instructions": agent.instructions,
        "max_output_tokens": None,
        "max_tool_calls": None,
        "model": agent.model,
        "output": output,
        "parallel_tool_calls": True,
        "previous_response_id": None,
        "prompt_cache_key": None,
        "reasoning": {"effort": None, "summary": None},
        "safety_identifier": None,
        "service_tier": "default",
        "temperature": 1.0,
        "text": {"format": {"type": "text"}, "verbosity": "medium"},
        "tool_choice": "auto",
        "tools": [mcp_tool(agent)],
        "top_logprobs": 0,
        "top_p": 1.0,
        "truncation": "disabled",
        "usage": usage,
        "user": None,
        "metadata": metadata,
        "conversation": {"id": conversation_id} if conversation_id else None,
        # Real Foundry names the agent that answered; openai's Response model has no such field.
        "agent": {"type": "agent_id", "name": agent.name, "version": agent.version},
    }
