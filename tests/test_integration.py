"""The snippet's three stages, without HTTP, on payloads shaped like real Foundry output.

Outputs are judged the way AI GO! reads them: the returned JSON is parsed with
`OpenResponsesModelOutput`, and the next turn's assistant message is built with
`model_output_to_message`. HTTP-level behaviour is in test_integration_http.py.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest
from latticeflow.core.dtypes import (
    ChatCompletionInput,
    FunctionCall,
    FunctionCallOutput,
    Message,
    OpenResponsesModelOutput,
)

from foundry_goldens.snippet.credentials import StaticTokenCredential
from tests.foundry_items import (
    USAGE,
    approval_request,
    approval_response,
    echo,
    list_tools,
    mcp_call,
    message,
)

CONV = "conv_01ABcDeFgHiJkLmNoPqRsTuV"
ENDPOINT = "http://127.0.0.1:9/api/projects/unit"


@pytest.fixture(autouse=True)
def fresh_clients(snippet: ModuleType) -> Iterator[None]:
    snippet.reset_client_cache()
    yield
    snippet.reset_client_cache()


def convert(
    snippet: ModuleType,
    output: list[dict[str, Any]],
    usage: dict[str, Any] | None = None,
    conversation_id: str = CONV,
) -> OpenResponsesModelOutput:
    """Stage 3, then parsed back exactly as AI GO! parses the snippet's answer."""
    raw = snippet.RawModelOutput(conversation_id=conversation_id, output=output, usage=usage or {})
    returned = snippet.convert_model_output(raw).model_dump_json()
    return OpenResponsesModelOutput.model_validate_json(returned)


def calls(output: OpenResponsesModelOutput) -> list[FunctionCall]:
    return [item for item in output.items if isinstance(item, FunctionCall)]


def call_outputs(output: OpenResponsesModelOutput) -> list[FunctionCallOutput]:
    return [item for item in output.items if isinstance(item, FunctionCallOutput)]


def reply_of(output: OpenResponsesModelOutput) -> Message:
    last = output.items[-1]
    assert isinstance(last, Message)
    assert last.role.value == "assistant"
    return last


def reply_text(output: OpenResponsesModelOutput) -> str:
    content = reply_of(output).content
    assert len(content) == 1
    return str(getattr(content[0], "text", ""))


def chat(*messages: dict[str, Any]) -> str:
    return json.dumps({"messages": list(messages)})


def user(text: Any) -> dict[str, Any]:
    return {"role": "user", "content": text}


def assistant(text: str, conversation_id: Any = None) -> dict[str, Any]:
    msg: dict[str, Any] = {"role": "assistant", "content": text}
    if conversation_id is not None:
        msg["conversation_id"] = conversation_id
    return msg


# ---------------------------------------------------------------------------------------
# Stage 1: convert_user_input (and parse_chat_input)
# ---------------------------------------------------------------------------------------


def model_input(snippet: ModuleType, body: str) -> Any:
    return snippet.convert_user_input(snippet.parse_chat_input(body))


def test_first_turn_has_no_conversation_and_only_the_user_text(snippet: ModuleType) -> None:
    result = model_input(snippet, chat(user("Search the catalog for shoes.")))
    assert result == snippet.ModelInput(
        conversation_id="", user_message="Search the catalog for shoes."
    )


def test_later_turn_reuses_the_latest_assistant_conversation_id(snippet: ModuleType) -> None:
    body = chat(
        user("Hello!"),
        assistant("Hi!", "conv_old"),
        user("Where is my order?"),
        assistant("Which email?", CONV),
        user("ana@example.com"),
    )
    result = model_input(snippet, body)
    assert result.conversation_id == CONV
    assert result.user_message == "ana@example.com"


def test_latest_assistant_without_conversation_id_starts_a_new_conversation(
    snippet: ModuleType,
) -> None:
    body = chat(user("a"), assistant("b", CONV), user("c"), assistant("d"), user("e"))
    assert model_input(snippet, body).conversation_id == ""


def test_the_newest_user_message_is_sent_even_if_an_assistant_message_follows(
    snippet: ModuleType,
) -> None:
    body = chat({"role": "system", "content": "be brief"}, user("first"), user("second"))
    assert model_input(snippet, body).user_message == "second"


