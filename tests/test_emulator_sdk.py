"""The emulator through the real SDK stack: AIProjectClient -> get_openai_client -> openai ->
httpx2 -> loopback, and over raw HTTP where the SDK would hide what is asserted."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx2
import openai
import pytest
from azure.ai.projects import AIProjectClient
from openai.types.conversations import ConversationItemList
from openai.types.responses import Response
from openai.types.responses.response_output_item import McpApprovalRequest, McpCall, McpListTools
from openai.types.responses.response_output_message import ResponseOutputMessage
from pydantic import BaseModel, ValidationError

from foundry_goldens.emulator import FaultConfig, FoundryEmulator
from foundry_goldens.emulator.errors import UNAUTHORIZED_MESSAGE
from foundry_goldens.snippet.credentials import StaticTokenCredential

AUTH = {"Authorization": "Bearer static-test-token"}
SUPPORT = {"agent_reference": {"name": "retail-support", "type": "agent_reference"}}
GUARDED = {"agent_reference": {"name": "retail-support-guarded", "type": "agent_reference"}}


@pytest.fixture
def emulator() -> Iterator[FoundryEmulator]:
    with FoundryEmulator(seed="sdk-tests") as running:
        yield running


def sdk_client(emulator: FoundryEmulator, **options: Any) -> openai.OpenAI:
    project = AIProjectClient(endpoint=emulator.endpoint, credential=StaticTokenCredential())
    return project.get_openai_client(**options)


@pytest.fixture
def client(emulator: FoundryEmulator) -> Iterator[openai.OpenAI]:
    with sdk_client(emulator) as opened:
        yield opened


@pytest.fixture
def http(emulator: FoundryEmulator) -> Iterator[httpx2.Client]:
    with httpx2.Client(base_url=f"{emulator.endpoint}/openai/v1", timeout=10) as opened:
        yield opened


def say(
    client: openai.OpenAI, conversation: str, text: Any, agent: dict[str, Any] = SUPPORT
) -> Response:
    return client.responses.create(conversation=conversation, input=text, extra_body=agent)


def reply_text(response: Response) -> str:
    messages = [item for item in response.output if isinstance(item, ResponseOutputMessage)]
    assert len(messages) == 1, response.output
    return "".join(getattr(part, "text", "") for part in messages[0].content)


def tool_calls(response: Response) -> list[tuple[str, str]]:
    return [(item.name, item.arguments) for item in response.output if isinstance(item, McpCall)]


def unrecognized_fields(value: Any, path: str = "") -> list[str]:
    """Paths of every field openai's models did not declare, anywhere in a parsed object."""
    found: list[str] = []
    if isinstance(value, BaseModel):
        found += [f"{path}.{name}" for name in value.model_extra or {}]
        for name in type(value).model_fields:
            found += unrecognized_fields(getattr(value, name), f"{path}.{name}")
    elif isinstance(value, list):
        for index, element in enumerate(value):
            found += unrecognized_fields(element, f"{path}[{index}]")
    return found


# --- shapes ----------------------------------------------------------------------------------


def test_conversation_create_has_the_foundry_shape(client: openai.OpenAI) -> None:
    conversation = client.conversations.create()
    assert conversation.id.startswith("conv_")
    assert conversation.object == "conversation"
    assert isinstance(conversation.created_at, int)
    assert conversation.metadata == {}
    assert conversation.model_extra == {}


