"""Foundry-shaped JSON payloads, built with a fixed key order and serialized stably.

The shapes follow real Foundry traffic (tests/reference/ holds copies of public recordings, each
with its source) in the GA v1 dialect of `{endpoint}/openai/v1` (tests/reference/v1/): responses
addressed to an agent, their output items, conversations, item lists and error bodies, with
the same keys, key order, nesting and value types (tests/test_emulator_conformance.py and
tests/test_emulator_v1.py hold them to it).

The preview routes (`/openai/…?api-version=2025-11-15-preview`) answer in the same v1 shapes:
one dialect keeps one set of builders; the preview's `agent`, `user` and `created_by` on
response items (tests/reference/responses/) are gone from the service's GA routes, which are
what azure-ai-projects 2.x calls.
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
    FunctionCall,
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
    # Key order of the v1 recordings (tests/reference/v1/function_tool_conversation_v1.json,
    # tests/reference/v1/conversation_items_crud.json): id, object, metadata, created_at. The
    # preview's order (conversation_crud.json: created_at before metadata) is not kept.
    return {
        "id": conversation_id,
        "object": "conversation",
        "metadata": metadata,
        "created_at": created_at,
    }


def deleted_conversation(conversation_id: str) -> JsonObject:
    # tests/reference/v1/function_tool_conversation_v1.json, the last exchange.
    return {"object": "conversation.deleted", "deleted": True, "id": conversation_id}


# --- items -------------------------------------------------------------------------------------
# Each builder gives an item's own fields, `type` and `id` first. A response's output items are
# then stamped with the agent and the response (`response_item`), and a conversation stores
# them as its items list shows them (`stored_item`): the two v1 forms of one item.


def message(item_id: str, role: str, text: str) -> JsonObject:
    """A message as the conversations API stores what a client gives it (v1, tests/reference/
    v1/conversation_items_crud.json): type, id, role, content, status."""
    part: JsonObject = {"type": "input_text", "text": text}
    if role == "assistant":  # openai's output_text part; no recording shows a seeded reply
        part = {"type": "output_text", "text": text, "annotations": [], "logprobs": []}
    return {
        "type": "message",
        "id": item_id,
        "role": role,
        "content": [part],
        "status": "completed",
    }


def user_message(item_id: str, text: str) -> JsonObject:
    return message(item_id, "user", text)


def function_call_output(item_id: str, call_id: str, output: str) -> JsonObject:
    # tests/reference/v1/function_tool_conversation_v1.json, the items list: an `fco_` item.
    return {
        "type": "function_call_output",
        "id": item_id,
        "call_id": call_id,
        "output": output,
        "status": "completed",
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


def function_call(item_id: str, call_id: str, call: FunctionCall) -> JsonObject:
    # tests/reference/v1/function_tool_conversation_v1.json: fc_ id, call_id, name, arguments.
    return {
        "type": "function_call",
        "id": item_id,
        "call_id": call_id,
        "name": call.name,
        "arguments": arguments_json(call.arguments),
        "status": "completed",
    }


def assistant_message(item_id: str, reply: Reply, status: str = "completed") -> JsonObject:
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
        "role": "assistant",
        "content": [
            {"type": "output_text", "text": reply.text, "annotations": annotations, "logprobs": []}
        ],
        "status": status,
    }


ITEM_ID_PREFIXES: dict[type, str] = {
    ListTools: "mcpl",
    ToolCall: "mcp",
    ApprovalRequest: "mcpr",
    FunctionCall: "fc",
    Reply: "msg",
    FileSearch: "fs",
    Reasoning: "rs",  # openai's prefix; no Foundry recording shows one
}


def output_fields(
    item_id: str, agent: AgentSpec, event: Event, call_id: str | None = None
) -> JsonObject:
    """An event's own item fields (see `response_item` for what a response adds)."""
    if isinstance(event, ListTools):
        return list_tools(item_id, agent)
    if isinstance(event, ToolCall):
        return mcp_call(item_id, agent, event)
    if isinstance(event, ApprovalRequest):
        return approval_request(item_id, agent, event)
    if isinstance(event, FunctionCall):
        if call_id is None:
            raise ValueError("a function call needs its call_id")
        return function_call(item_id, call_id, event)
    if isinstance(event, FileSearch):
        return file_search_call(item_id, event)
    if isinstance(event, Reasoning):
        return reasoning(item_id, event)
    return assistant_message(item_id, event)


def response_item(fields: JsonObject, agent: AgentSpec, response_id: str) -> JsonObject:
    """An output item as a v1 response shows it (tests/reference/v1/
    function_tool_conversation_v1.json: the `function_call` and the `message`): type, id,
    agent_reference, response_id, the item's fields, `status` last. Recorded for those two
    kinds; assumed alike for the others (MCP, file search, reasoning), which v1 traffic in
    tests/reference/ does not hold."""
    item: JsonObject = {
        "type": fields["type"],
        "id": fields["id"],
        "agent_reference": agent_reference(agent),
        "response_id": response_id,
    }
    item |= {k: v for k, v in fields.items() if k not in ("type", "id", "status")}
    if "status" in fields:
        item["status"] = fields["status"]
    return item