def test_content_as_a_list_of_parts_keeps_the_text_parts(snippet: ModuleType) -> None:
    parts = [
        {"type": "text", "text": "Where is"},
        {"type": "input_text", "text": "order ORD-1001?"},
    ]
    assert model_input(snippet, chat(user(parts))).user_message == "Where is\norder ORD-1001?"


def test_chat_completion_input_objects_are_accepted_directly(snippet: ModuleType) -> None:
    data = ChatCompletionInput.model_validate(
        {"messages": [user("hi"), assistant("hello", CONV), user("again")]}
    )
    result = snippet.convert_user_input(data)
    assert (result.conversation_id, result.user_message) == (CONV, "again")


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ("this is not json", "not valid JSON"),
        ("", "not valid JSON"),
        ("[1, 2]", "JSON object"),
        ("{}", "no messages"),
        ('{"messages": []}', "no messages"),
        ('{"messages": "hello"}', "no messages"),
        (chat(assistant("hi", CONV)), "no user message"),
        (chat({"role": "system", "content": "rules"}), "no user message"),
        (chat(user("")), "no text"),
        (chat(user("   ")), "no text"),
        (chat(user([{"type": "file", "file": {"file_id": "file-1"}}])), "not supported"),
        (chat(user([])), "no text"),
        (chat({"role": "tool", "content": "x"}), "not a chat-completion input"),
        (chat({"content": "who am I"}), "not a chat-completion input"),
        (chat(assistant("hi", 42), user("x")), "conversation_id must be a string"),
    ],
)
def test_bad_input_raises_a_clear_value_error(
    snippet: ModuleType, body: str, fragment: str
) -> None:
    with pytest.raises(ValueError, match=fragment):
        model_input(snippet, body)


# ---------------------------------------------------------------------------------------
# Settings and environment keys (checked before any HTTP)
# ---------------------------------------------------------------------------------------


def environment(**overrides: Any) -> dict[str, Any]:
    env: dict[str, Any] = {
        "AZURE_AI_PROJECT_ENDPOINT": ENDPOINT,
        "AZURE_FOUNDRY_AGENT_NAME": "retail-support",
        "AZURE_TOKEN_CREDENTIAL": StaticTokenCredential(),
    }
    env.update(overrides)
    return {key: value for key, value in env.items() if value is not None}


@pytest.mark.parametrize("key", ["AZURE_AI_PROJECT_ENDPOINT", "AZURE_FOUNDRY_AGENT_NAME"])
@pytest.mark.parametrize("value", [None, "", "  "])
def test_missing_required_environment_key_is_named(
    snippet: ModuleType, key: str, value: str | None
) -> None:
    with pytest.raises(ValueError, match=key):
        snippet.run_inference(chat(user("hi")), environment(**{key: value}))


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        ({"FOUNDRY_MCP_APPROVAL": "sometimes"}, "FOUNDRY_MCP_APPROVAL"),
        ({"FOUNDRY_MCP_APPROVAL": "deny:get_orders"}, "FOUNDRY_MCP_APPROVAL"),
        ({"FOUNDRY_MAX_APPROVAL_ROUNDS": "many"}, "FOUNDRY_MAX_APPROVAL_ROUNDS"),
        ({"FOUNDRY_MAX_APPROVAL_ROUNDS": "-1"}, "FOUNDRY_MAX_APPROVAL_ROUNDS"),
        ({"AZURE_TOKEN_CREDENTIAL": "not a credential"}, "AZURE_TOKEN_CREDENTIAL"),
    ],
)
def test_invalid_optional_keys_are_named(
    snippet: ModuleType, overrides: dict[str, Any], key: str
) -> None:
    with pytest.raises(ValueError, match=key):
        snippet.run_inference(chat(user("hi")), environment(**overrides))


def test_settings_defaults_and_endpoint_normalisation(snippet: ModuleType) -> None:
    settings = snippet.read_settings(environment(AZURE_AI_PROJECT_ENDPOINT=ENDPOINT + "/"))
    assert settings.endpoint == ENDPOINT
    assert settings.agent_name == "retail-support"
    assert settings.approval_policy.mode == "approve"
    assert settings.max_approval_rounds == 5
    assert (
        snippet.read_settings(environment(FOUNDRY_MAX_APPROVAL_ROUNDS="0")).max_approval_rounds == 0
    )