def test_every_response_parses_with_no_unrecognized_field_but_the_agent_stamps(
    client: openai.OpenAI,
) -> None:
    """openai 3.x has no `agent_reference` on Response, nor `agent_reference`/`response_id` on
    output items (real Foundry's v1 dialect sends them, so the emulator does); everything else,
    nested items included, must be a declared field."""
    conversation = client.conversations.create().id
    responses = [
        say(client, conversation, "Hi, my email is ana@example.com", GUARDED),  # list tools + call
        say(client, conversation, "Track ORD-1001", GUARDED),  # a failed call
        say(client, conversation, "Return ORD-1001 because it is too loud", GUARDED),  # approval
    ]
    request = responses[-1].output[-1]
    assert isinstance(request, McpApprovalRequest)
    approval = [
        {"type": "mcp_approval_response", "approve": True, "approval_request_id": request.id}
    ]
    responses.append(say(client, conversation, approval, GUARDED))

    kinds = set()
    reference = {"type": "agent_reference", "name": "retail-support-guarded", "version": "1"}
    for response in responses:
        stamps = [
            f".output[{index}].{name}"
            for index in range(len(response.output))
            for name in ("agent_reference", "response_id")
        ]
        assert unrecognized_fields(response) == [".agent_reference", *stamps]
        assert response.model_extra == {"agent_reference": reference}
        assert response.completed_at is not None and response.completed_at >= response.created_at
        for item in response.output:
            assert item.model_extra == {"agent_reference": reference, "response_id": response.id}
        for item in response.output:
            assert isinstance(
                item, McpListTools | McpCall | McpApprovalRequest | ResponseOutputMessage
            )
            kinds.add(item.type)
        # Strict validation: the only gap is a usage detail openai 3.57 requires and Foundry omits.
        payload = response.to_dict(mode="json")
        payload.pop("agent_reference")
        with pytest.raises(ValidationError) as invalid:
            Response.model_validate(payload)
        assert [e["loc"] for e in invalid.value.errors()] == [
            ("usage", "input_tokens_details", "cache_write_tokens")
        ]
    assert kinds == {"mcp_list_tools", "mcp_call", "mcp_approval_request", "message"}


def test_response_fields_and_ids(client: openai.OpenAI) -> None:
    conversation = client.conversations.create().id
    response = say(client, conversation, "Hi, my email is ana@example.com")
    assert response.id.startswith("resp_")
    assert response.object == "response" and response.status == "completed"
    assert response.conversation is not None and response.conversation.id == conversation
    assert response.model == "gpt-4.1-mini"
    assert [tool.type for tool in response.tools] == ["mcp"]
    assert response.error is None and response.incomplete_details is None
    assert [str(item.id).split("_")[0] for item in response.output] == ["mcpl", "mcp", "msg"]
    listing = response.output[0]
    assert isinstance(listing, McpListTools) and listing.server_label == "retail-tools"
    assert {tool.name for tool in listing.tools} >= {"search_products", "track_shipment"}
    usage = response.usage
    assert usage is not None
    assert usage.total_tokens == usage.input_tokens + usage.output_tokens > 0
    assert usage.output_tokens_details.reasoning_tokens == 0


def test_failed_tool_call_shape(client: openai.OpenAI) -> None:
    conversation = client.conversations.create().id
    response = say(client, conversation, "Can you track ORD-2001?")
    track = next(
        i for i in response.output if isinstance(i, McpCall) and i.name == "track_shipment"
    )
    assert track.status == "failed" and track.output is None
    assert track.error is not None and track.error.type == "mcp_tool_execution_error"
    assert "couldn't reach the carrier" in reply_text(response)


# --- conversations and state -------------------------------------------------------------------


@pytest.mark.parametrize(
    "agent", [SUPPORT, GUARDED], ids=["retail-support", "retail-support-guarded"]
)
def test_conversation_persists_and_state_is_remembered(
    client: openai.OpenAI, agent: dict[str, Any]
) -> None:
    conversation = client.conversations.create().id
    first = say(client, conversation, "Hi, where is my order?", agent)
    second = say(client, conversation, "My email is ana@example.com", agent)
    third = say(client, conversation, "ORD-1002 please", agent)
    fourth = say(client, conversation, "Do you have a laptop stand?", agent)
    fifth = say(client, conversation, "What was my email?", agent)

    assert {r.conversation.id for r in (first, second, third, fourth, fifth) if r.conversation} == {
        conversation
    }
    assert len({r.id for r in (first, second, third, fourth, fifth)}) == 5
    assert tool_calls(first) == [] and "email address" in reply_text(first)
    assert tool_calls(second) == [("get_customer_orders", '{"email":"ana@example.com"}')]
    assert tool_calls(third) == [("get_order", '{"order_id":"ORD-1002"}')]
    assert "has not shipped yet" in reply_text(third)
    assert tool_calls(fourth) == [("search_products", '{"query":"laptop stand"}')]
    assert "ana@example.com" in reply_text(fifth)
    # The tool listing comes with the first turn only, as the conversation already holds it.
    assert [isinstance(r.output[0], McpListTools) for r in (first, second, third)] == [
        True,
        False,
        False,
    ]


