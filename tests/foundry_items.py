"""Foundry-shaped output items (shapes as in tests/reference/) and the AI GO! echo, for tests."""

from __future__ import annotations

from typing import Any

from latticeflow.core.dtypes import (
    ChatCompletionOutputMessage,
    OpenResponsesModelOutput,
    model_output_to_message,
)


def list_tools() -> dict[str, Any]:
    return {
        "type": "mcp_list_tools",
        "id": "mcpl_01",
        "server_label": "retail-tools",
        "tools": [
            {
                "name": "get_customer_orders",
                "description": "Orders of a customer",
                "input_schema": {"type": "object"},
                "annotations": None,
            }
        ],
    }


def mcp_call(
    call_id: str = "mcp_01",
    name: str = "get_customer_orders",
    output: str | None = '[{"order_id": "ORD-1001"}]',
    status: str = "completed",
    error: Any = None,
    approval_request_id: str | None = None,
) -> dict[str, Any]:
    return {
        "type": "mcp_call",
        "id": call_id,
        "status": status,
        "approval_request_id": approval_request_id,
        "server_label": "retail-tools",
        "name": name,
        "arguments": '{"email": "ana@example.com"}',
        "output": output,
        "error": error,
    }


def approval_request(request_id: str, name: str) -> dict[str, Any]:
    return {
        "type": "mcp_approval_request",
        "id": request_id,
        "server_label": "retail-tools",
        "name": name,
        "arguments": '{"order_id": "ORD-1001"}',
    }


def approval_response(request_id: str, approve: bool) -> dict[str, Any]:
    return {"type": "mcp_approval_response", "approve": approve, "approval_request_id": request_id}


def message(*texts: str, msg_id: str = "msg_01") -> dict[str, Any]:
    return {
        "type": "message",
        "id": msg_id,
        "status": "completed",
        "role": "assistant",
        "content": [
            {"type": "output_text", "text": text, "annotations": [], "logprobs": []}
            for text in texts
        ],
    }


USAGE = {
    "input_tokens": 201,
    "input_tokens_details": {"cached_tokens": 0},
    "output_tokens": 22,
    "output_tokens_details": {"reasoning_tokens": 0},
    "total_tokens": 223,
}


def echo(output: OpenResponsesModelOutput) -> ChatCompletionOutputMessage:
    """The assistant message AI GO! sends back next turn."""
    echoed = model_output_to_message(output)
    assert isinstance(echoed, ChatCompletionOutputMessage)
    return echoed