# ---------------------------------------------------------------------------------------
# MCP approval policy (unit level)
# ---------------------------------------------------------------------------------------

REQUESTS = [approval_request("mcpr_1", "get_customer_orders"), approval_request("mcpr_2", "refund")]


@pytest.mark.parametrize(
    ("setting", "expected"),
    [
        (None, {"mcpr_1": True, "mcpr_2": True}),
        ("", {"mcpr_1": True, "mcpr_2": True}),
        ("approve", {"mcpr_1": True, "mcpr_2": True}),
        (" Approve ", {"mcpr_1": True, "mcpr_2": True}),
        ("deny", {"mcpr_1": False, "mcpr_2": False}),
        ("DENY", {"mcpr_1": False, "mcpr_2": False}),
        ("allow:get_customer_orders", {"mcpr_1": True, "mcpr_2": False}),
        ("allow: refund , get_customer_orders ", {"mcpr_1": True, "mcpr_2": True}),
        ("allow:refund", {"mcpr_1": False, "mcpr_2": True}),
        ("allow:", {"mcpr_1": False, "mcpr_2": False}),
        ("allow:Refund", {"mcpr_1": False, "mcpr_2": False}),  # tool names are exact
    ],
)
def test_policy_decides_each_request(
    snippet: ModuleType, setting: str | None, expected: dict[str, bool]
) -> None:
    policy = snippet.parse_approval_policy(setting)
    answers = snippet.answer_approval_requests(REQUESTS, policy)
    assert answers == [
        {"type": "mcp_approval_response", "approve": approve, "approval_request_id": request_id}
        for request_id, approve in expected.items()
    ]


def test_only_approval_requests_are_pending(snippet: ModuleType) -> None:
    items = [list_tools(), *REQUESTS, mcp_call(), message("done")]
    assert snippet.pending_approval_requests(items) == REQUESTS


def test_usage_is_summed_over_rounds_including_details(snippet: ModuleType) -> None:
    total = snippet.sum_usage(USAGE, USAGE)
    assert total == {
        "input_tokens": 402,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": 44,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": 446,
    }
    assert snippet.sum_usage({}, USAGE) == USAGE


# ---------------------------------------------------------------------------------------
# Stage 3: convert_model_output
# ---------------------------------------------------------------------------------------


def test_tutorial_example_converts_to_call_output_and_reply(snippet: ModuleType) -> None:
    output = convert(
        snippet,
        [list_tools(), mcp_call(), message("Your order ORD-1001 ships today.")],
        USAGE,
    )
    call, call_output, reply = output.items
    assert isinstance(call, FunctionCall) and isinstance(call_output, FunctionCallOutput)
    assert (call.call_id, call.name, call.arguments, call.status.value) == (
        "mcp_01",
        "get_customer_orders",
        '{"email": "ana@example.com"}',
        "completed",
    )
    assert (call_output.call_id, call_output.output, call_output.status.value) == (
        "mcp_01",
        '[{"order_id": "ORD-1001"}]',
        "completed",
    )
    assert reply is reply_of(output)
    assert reply_text(output) == "Your order ORD-1001 ships today."
    assert (reply.model_extra or {})["conversation_id"] == CONV
    assert output.usage is not None
    assert (output.usage.num_prompt_tokens, output.usage.num_completion_tokens) == (201, 22)


def test_returned_json_has_no_type_keys_and_random_ids(snippet: ModuleType) -> None:
    raw = snippet.RawModelOutput(conversation_id=CONV, output=[mcp_call(), message("ok")])
    data = json.loads(snippet.convert_model_output(raw).model_dump_json())
    assert all("type" not in item for item in data["items"])
    ids = [item["id"] for item in data["items"]]
    assert len(set(ids)) == 3
    assert all(uuid.UUID(item_id).version == 4 for item_id in ids)