def test_conversation_items_reflect_the_stored_conversation(
    client: openai.OpenAI, http: httpx2.Client
) -> None:
    conversation = client.conversations.create().id
    first = say(client, conversation, "Hi, my email is ana@example.com")
    second = say(client, conversation, "search for lamps")

    items = client.conversations.items.list(conversation, order="asc", limit=100)
    types = [item.type for item in items.data]
    assert types == [
        "message",
        "mcp_list_tools",
        "mcp_call",
        "message",
        "message",
        "mcp_call",
        "message",
    ]
    output_ids = [item.id for item in (*first.output, *second.output)]
    assert [item.id for item in items.data if item.id in output_ids] == output_ids
    assert items.data[0].role == "user"  # type: ignore[union-attr]

    newest = http.get(
        f"/conversations/{conversation}/items", params={"limit": 2}, headers=AUTH
    ).json()
    ConversationItemList.model_validate(newest)
    assert [i["id"] for i in newest["data"]] == [second.output[-1].id, second.output[0].id]
    assert newest["has_more"] is True
    after = http.get(
        f"/conversations/{conversation}/items",
        params={"order": "asc", "after": newest["data"][1]["id"]},
        headers=AUTH,
    ).json()
    assert [i["id"] for i in after["data"]] == [second.output[-1].id]
    assert after["has_more"] is False


@pytest.mark.parametrize(
    ("approve", "expected"), [(True, "RMA-3001"), (False, "did not start a return")]
)
def test_approval_flow(client: openai.OpenAI, approve: bool, expected: str) -> None:
    conversation = client.conversations.create().id
    asked = say(client, conversation, "I want to return ORD-3001 because it is broken", GUARDED)
    request = asked.output[-1]
    assert isinstance(request, McpApprovalRequest) and request.id.startswith("mcpr_")
    assert request.name == "start_return"
    assert request.arguments == '{"order_id":"ORD-3001","reason":"it is broken"}'
    assert not any(isinstance(item, ResponseOutputMessage) for item in asked.output)

    answer = [
        {"type": "mcp_approval_response", "approve": approve, "approval_request_id": request.id}
    ]
    resumed = say(client, conversation, answer, GUARDED)
    calls = [item for item in resumed.output if isinstance(item, McpCall)]
    if approve:
        assert [(c.name, c.approval_request_id, c.status) for c in calls] == [
            ("start_return", request.id, "completed")
        ]
    else:
        assert calls == []
    assert expected in reply_text(resumed)
    # Answered once: the same answer again is refused.
    with pytest.raises(openai.BadRequestError):
        say(client, conversation, answer, GUARDED)


def test_the_unguarded_agent_runs_the_same_tool_without_approval(client: openai.OpenAI) -> None:
    conversation = client.conversations.create().id
    response = say(client, conversation, "I want to return ORD-3001 because it is broken")
    assert [name for name, _ in tool_calls(response)] == ["start_return"]


def test_conversation_may_be_an_object_and_input_a_list_of_items(client: openai.OpenAI) -> None:
    conversation = client.conversations.create().id
    response = client.responses.create(
        input=[
            {
                "type": "message",
                "role": "user",
                "content": [{"type": "input_text", "text": "Hello"}],
            }
        ],
        extra_body={**SUPPORT, "conversation": {"id": conversation}},
    )
    assert response.conversation is not None and response.conversation.id == conversation
    assert "Contoso Retail" in reply_text(response)


