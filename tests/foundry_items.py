"""Foundry-shaped output items (shapes as in tests/reference/) and the AI GO! echo, for tests."""

from __future__ import annotations

import json
import re
from pathlib import Path
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


# --- tests/reference/: real Foundry bodies, loaded rather than retyped ---------------------------

REFERENCE = Path(__file__).resolve().parent / "reference"


def reference_response(name: str) -> dict[str, Any]:
    """A real response body from tests/reference/responses/<name>.json (a fresh copy)."""
    data = json.loads((REFERENCE / "responses" / f"{name}.json").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def reference_errors() -> dict[str, dict[str, Any]]:
    """tests/reference/errors.json by case: {"status": ..., "body": ...}."""
    entries = json.loads((REFERENCE / "errors.json").read_text(encoding="utf-8"))
    return {entry["case"]: entry for entry in entries}


def documented_content_filters() -> list[dict[str, Any]]:
    """Shape 1 of tests/reference/content-filters.md: its `content_filters` example, as JSON."""
    text = (REFERENCE / "content-filters.md").read_text(encoding="utf-8")
    block = re.search(r"```json\n(.*?)```", text, re.DOTALL)
    assert block is not None, "content-filters.md lost its JSON example"
    filters = json.loads("{" + block.group(1) + "}")["content_filters"]
    assert isinstance(filters, list)
    return filters


# Shape 3 of tests/reference/content-filters.md (HTTP 400 before the model runs). No body was
# captured: the field names are the documented ones, the values examples.
PROMPT_BLOCKED_BODY: dict[str, Any] = {
    "error": {
        "message": "The response was filtered due to the prompt triggering Azure OpenAI's "
        "content management policy.",
        "type": None,
        "param": "prompt",
        "code": "content_filter",
        "status": 400,
        "innererror": {
            "code": "ResponsibleAIPolicyViolation",
            "content_filter_result": {
                "hate": {"filtered": False, "severity": "safe"},
                "jailbreak": {"filtered": True, "detected": True},
                "self_harm": {"filtered": False, "severity": "safe"},
                "sexual": {"filtered": False, "severity": "safe"},
                "violence": {"filtered": True, "severity": "high"},
            },
        },
    }
}


def filtered_reply(text: str = "Here is how you") -> dict[str, Any]:
    """Shape 2 of tests/reference/content-filters.md on a real response body: status
    incomplete, reason content_filter, the output produced before the stop."""
    body = reference_response("prompt_agent_message")
    body["status"] = "incomplete"
    body["incomplete_details"] = {"reason": "content_filter"}
    body["output"][0]["status"] = "incomplete"
    body["output"][0]["content"][0]["text"] = text
    return body


def emulator_messages(endpoint: str, conversation_id: str) -> list[tuple[str, str]]:
    """The (role, text) of every message a conversation of the emulator at `endpoint` holds,
    oldest first, as its items route lists them."""
    import httpx2

    from foundry_goldens.static_token import STATIC_TEST_TOKEN

    response = httpx2.get(
        f"{endpoint}/openai/v1/conversations/{conversation_id}/items",
        params={"order": "asc", "limit": 100},
        headers={"Authorization": f"Bearer {STATIC_TEST_TOKEN}"},
    )
    response.raise_for_status()
    return [
        (item["role"], "\n".join(part["text"] for part in item["content"]))
        for item in response.json()["data"]
        if item["type"] == "message"
    ]