def stored_item(item: JsonObject, agent: AgentSpec | None, partition: str) -> JsonObject:
    """An item a response wrote into its conversation, as the v1 items list shows it
    (tests/reference/v1/function_tool_conversation_v1.json): type, id, then on what the agent
    wrote `created_by: {response_id, agent}` (no `agent_reference`/`response_id`), then the
    conversation's `partition_key`, then the item's fields. `agent=None`: an input item."""
    stored: JsonObject = {"type": item["type"], "id": item["id"]}
    if agent is not None:
        stored["created_by"] = {"response_id": item["response_id"], "agent": agent_id(agent)}
    stored["partition_key"] = partition
    skipped = ("type", "id", "agent_reference", "response_id")
    return stored | {k: v for k, v in item.items() if k not in skipped}


def item_list(items: Sequence[JsonObject], has_more: bool) -> JsonObject:
    # GET …/items, key order as in tests/reference/v1/ (both recordings).
    return {
        "data": list(items),
        "first_id": items[0]["id"] if items else None,
        "last_id": items[-1]["id"] if items else None,
        "has_more": has_more,
        "object": "list",
    }


def added_items(items: Sequence[JsonObject]) -> JsonObject:
    # POST …/items answers with the items it added, in another key order than the listing
    # (tests/reference/v1/conversation_items_crud.json): object, data, has_more, first_id, last_id.
    return {
        "object": "list",
        "data": list(items),
        "has_more": False,
        "first_id": items[0]["id"] if items else None,
        "last_id": items[-1]["id"] if items else None,
    }


# --- usage -------------------------------------------------------------------------------------


def read_text(item: JsonObject) -> str:
    """What the model reads of an item: messages, tool calls and, above all, tool output."""
    kind = item["type"]
    if kind == "message":
        return " ".join(part.get("text", "") for part in item["content"])
    if kind in ("mcp_call", "mcp_approval_request", "function_call"):
        return item["name"] + item["arguments"] + (item.get("output") or "")
    if kind == "function_call_output":  # the caller's function output, read like MCP output
        return str(item["output"])
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
    if kind in ("mcp_call", "mcp_approval_request", "function_call"):
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
    schemas = [tool.input_schema for tool in agent.tools]
    schemas += [function.parameters for function in agent.functions]
    tools = json.dumps(schemas, ensure_ascii=False)
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


def agent_reference(agent: AgentSpec) -> JsonObject:
    # tests/reference/v1/function_tool_conversation_v1.json: on the response and its items.
    return {"type": "agent_reference", "name": agent.name, "version": agent.version}


def agent_id(agent: AgentSpec) -> JsonObject:
    # The same recording's items list: `created_by.agent` keeps the preview's `agent_id` type.
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
    tools += [
        {  # tests/reference/v1/function_tool_conversation_v1.json: a client function tool
            "type": "function",
            "name": function.name,
            "description": function.description,
            "parameters": function.parameters,
            "strict": True,
        }
        for function in agent.functions
    ]
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
    completed_at: int | None,
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
    """A response with exactly the keys, in the order, of the v1 recording
    (tests/reference/v1/function_tool_conversation_v1.json): `agent_reference` where the
    preview had `agent`, no `user`, `completed_at` after `created_at`.

    `completed_at` is null unless the response completed: openai documents it as "only
    present when the status is `completed`", and Foundry writes its other absent values as
    null (`error`, `incomplete_details`) rather than leaving keys out (assumed: the recording
    holds completed responses only). Sampling values are those the recording shows for an
    agent defined without them (temperature 1, top_p 0.98)."""
    body: JsonObject = {
        "metadata": metadata,
        "top_logprobs": 0,
        "temperature": 1,
        "top_p": 0.98,
        "service_tier": "default",
        "model": agent.model,
        "reasoning": {"effort": agent.reasoning_effort},
        "background": False,
        "text": {"format": {"type": "text"}, "verbosity": "medium"},
        "tools": response_tools(agent),
        "tool_choice": "auto",
        "truncation": "disabled",
        "id": response_id,
        "object": "response",
        "status": status,
        "created_at": created_at,
        "completed_at": completed_at,
        "error": error,
        "incomplete_details": {"reason": incomplete_reason} if incomplete_reason else None,
        "output": output,
        "instructions": agent.instructions,
        "usage": usage,
        "parallel_tool_calls": True,
        "conversation": {"id": conversation_id} if conversation_id else None,
        "agent_reference": agent_reference(agent),
    }
    if content_filters is not None:
        body["content_filters"] = content_filters  # tests/reference/content-filters.md, shape 1
    return body