def test_conversation_id_round_trips_through_the_next_turn(snippet: ModuleType) -> None:
    """AI GO! echoes model_output_to_message(previous output) as the assistant message."""
    first = convert(snippet, [list_tools(), mcp_call(), message("Which order?")], USAGE)
    echoed = echo(first)
    assert echoed.content == "Which order?"
    body = json.dumps(
        {
            "messages": [
                user("Where is my order?"),
                echoed.model_dump(mode="json"),
                user("ORD-1001"),
            ]
        }
    )
    assert model_input(snippet, body) == snippet.ModelInput(
        conversation_id=CONV,
        user_message="ORD-1001",
        # Kept with the echo too: the chat is what the conversation is remembered by.
        history=[
            snippet.ChatTurn(role="user", text="Where is my order?"),
            snippet.ChatTurn(role="assistant", text="Which order?"),
        ],
    )


FAILED_CALL_ERRORS = [
    {"type": "mcp_protocol_error", "code": -32602, "message": "Invalid params"},
    {"type": "mcp_tool_execution_error", "content": [{"type": "text", "text": "DB down"}]},
    {"type": "http_error", "code": 502, "message": "Bad Gateway"},
    "Tool call timed out",  # older string-shaped errors
]


@pytest.mark.parametrize("error", FAILED_CALL_ERRORS)
def test_failed_mcp_call_shows_error_in_output_and_status_on_call(
    snippet: ModuleType, error: Any
) -> None:
    output = convert(
        snippet, [mcp_call(status="failed", output=None, error=error), message("Sorry.")]
    )
    (call,), (call_output,) = calls(output), call_outputs(output)
    assert call.status.value == "incomplete"
    assert call_output.status.value == "incomplete"
    assert call_output.call_id == call.call_id == "mcp_01"
    assert isinstance(call_output.output, str)
    assert json.loads(call_output.output) == {"error": error}


def test_mcp_call_with_error_but_completed_status_is_still_a_failure(snippet: ModuleType) -> None:
    error = {"type": "http_error", "code": 500, "message": "Internal"}
    output = convert(snippet, [mcp_call(output="partial", error=error), message("x")])
    assert calls(output)[0].status.value == "incomplete"
    assert json.loads(str(call_outputs(output)[0].output)) == {"error": error}


def test_failed_mcp_call_without_error_details_says_failed(snippet: ModuleType) -> None:
    output = convert(snippet, [mcp_call(status="failed", output=None), message("x")])
    assert calls(output)[0].status.value == "incomplete"
    assert json.loads(str(call_outputs(output)[0].output)) == {"error": {"status": "failed"}}


def test_approval_rounds_keep_every_call_and_show_denials(snippet: ModuleType) -> None:
    """Round 1 asks for two approvals; the policy allowed one; round 2 runs it and replies."""
    output = convert(
        snippet,
        [
            list_tools(),
            approval_request("mcpr_1", "get_customer_orders"),
            approval_request("mcpr_2", "refund"),
            approval_response("mcpr_1", True),
            approval_response("mcpr_2", False),
            mcp_call("mcp_9", approval_request_id="mcpr_1"),
            message("ORD-1001 ships today; I could not refund."),
        ],
    )
    denied, denied_output, approved, approved_output, _ = output.items
    assert isinstance(denied, FunctionCall) and isinstance(denied_output, FunctionCallOutput)
    assert (denied.call_id, denied.name, denied.status.value) == ("mcpr_2", "refund", "incomplete")
    assert denied.arguments == '{"order_id": "ORD-1001"}'
    assert denied_output.call_id == "mcpr_2"
    assert json.loads(str(denied_output.output))["error"]["type"] == "approval_denied"
    assert isinstance(approved, FunctionCall) and isinstance(approved_output, FunctionCallOutput)
    assert (approved.call_id, approved.name, approved.status.value) == (
        "mcp_9",
        "get_customer_orders",
        "completed",
    )
    assert [c.name for c in calls(output)] == ["refund", "get_customer_orders"]
    assert reply_text(output) == "ORD-1001 ships today; I could not refund."


