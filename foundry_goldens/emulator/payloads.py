"""Foundry-shaped JSON payloads, built with a fixed key order and serialized stably.

The shapes follow real Foundry traffic (tests/reference/ holds copies of public recordings, each
with its source): responses addressed to an agent, their output items and error bodies, with
the same keys, nesting and value types (tests/test_emulator_conformance.py holds them to it).
Conversations and item lists follow openai's models: no public recording holds one.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from typing import Any

from foundry_goldens.emulator.engine import (
    AgentSpec,
    ApprovalRequest,
    Event,
    FileSearch,
    JsonObject,
    ListTools,
    Reasoning,
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


def error_body(
    code: str | None,
    message: str,
    request_id: str,
    *,
    param: str | None = None,
    type: str | None = "invalid_request_error",
    details: Sequence[JsonObject] = (),
    extra: JsonObject | None = None,
    short: bool = False,
) -> JsonObject:
    """A Foundry error body, keys in the order of tests/reference/errors.json's
    `invalid_payload` bodies: code, message, param, type, details, additionalInfo.

    `short`: only code and message (and the request id), as the `PermissionDenied` body in
    tests/reference/errors.json. `extra` (e.g. a content filter's `innererror`) goes before
    `additionalInfo`, which every error carries so the request id is in the body as well as
    in the `x-request-id` header.
    """
    body: JsonObject = {"code": code, "message": message}
    if not short:
        body |= {"param": param, "type": type}
        if extra is None or "innererror" not in extra:
            body["details"] = list(details)
    body |= extra or {}
    body["additionalInfo"] = {"request_id": request_id}
    return {"error": body}


def validation_detail(param: str, message: str) -> JsonObject:
    """One `details` entry of an `invalid_payload` error (tests/reference/errors.json)."""
    return {"code": "ValidationError", "message": message, "param": param, "type": "error"}


def conversation(conversation_id: str, created_at: int, metadata: JsonObject) -> JsonObject:
    return {
        "id": conversation_id,
        "object": "conversation",
        "created_at": created_at,
        "metadata": metadata,
    }


# --- items -------------------------------------------------------------------------------------
# Key order and key sets as in tests/reference/responses/*.json: `type` first, then `id`.


def user_message(item_id: str, text: str) -> JsonObject:
    return {
        "type": "message",
        "id": item_id,
        "status": "completed",
        "role": "user",
        "content": [{"type": "input_text", "text": text}],
    }


def approval_response(
    item_id: str, approval_request_id: str, approve: bool, reason: str | None
) -> JsonObject:
    return {
        "type": "mcp_approval_response",
        "id": item_id,
        "approval_request_id": approval_request_id,
        "approve": approve,
        "reason": reason,
    }


def list_tools(item_id: str, agent: AgentSpec) -> JsonObject:
    # tests/reference/responses/mcp_approval_request.json: no `error` key on a listing.
    return {
        "type": "mcp_list_tools",
        "id": item_id,
        "server_label": agent.server_label,
        "tools": [
            {
                "name": tool.name,
                "description": tool.description,
                "input_schema": tool.input_schema,
                # MCP tool annotations, passed through as the server gives them.
                "annotations": {"readOnlyHint": tool.read_only},
            }
            for tool in agent.tools
        ],
    }


def mcp_call(item_id: str, agent: AgentSpec, call: ToolCall) -> JsonObject:
    # tests/reference/responses/mcp_call_after_approval.json: a completed call has no `error`
    # key. A failed call's `error` (an MCP error object) and `output: null` are assumed: no
    # public recording shows a failed mcp_call from Foundry.
    item: JsonObject = {
        "type": "mcp_call",
        "id": item_id,
        "status": "completed",
        "approval_request_id": call.approval_request_id,
        "server_label": agent.server_label,
        "name": call.name,
        "arguments": arguments_json(call.arguments),
        "output": json.dumps(call.result.output, ensure_ascii=False),
    }
    if call.result.error is not None:
        item |= {"status": "failed", "output": None, "error": call.result.error}
    return item


def approval_request(item_id: str, agent: AgentSpec, request: ApprovalRequest) -> JsonObject:
    return {
        "type": "mcp_approval_request",
        "id": item_id,
        "server_label": agent.server_label,
        "name": request.name,
        "arguments": arguments_json(request.arguments),
    }


def file_search_call(item_id: str, search: FileSearch) -> JsonObject:
    # tests/reference/responses/file_search.json: no `results` unless the request includes them.
    return {
        "type": "file_search_call",
        "id": item_id,
        "status": "completed",
        "queries": list(search.queries),
    }


def reasoning(item_id: str, thought: Reasoning) -> JsonObject:
    # Assumed: no public Foundry recording holds a reasoning item; this is the shape of
    # openai's `ResponseReasoningItem` as the Responses API returns it (summary only).
    return {
        "type": "reasoning",
        "id": item_id,
        "summary": [{"type": "summary_text", "text": thought.summary}],
    }


def created_by(agent: AgentSpec, response_id: str) -> JsonObject:
    # tests/reference/responses/prompt_agent_message.json: a message names its agent and response.
    return {"agent": agent_id(agent), "response_id": response_id}


def assistant_message(
    item_id: str, reply: Reply, agent: AgentSpec, response_id: str, status: str = "completed"
) -> JsonObject:
    annotations = [
        {
            "type": "file_citation",
            "file_id": citation.file_id,
            "index": citation.index,
            "filename": citation.filename,
        }
        for citation in reply.citations
    ]  # as in tests/reference/responses/file_search.json
    return {
        "type": "message",
        "id": item_id,
        "status": status,
        "role": "assistant",
        "content": [
            {"type": "output_text", "text": reply.text, "annotations": annotations, "logprobs": []}
        ],
        "created_by": created_by(agent, response_id),
    }


ITEM_ID_PREFIXES: dict[type, str] = {
    ListTools: "mcpl",
    ToolCall: "mcp",
    ApprovalRequest: "mcpr",
    Reply: "msg",
    FileSearch: "fs",
    Reasoning: "rs",  # openai's prefix; no Foundry recording shows one
}


def output_item(item_id: str, agent: AgentSpec, event: Event, response_id: str) -> JsonObject:
    if isinstance(event, ListTools):
        return list_tools(item_id, agent)
    if isinstance(event, ToolCall):
        return mcp_call(item_id, agent, event)
    if isinstance(event, ApprovalRequest):
        return approval_request(item_id, agent, event)
    if isinstance(event, FileSearch):
        return file_search_call(item_id, event)
    if isinstance(event, Reasoning):
        return reasoning(item_id, event)
    return assistant_message(item_id, event, agent, response_id)


def item_list(items: Sequence[JsonObject], has_more: bool) -> JsonObject:
    return {
        "object": "list",
        "data": list(items),
        "first_id": items[0]["id"] if items else None,
        "last_id": items[-1]["id"] if items else None,
        "has_more": has_more,
    }


# --- usage -------------------------------------------------------------------------------------


def read_text(item: JsonObject) -> str:
    """What the model reads of an item: messages, tool calls and, above all, tool output."""
    kind = item["type"]
    if kind == "message":
        return " ".join(part.get("text", "") for part in item["content"])
    if kind in ("mcp_call", "mcp_approval_request"):
        return item["name"] + item["arguments"] + (item.get("output") or "")
    if kind == "mcp_list_tools":
        return json.dumps(item["tools"], ensure_ascii=False)
    if kind == "file_search_call":
        return " ".join(item["queries"])
    return ""


def written_text(item: JsonObject) -> str:
    """What the model writes of an item: replies and tool-call arguments, never tool output."""
    kind = item["type"]
    if kind == "message":
        return " ".join(part.get("text", "") for part in item["content"])
    if kind in ("mcp_call", "mcp_approval_request"):
        return item["name"] + item["arguments"]
    if kind == "file_search_call":
        return " ".join(item["queries"])
    return ""


def reasoning_tokens(item: JsonObject) -> int:
    """A reasoning model thinks longer than the summary it shows."""
    if item["type"] != "reasoning":
        return 0
    return 2 * sum(count_tokens(part["text"]) for part in item["summary"])


def usage(
    context: Iterable[JsonObject],
    output: Sequence[JsonObject],
    agent: AgentSpec,
    retrieved: Iterable[str] = (),
) -> JsonObject:
    """Token counts derived from the texts alone, as Foundry counts them
    (tests/reference/responses/mcp_call_after_approval.json: 18406 in, 335 out after one
    `mcp_call`): everything the model reads is input — instructions, tool definitions, the
    conversation so far and the turn's own tool output and retrieved file text; output is only
    what it writes (replies, tool arguments) plus its reasoning tokens."""
    tools = json.dumps([tool.input_schema for tool in agent.tools], ensure_ascii=False)
    input_tokens = (
        count_tokens(agent.instructions)
        + count_tokens(tools)
        + sum(count_tokens(read_text(item)) for item in context)
        # The turn's tool items are read back before the reply is written; the reply is not.
        + sum(count_tokens(read_text(item)) for item in output if item["type"] != "message")
        + sum(count_tokens(text) for text in retrieved)
    )
    reasoning = sum(reasoning_tokens(item) for item in output)
    output_tokens = reasoning + sum(count_tokens(written_text(item)) for item in output)
    return {
        "input_tokens": input_tokens,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": output_tokens,
        "output_tokens_details": {"reasoning_tokens": reasoning},
        "total_tokens": input_tokens + output_tokens,
    }


# --- responses ---------------------------------------------------------------------------------


def agent_id(agent: AgentSpec) -> JsonObject:
    return {"type": "agent_id", "name": agent.name, "version": agent.version}


def response_tools(agent: AgentSpec) -> list[JsonObject]:
    """The agent's tools as a response's `tools` shows them (tests/reference/responses/)."""
    tools: list[JsonObject] = []
    if agent.tools:
        require_approval: Any = "never"
        if agent.require_approval:
            # openai's documented filter form; the reference recordings show only "always".
            never = [tool.name for tool in agent.tools if tool.name not in agent.require_approval]
            require_approval = {
                "always": {"tool_names": sorted(agent.require_approval)},
                "never": {"tool_names": never},
            }
        tools.append(
            {
                "type": "mcp",
                "server_description": None,
                "server_label": agent.server_label,
                "server_url": agent.server_url,
                "require_approval": require_approval,
            }
        )
    if agent.knowledge is not None:
        tools.append(
            {
                "type": "file_search",
                "vector_store_ids": [agent.knowledge.vector_store_id],
                "max_num_results": 20,
                "ranking_options": {"ranker": "auto", "score_threshold": 0},
            }
        )
    return tools


def response(
    *,
    response_id: str,
    created_at: int,
    agent: AgentSpec,
    output: list[JsonObject],
    usage: JsonObject,
    conversation_id: str | None,
    metadata: JsonObject,
    status: str = "completed",
    error: JsonObject | None = None,
    incomplete_reason: str | None = None,
    content_filters: list[JsonObject] | None = None,
) -> JsonObject:
    """A response with exactly the keys, in the order, of tests/reference/responses/*.json."""
    body: JsonObject = {
        "metadata": metadata,
        "temperature": 1,
        "top_p": 1,
        "user": None,
        "service_tier": "default",
        "top_logprobs": 0,
        "model": agent.model,
        "reasoning": {},
        "background": False,
        "text": {"format": {"type": "text"}, "verbosity": "medium"},
        "tools": response_tools(agent),
        "tool_choice": "auto",
        "truncation": "disabled",
        "id": response_id,
        "object": "response",
        "status": status,
        "created_at": created_at,
        "error": error,
        "incomplete_details": {"reason": incomplete_reason} if incomplete_reason else None,
        "output": output,
        "instructions": agent.instructions,
        "usage": usage,
        "parallel_tool_calls": True,
        "conversation": {"id": conversation_id} if conversation_id else None,
        "agent": agent_id(agent),
    }
    if content_filters is not None:
        body["content_filters"] = content_filters  # tests/reference/content-filters.md, shape 1
    return body