def test_api_version_path_forms(emulator: FoundryEmulator) -> None:
    base = emulator.base_url
    with httpx2.Client(timeout=10) as http:
        created = http.post(
            f"{base}/api/projects/demo/openai/conversations",
            params={"api-version": "2025-05-15-preview"},
            json={"metadata": {"topic": "x"}},
            headers=AUTH,
        )
        assert created.status_code == 200 and created.json()["metadata"] == {"topic": "x"}
        answered = http.post(
            f"{base}/openai/responses?api-version=2025-05-15-preview",
            json={"conversation": created.json()["id"], "input": "hi", **SUPPORT},
            headers=AUTH,
        )
        assert answered.status_code == 200
        fetched = http.get(
            f"{base}/api/projects/demo/openai/v1/responses/{answered.json()['id']}", headers=AUTH
        )
        assert fetched.content == answered.content


# --- errors ------------------------------------------------------------------------------------


ERROR_KEYS = {"code", "message", "param", "type", "details", "additionalInfo"}
UNKNOWN_CONVERSATION = "conv_0123456789abcdef01" + "A1b2C3d4" * 4  # well-formed, never minted


def error_of(response: httpx2.Response) -> dict[str, Any]:
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == ERROR_KEYS
    assert body["error"]["additionalInfo"] == {"request_id": response.headers["x-request-id"]}
    return dict(body["error"])


def test_a_missing_or_unknown_bearer_token_is_the_gateways_401(
    emulator: FoundryEmulator, http: httpx2.Client
) -> None:
    for headers in (
        {},
        {"Authorization": "Bearer"},
        {"Authorization": "Basic abc"},
        {"Authorization": "Bearer not-a-token-this-project-issued"},
    ):
        response = http.post("/conversations", json={}, headers=headers)
        assert response.status_code == 401
        assert response.json() == {"statusCode": 401, "message": UNAUTHORIZED_MESSAGE}
        assert response.headers["x-request-id"]
        assert "not-a-token" not in response.text
    assert emulator.stats().requests == {"POST /conversations": 4}
    emulator.accept_token("issued-by-entra")
    assert (
        http.post(
            "/conversations", json={}, headers={"Authorization": "Bearer issued-by-entra"}
        ).status_code
        == 200
    )


