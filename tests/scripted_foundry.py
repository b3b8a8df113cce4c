"""A tiny scripted Foundry on a stdlib http.server, for query_model over real HTTP on loopback.

Not the emulator (foundry_goldens/emulator has its own tests): each test scripts the exact
responses it needs, so request bodies, the tool rounds, error mapping and retries can be
asserted. The real SDK stack runs end to end (azure-ai-projects -> openai -> httpx2 -> socket).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import ModuleType
from typing import Any

import pytest
from latticeflow.core.dtypes import OpenResponsesModelOutput

from foundry_goldens.snippet.credentials import StaticTokenCredential
from foundry_goldens.static_token import STATIC_TEST_TOKEN

PROJECT_PATH = "/api/projects/loopback"
CONV = "conv_loopback_1"
ITEM_LIST: dict[str, Any] = {
    "object": "list",
    "data": [],
    "first_id": None,
    "last_id": None,
    "has_more": False,
}
TOKEN = STATIC_TEST_TOKEN


@dataclass
class Reply:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class ScriptedFoundry:
    """POST .../conversations gets a fixed conversation (or the next of `conversation_ids`),
    POST .../items an empty item list; POST .../responses, the script."""

    responses: list[Reply] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    connections: int = 0
    endpoint: str = ""
    conversation_ids: list[str] = field(default_factory=list)

    def response_bodies(self) -> list[Any]:
        return [r["body"] for r in self.requests if r["path"].endswith("/responses")]

    def count(self, suffix: str) -> int:
        return sum(1 for r in self.requests if r["path"].endswith(suffix))


def make_handler(foundry: ScriptedFoundry) -> type[BaseHTTPRequestHandler]:
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, so connection reuse is observable

        def setup(self) -> None:
            super().setup()
            with lock:
                foundry.connections += 1

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length) or b"null")
            with lock:
                foundry.requests.append(
                    {
                        "path": self.path.split("?")[0],
                        "authorization": self.headers.get("Authorization"),
                        "body": body,
                    }
                )
                path = self.path.split("?")[0]
                if path.endswith("/conversations"):
                    conversation_id = (
                        foundry.conversation_ids.pop(0) if foundry.conversation_ids else CONV
                    )
                    reply = Reply(
                        200, {"id": conversation_id, "object": "conversation", "metadata": {}}
                    )
                elif path.endswith("/items"):
                    reply = Reply(200, ITEM_LIST)
                else:
                    reply = foundry.responses.pop(0)
            self.send(reply)

        def send(self, reply: Reply) -> None:
            raw = (
                reply.body.encode()
                if isinstance(reply.body, str)
                else json.dumps(reply.body).encode()
            )
            self.send_response(reply.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(raw)

    return Handler


@pytest.fixture
def foundry(snippet: ModuleType) -> Iterator[ScriptedFoundry]:
    scripted = ScriptedFoundry()
    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(scripted))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    scripted.endpoint = f"http://127.0.0.1:{server.server_address[1]}{PROJECT_PATH}"
    snippet.reset_client_cache()
    try:
        yield scripted
    finally:
        snippet.reset_client_cache()  # closes the keep-alive connections first
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def env(foundry: ScriptedFoundry, **extra: Any) -> dict[str, Any]:
    return {
        "AZURE_AI_PROJECT_ENDPOINT": foundry.endpoint,
        "AZURE_FOUNDRY_AGENT_NAME": "retail-support",
        "AZURE_TOKEN_CREDENTIAL": CREDENTIAL,
        **extra,
    }


CREDENTIAL = StaticTokenCredential()  # one object: one identity across calls


def response(
    output: list[dict[str, Any]],
    status: str = "completed",
    input_tokens: int = 10,
    output_tokens: int = 5,
    **extra: Any,
) -> Reply:
    return Reply(
        200,
        {
            "id": "resp_1",
            "object": "response",
            "created_at": 1700000000,
            "status": status,
            "model": "gpt-4.1",
            "output": output,
            "usage": {
                "input_tokens": input_tokens,
                "input_tokens_details": {"cached_tokens": 0},
                "output_tokens": output_tokens,
                "output_tokens_details": {"reasoning_tokens": 0},
                "total_tokens": input_tokens + output_tokens,
            },
            "conversation": {"id": CONV},
            "agent_reference": {
                "type": "agent_reference",
                "name": "retail-support",
                "version": "1",
            },
            "tools": [],
            "tool_choice": "auto",
            "parallel_tool_calls": True,
            "error": None,
            "incomplete_details": None,
            **extra,
        },
    )


AGENT_REFERENCE = {"name": "retail-support", "type": "agent_reference"}


def chat_body(*messages: dict[str, Any]) -> str:
    return json.dumps({"messages": list(messages)})


def assistant_message(returned: str) -> dict[str, Any]:
    """The returned reply as AI GO! receives it (after parsing it the way AI GO! does)."""
    output = OpenResponsesModelOutput.model_validate_json(returned)
    reply = json.loads(returned)["items"][-1]
    assert reply["role"] == "assistant" and output.items
    return dict(reply)


def conversation_bodies(foundry: ScriptedFoundry) -> list[Any]:
    return [r["body"] for r in foundry.requests if r["path"].endswith("/conversations")]