def test_file_search_call_becomes_a_file_search_call_and_its_results(snippet: ModuleType) -> None:
    results = [
        {"file_id": "file-1", "filename": "faq.md", "score": 0.9, "text": "Returns: 30 days"}
    ]
    item = {
        "type": "file_search_call",
        "id": "fs_01",
        "status": "completed",
        "queries": ["return policy"],
        "results": results,
    }
    output = convert(snippet, [item, message("30 days.")])
    (call,), (call_output,) = calls(output), call_outputs(output)
    assert (call.call_id, call.name, call.status.value) == ("fs_01", "file_search", "completed")
    assert json.loads(call.arguments) == {"queries": ["return policy"]}
    assert call_output.call_id == "fs_01"
    assert json.loads(str(call_output.output)) == {"results": results}


def test_file_search_call_without_results_has_an_empty_output(snippet: ModuleType) -> None:
    item: dict[str, Any] = {"type": "file_search_call", "id": "fs_02", "status": "completed"}
    item.update(queries=["q"], results=None)
    output = convert(snippet, [item, message("?")])
    assert call_outputs(output)[0].output == ""


def test_web_search_call_keeps_its_action(snippet: ModuleType) -> None:
    action = {"type": "search", "query": "shoe sizes", "sources": [{"type": "url", "url": "u"}]}
    item = {"type": "web_search_call", "id": "ws_01", "status": "completed", "action": action}
    output = convert(snippet, [item, message("Size 42.")])
    (call,), (call_output,) = calls(output), call_outputs(output)
    assert (call.call_id, call.name) == ("ws_01", "web_search")
    assert json.loads(call.arguments) == {"action": action}
    assert call_output.call_id == "ws_01"


def test_code_interpreter_call_keeps_code_and_outputs(snippet: ModuleType) -> None:
    outputs = [{"type": "logs", "logs": "4\n"}]
    item = {
        "type": "code_interpreter_call",
        "id": "ci_01",
        "status": "completed",
        "code": "print(2 + 2)",
        "container_id": "cntr_1",
        "outputs": outputs,
    }
    output = convert(snippet, [item, message("4")])
    (call,), (call_output,) = calls(output), call_outputs(output)
    assert (call.call_id, call.name) == ("ci_01", "code_interpreter")
    assert json.loads(call.arguments) == {"code": "print(2 + 2)", "container_id": "cntr_1"}
    assert json.loads(str(call_output.output)) == {"outputs": outputs}


def test_failed_server_tool_call_is_incomplete(snippet: ModuleType) -> None:
    item = {"type": "code_interpreter_call", "id": "ci_02", "status": "failed", "code": "1/0"}
    output = convert(snippet, [item, message("It failed.")])
    assert calls(output)[0].status.value == "incomplete"
    assert call_outputs(output)[0].status.value == "incomplete"


def test_in_progress_server_tool_call_is_in_progress(snippet: ModuleType) -> None:
    item = {"type": "web_search_call", "id": "ws_02", "status": "searching", "action": None}
    output = convert(snippet, [item, message("")])
    call = calls(output)[0]
    assert call.status.value == "in_progress"
    assert call.arguments == "{}"


def test_client_function_call_is_passed_through_with_its_call_id(snippet: ModuleType) -> None:
    item = {
        "type": "function_call",
        "id": "fc_01",
        "call_id": "call_abc",
        "name": "lookup_weather",
        "arguments": '{"city": "Zurich"}',
        "status": "completed",
    }
    output = convert(snippet, [item])
    (call,) = calls(output)
    assert (call.call_id, call.name, call.arguments) == (
        "call_abc",
        "lookup_weather",
        '{"city": "Zurich"}',
    )
    assert call_outputs(output) == []  # nobody ran it: the client side owns the output
    assert reply_text(output) == ""
    assert (reply_of(output).model_extra or {})["conversation_id"] == CONV


def test_client_function_call_output_is_passed_through(snippet: ModuleType) -> None:
    item = {"type": "function_call_output", "id": "fco_1", "call_id": "call_abc", "output": "17C"}
    (call_output,) = call_outputs(convert(snippet, [item, message("17C.")]))
    assert (call_output.call_id, call_output.output) == ("call_abc", "17C")


def test_unknown_tool_item_types_do_not_vanish(snippet: ModuleType) -> None:
    item = {
        "type": "image_generation_call",
        "id": "ig_01",
        "status": "completed",
        "result": "aGVsbG8=",
    }
    output = convert(snippet, [item, message("Here it is.")])
    (call,), (call_output,) = calls(output), call_outputs(output)
    assert (call.call_id, call.name) == ("ig_01", "image_generation")
    assert json.loads(str(call_output.output)) == {"result": "aGVsbG8="}