def test_unknown_conversation_and_agent_are_404(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as missing_conversation:
        say(client, UNKNOWN_CONVERSATION, "hi")
    assert missing_conversation.value.body["code"] == "not_found"  # type: ignore[index]
    assert missing_conversation.value.body["param"] == "conversation"  # type: ignore[index]

    conversation = client.conversations.create().id
    with pytest.raises(openai.NotFoundError) as missing_agent:
        say(
            client,
            conversation,
            "hi",
            {"agent_reference": {"name": "nobody", "type": "agent_reference"}},
        )
    assert "nobody" in missing_agent.value.body["message"]  # type: ignore[index]
    with pytest.raises(openai.NotFoundError):
        client.conversations.items.list(UNKNOWN_CONVERSATION)


@pytest.mark.parametrize(
    ("body", "param"),
    [
        (b"{not json", None),
        (b"[1, 2]", None),
        (b'{"input": "hi"}', "agent_reference"),
        (b'{"input": "", "agent_reference": {"name": "retail-support"}}', "input"),
        (
            b'{"input": [{"type": "function_call_output"}], '
            b'"agent_reference": {"name": "retail-support"}}',
            "input",
        ),
        (
            b'{"input": "hi", "agent_reference": {"name": "retail-support"}, "stream": true}',
            "stream",
        ),
        (
            b'{"input": "hi", "agent_reference": {"name": "retail-support"}, "conversation": 7}',
            "conversation",
        ),
    ],
)
def test_malformed_requests_are_400(http: httpx2.Client, body: bytes, param: str | None) -> None:
    response = http.post(
        "/responses", content=body, headers={**AUTH, "Content-Type": "application/json"}
    )
    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "invalid_payload" and error["param"] == param


def test_unknown_routes_and_projects_are_404(
    emulator: FoundryEmulator, http: httpx2.Client
) -> None:
    assert http.get("/assistants", headers=AUTH).status_code == 404
    with httpx2.Client(timeout=10) as other:
        wrong_project = other.get(
            f"{emulator.base_url}/api/projects/other/openai/v1/conversations/x", headers=AUTH
        )
    assert wrong_project.status_code == 404
    assert emulator.stats().requests["unrouted"] == 2


# --- faults ------------------------------------------------------------------------------------


def faulty(faults: FaultConfig) -> FoundryEmulator:
    return FoundryEmulator(seed="faults", faults=faults)


def test_rate_limit_every_nth_call_with_retry_after_and_the_client_retries(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The waits the client asks for, not how long they took: a wall-clock bound between the
    # 50 ms asked for and Retry-After's 1 s failed on a busy machine.
    waits: list[float] = []
    real_sleep, caller = time.sleep, threading.get_ident()

    def sleep(seconds: float) -> None:
        if threading.get_ident() == caller:  # not the emulator's threads
            waits.append(seconds)
        real_sleep(seconds)

    monkeypatch.setattr(time, "sleep", sleep)
    with faulty(FaultConfig(rate_limit_every=2, retry_after=0.05)) as emulator:
        with httpx2.Client(base_url=f"{emulator.endpoint}/openai/v1", timeout=10) as http:
            conversation = http.post("/conversations", json={}, headers=AUTH).json()["id"]
            body = {"conversation": conversation, "input": "hi", **SUPPORT}
            statuses = [http.post("/responses", json=body, headers=AUTH) for _ in range(4)]
        assert [r.status_code for r in statuses] == [200, 429, 200, 429]
        assert statuses[1].headers["Retry-After"] == "1"
        assert statuses[1].headers["retry-after-ms"] == "50"
        assert error_of(statuses[1])["code"] == "rate_limit_exceeded"

        with sdk_client(
            emulator
        ) as client:  # call 5 passes, call 6 is limited, its retry (7) passes
            say(client, conversation, "hi")
            assert waits == []
            say(client, conversation, "search for lamps")
            assert waits == [pytest.approx(0.05)]  # the 50 ms asked for, not Retry-After's 1 s
        stats = emulator.stats()
        assert stats.requests["POST /responses"] == 7
        assert stats.statuses["429"] == 3 and stats.faults == {"rate_limited": 3}


def test_server_error_on_a_chosen_call() -> None:
    with faulty(FaultConfig(fail_call=2)) as emulator:
        with sdk_client(emulator, max_retries=0) as client:
            conversation = client.conversations.create().id
            say(client, conversation, "hi")
            with pytest.raises(openai.InternalServerError) as failed:
                say(client, conversation, "search for lamps")
            assert failed.value.body["code"] == "server_error"  # type: ignore[index]
            # The failed call did not reach the agent: the conversation is as it was.
            assert [i.type for i in client.conversations.items.list(conversation).data].count(
                "message"
            ) == 2
            assert (
                tool_calls(say(client, conversation, "search for lamps"))[0][0] == "search_products"
            )
        assert emulator.stats().statuses == {"200": 4, "500": 1}


def test_server_error_is_retried_by_the_client() -> None:
    with faulty(FaultConfig(fail_call=1)) as emulator:
        with sdk_client(emulator) as client:
            conversation = client.conversations.create().id
            assert "Contoso Retail" in reply_text(say(client, conversation, "hi"))
        assert emulator.stats().requests["POST /responses"] == 2


def test_dropped_connection_on_a_chosen_call() -> None:
    with faulty(FaultConfig(drop_call=1)) as emulator:
        with sdk_client(emulator, max_retries=0) as client:
            conversation = client.conversations.create().id
            with pytest.raises(openai.APIConnectionError):
                say(client, conversation, "hi")
        with sdk_client(emulator) as client:
            assert "Contoso Retail" in reply_text(say(client, conversation, "hi"))
        stats = emulator.stats()
        assert stats.faults == {"dropped": 1}
        assert stats.requests["POST /responses"] == 2
        assert (
            stats.connections == 2
        )  # the one dropped (after the create on it), the second client's


def test_dropped_connection_is_retried_by_the_client() -> None:
    with faulty(FaultConfig(drop_call=1)) as emulator:
        with sdk_client(emulator) as client:
            conversation = client.conversations.create().id
            assert "Contoso Retail" in reply_text(say(client, conversation, "hi"))
        assert emulator.stats().requests["POST /responses"] == 2


def test_malformed_json_on_a_chosen_call() -> None:
    with faulty(FaultConfig(malformed_call=1)) as emulator:
        with sdk_client(emulator) as client:
            conversation = client.conversations.create().id
            with pytest.raises(ValueError, match=r"Unterminated string|Expecting"):
                say(client, conversation, "hi")  # a 200 is not retried: the body is unreadable
            assert "Contoso Retail" in reply_text(say(client, conversation, "hi"))
        assert emulator.stats().faults == {"malformed": 1}


def test_latency_per_request() -> None:
    with FoundryEmulator(latency=0.1) as emulator, sdk_client(emulator) as client:
        started = time.monotonic()
        conversation = client.conversations.create().id
        say(client, conversation, "hi")
        assert time.monotonic() - started >= 0.2


def test_fault_config_is_validated() -> None:
    with pytest.raises(ValueError, match="fail_call"):
        FaultConfig(fail_call=0)
    with pytest.raises(ValueError, match="latency"):
        FaultConfig(latency=-1)


# --- counters, determinism, command line -------------------------------------------------------


def test_one_client_reuses_one_connection_and_stats_are_served(
    emulator: FoundryEmulator, client: openai.OpenAI
) -> None:
    conversation = client.conversations.create().id
    for text in ("hi", "my email is ana@example.com", "ORD-1001"):
        say(client, conversation, text)
    stats = emulator.stats()
    assert stats.connections == 1
    assert stats.requests == {"POST /conversations": 1, "POST /responses": 3}
    assert stats["connections"] == 1 and stats.conversations == 1 and stats.responses_calls == 3
    with httpx2.Client(timeout=10) as http:
        served = http.get(f"{emulator.base_url}/_emulator/stats").json()
    assert served == {**stats.as_dict(), "connections": 2}  # the admin request's own connection


def record_traffic(seed: str) -> list[tuple[int, list[tuple[str, str]], bytes]]:
    texts = (
        "Hi, my email is ana@example.com",
        "track ORD-1001",
        "Return ORD-1001 because it is loud",
    )
    with (
        FoundryEmulator(seed=seed) as emulator,
        httpx2.Client(base_url=f"{emulator.endpoint}/openai/v1", timeout=10) as http,
    ):
        exchanges = [http.post("/conversations", json={}, headers=AUTH)]
        conversation = exchanges[0].json()["id"]
        for text in texts:
            body = {"conversation": conversation, "input": text, **GUARDED}
            exchanges.append(http.post("/responses", json=body, headers=AUTH))
        request_id = exchanges[-1].json()["output"][-1]["id"]
        answer = {
            "type": "mcp_approval_response",
            "approve": True,
            "approval_request_id": request_id,
        }
        body = {"conversation": conversation, "input": [answer], **GUARDED}
        exchanges.append(http.post("/responses", json=body, headers=AUTH))
        exchanges.append(http.get(f"/conversations/{conversation}/items", headers=AUTH))
    return [(r.status_code, list(r.headers.items()), r.content) for r in exchanges]


def test_same_seed_same_requests_give_identical_bytes() -> None:
    first, second = record_traffic("same"), record_traffic("same")
    assert first == second
    assert all(status == 200 for status, _, _ in first)
    assert not any(name.lower() == "date" for _, headers, _ in first for name, _ in headers)
    other = record_traffic("other")
    assert other[0][2] != first[0][2]  # ids follow the seed


def test_command_line_serves_until_interrupted() -> None:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "foundry_goldens.emulator",
            "--port",
            "0",
            "--seed",
            "cli",
            "--rate-limit-every",
            "2",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline().strip()
        assert line.startswith("AZURE_AI_PROJECT_ENDPOINT=http://127.0.0.1:")
        endpoint = line.partition("=")[2]
        with httpx2.Client(timeout=10) as http:
            created = http.post(f"{endpoint}/openai/v1/conversations", json={}, headers=AUTH)
            assert created.status_code == 200
    finally:
        process.send_signal(2)  # SIGINT, as Ctrl-C
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
    assert process.returncode == 0


def test_command_line_rejects_a_bad_fault() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "foundry_goldens.emulator", "--fail-call", "0"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 2 and "fail_call" in done.stderr