def test_reasoning_and_tool_listing_are_skipped(snippet: ModuleType) -> None:
    reasoning = {
        "type": "reasoning",
        "id": "rs_1",
        "summary": [{"type": "summary_text", "text": "t"}],
    }
    output = convert(snippet, [list_tools(), reasoning, message("hi")])
    assert len(output.items) == 1
    assert reply_text(output) == "hi"


def test_reply_joins_text_blocks_and_separates_messages(snippet: ModuleType) -> None:
    user_echo = {**message("ignored"), "role": "user"}
    refusal = {
        "type": "message",
        "id": "msg_3",
        "status": "completed",
        "role": "assistant",
        "content": [{"type": "refusal", "refusal": "I can't share that."}],
    }
    items = [user_echo, message("Let me ", "check."), message("Found it.", msg_id="msg_2"), refusal]
    output = convert(snippet, items)
    assert reply_text(output) == "Let me check.\n\nFound it.\n\nI can't share that."
    assert echo(output).content == reply_text(output)


def test_no_reply_still_returns_an_assistant_message_with_the_conversation(
    snippet: ModuleType,
) -> None:
    output = convert(snippet, [list_tools()])
    assert len(output.items) == 1
    echoed = echo(output)
    assert (echoed.content, getattr(echoed, "conversation_id", None)) == ("", CONV)


def test_missing_usage_is_left_out(snippet: ModuleType) -> None:
    raw = snippet.RawModelOutput(conversation_id=CONV, output=[message("hi")])
    assert "usage" not in json.loads(snippet.convert_model_output(raw).model_dump_json())


# ---------------------------------------------------------------------------------------
# Client reuse (no HTTP: building clients makes no requests)
# ---------------------------------------------------------------------------------------


def test_clients_are_built_once_per_endpoint_and_identity(snippet: ModuleType) -> None:
    credential = StaticTokenCredential()
    env = environment(AZURE_TOKEN_CREDENTIAL=credential)
    client = snippet.get_foundry_client(env)
    assert snippet.get_foundry_client(dict(env)) is client
    assert snippet.get_foundry_client(environment(AZURE_TOKEN_CREDENTIAL=credential)) is client
    other_credential = environment(AZURE_TOKEN_CREDENTIAL=StaticTokenCredential())
    assert snippet.get_foundry_client(other_credential) is not client
    other_endpoint = environment(
        AZURE_TOKEN_CREDENTIAL=credential, AZURE_AI_PROJECT_ENDPOINT=ENDPOINT + "2"
    )
    assert snippet.get_foundry_client(other_endpoint) is not client


def test_the_endpoints_of_one_identity_share_its_credential(snippet: ModuleType) -> None:
    # A Foundry token is for https://ai.azure.com, not for one project: a second project
    # reached by the same service principal must reuse the credential (and its token), not
    # sign in again; another identity gets a credential of its own.
    def sp(endpoint: str, secret: str = "secret") -> dict[str, Any]:
        return environment(
            AZURE_TOKEN_CREDENTIAL=None,
            AZURE_AI_PROJECT_ENDPOINT=endpoint,
            AZURE_TENANT_ID="tenant",
            AZURE_CLIENT_ID="client",
            AZURE_CLIENT_SECRET=secret,
        )

    first = snippet.get_foundry_client(sp(ENDPOINT))
    second = snippet.get_foundry_client(sp(ENDPOINT + "2"))
    snippet.get_foundry_client(sp(ENDPOINT, secret="rotated"))
    assert first is not second and len(snippet._CLIENTS) == 3
    assert len(snippet._CREDENTIALS) == 2
    shared = snippet._CREDENTIALS[snippet._identity(sp(ENDPOINT))].credential
    assert type(shared).__name__ == "ClientSecretCredential"


def test_openai_client_targets_the_project_with_bounded_retries(snippet: ModuleType) -> None:
    client = snippet.get_foundry_client(environment())
    assert str(client.base_url).rstrip("/") == ENDPOINT + "/openai/v1"
    assert client.max_retries == snippet.OPENAI_MAX_RETRIES == 2


def test_service_principal_identity_uses_a_hash_of_the_secret(snippet: ModuleType) -> None:
    def sp(secret: str) -> dict[str, Any]:
        return environment(
            AZURE_TOKEN_CREDENTIAL=None,
            AZURE_TENANT_ID="tenant",
            AZURE_CLIENT_ID="client",
            AZURE_CLIENT_SECRET=secret,
        )

    client = snippet.get_foundry_client(sp("secret-one"))
    assert snippet.get_foundry_client(sp("secret-one")) is client
    assert snippet.get_foundry_client(sp("secret-two")) is not client
    keys = repr(list(snippet._CLIENTS))
    assert "secret-one" not in keys and "secret-two" not in keys
    keys = repr(list(snippet._CREDENTIALS))
    assert "secret-one" not in keys and "secret-two" not in keys
    credential = snippet._CREDENTIALS[snippet._identity(sp("secret-one"))].credential
    assert type(credential).__name__ == "ClientSecretCredential"


def test_token_credential_wins_over_service_principal(snippet: ModuleType) -> None:
    credential = StaticTokenCredential()
    env = environment(
        AZURE_TOKEN_CREDENTIAL=credential,
        AZURE_TENANT_ID="tenant",
        AZURE_CLIENT_ID="client",
        AZURE_CLIENT_SECRET="secret",
    )
    snippet.get_foundry_client(env)
    (entry,) = snippet._CREDENTIALS.values()
    assert entry.credential.credential is credential and not entry.owns_credential


@pytest.mark.parametrize("missing", ["AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET"])
def test_partial_service_principal_falls_back_to_default_credential(
    snippet: ModuleType, missing: str
) -> None:
    env = environment(
        AZURE_TOKEN_CREDENTIAL=None,
        AZURE_TENANT_ID="tenant",
        AZURE_CLIENT_ID="client",
        AZURE_CLIENT_SECRET="secret",
    )
    del env[missing]
    snippet.get_foundry_client(env)
    (entry,) = snippet._CREDENTIALS.values()
    assert type(entry.credential).__name__ == "DefaultAzureCredential"


def test_concurrent_first_calls_share_one_client(snippet: ModuleType) -> None:
    env = environment()
    barrier = threading.Barrier(16)
    clients: list[Any] = []

    def first_call() -> None:
        barrier.wait()
        clients.append(snippet.get_foundry_client(dict(env)))

    threads = [threading.Thread(target=first_call) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(clients) == 16
    assert len({id(client) for client in clients}) == 1
    assert len(snippet._CLIENTS) == 1


def test_reset_client_cache_forgets_clients(snippet: ModuleType) -> None:
    env = environment()
    client = snippet.get_foundry_client(env)
    snippet.reset_client_cache()
    assert snippet._CLIENTS == {} and snippet._CREDENTIALS == {}
    assert snippet.get_foundry_client(env) is not client


# ---------------------------------------------------------------------------------------
# Secrets never leave in error messages
# ---------------------------------------------------------------------------------------


def test_redact_masks_secret_tokens_and_url_credentials(snippet: ModuleType) -> None:
    env = {"AZURE_CLIENT_SECRET": "sp-secret-value"}
    text = (
        "auth failed for sp-secret-value: Authorization: Bearer eyJ0eXAi.abc-def "
        "url https://user:pa55@foundry.example/x?sig=abcdef&x=1 "
        'body {"access_token": "tok123"} client_secret=hunter2'
    )
    redacted = snippet.redact(text, env)
    for secret in ("sp-secret-value", "eyJ0eXAi.abc-def", "pa55", "abcdef", "tok123", "hunter2"):
        assert secret not in redacted
    assert "Bearer ***" in redacted


def test_foundry_error_message_names_code_and_message(snippet: ModuleType) -> None:
    assert issubclass(snippet.FoundryError, RuntimeError)
    error = snippet.FoundryError("server_error", "boom", status_code=500, request_id="req_1")
    assert str(error) == "Foundry error server_error (HTTP 500): boom [request id req_1]"
    assert (error.code, error.message, error.status_code) == ("server_error", "boom", 500)
