"""The emulator held to real Foundry traffic (tests/reference/, each file's source in its README):
every object it returns has the keys, nesting and JSON value types of the reference body, the
same id formats, the same usage accounting, and the headers a client reads.

Compared structurally, never retyped: each reference file is loaded and walked side by side
with the emulator's body. Where no public evidence exists, the test says the shape is assumed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx2
import openai
import pytest
from openai.types.conversations import Conversation, ConversationItemList
from openai.types.responses import ResponseReasoningItem

from foundry_goldens.emulator import FaultConfig, FoundryEmulator
from foundry_goldens.emulator.ids import CONVERSATION_ID, ITEM_ID, REQUEST_ID, as_uuid
from foundry_goldens.emulator.payloads import count_tokens

REFERENCE = Path(__file__).parent / "reference"
AUTH = {"Authorization": "Bearer static-test-token"}


def agent(name: str, **reference: str) -> dict[str, Any]:
    return {"agent_reference": {"name": name, "type": "agent_reference", **reference}}


SUPPORT, GUARDED, POLICY = (
    agent("retail-support"),
    agent("retail-support-guarded"),
    agent("policy-assistant"),
)


def reference_response(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((REFERENCE / "responses" / f"{name}.json").read_text())
    return loaded


def reference_errors() -> dict[str, dict[str, Any]]:
    """errors.json's entries by a short key, so a test names the case it reproduces."""
    entries = json.loads((REFERENCE / "errors.json").read_text())
    keys = (
        "agent_key",
        "model_parameters",
        "permission_denied",
        "malformed_conversation",
        "unauthorized",
    )
    assert len(entries) == len(keys)
    return dict(zip(keys, entries, strict=True))


# --- the structural comparison -----------------------------------------------------------------


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    return {float: "number", str: "string", list: "array", dict: "object"}[type(value)]


def differences(
    ours: Any,
    real: Any,
    path: str = "",
    *,
    open_paths: frozenset[str] = frozenset(),
    nullable: frozenset[str] = frozenset(),
    allowed: Mapping[str, str] | None = None,
) -> list[str]:
    """How `ours` differs from `real` in keys, nesting and JSON value types. Paths name list
    elements by their `type` (`output[message].content[output_text]`), so an item is compared
    with the reference item of its kind. `open_paths`: objects whose keys the server defines
    (an MCP tool's schema); `nullable`: paths where `null` stands for an absent value;
    `allowed`: path -> why it may differ from this reference (a different, cited one)."""
    allowed = allowed or {}
    if path in allowed:
        return []
    if json_type(ours) != json_type(real):
        if path in nullable and None in (ours, real):
            return []
        return [f"{path or '.'}: {json_type(ours)} where Foundry sends {json_type(real)}"]
    if isinstance(real, dict):
        if path in open_paths:
            return []
        found = [f"{path}.{key}: missing" for key in real if key not in ours]
        found += [f"{path}.{key}: not in Foundry's body" for key in ours if key not in real]
        for key in (key for key in real if key in ours):
            found += differences(
                ours[key],
                real[key],
                f"{path}.{key}",
                open_paths=open_paths,
                nullable=nullable,
                allowed=allowed,
            )
        return [f for f in found if f.split(":")[0] not in allowed]
    if isinstance(real, list):
        by_kind = {_kind(element): element for element in real}
        found = []
        for element in ours:
            kind = _kind(element)
            if kind not in by_kind and len(by_kind) == 1 and "" in by_kind:
                kind = ""
            where = f"{path}[{kind}]"
            if kind not in by_kind:
                if real and where not in allowed:
                    found.append(f"{where}: Foundry's body holds no element of this kind")
                continue
            found += differences(
                element,
                by_kind[kind],
                where,
                open_paths=open_paths,
                nullable=nullable,
                allowed=allowed,
            )
        return found
    return []


def _kind(element: Any) -> str:
    return str(element.get("type", "")) if isinstance(element, dict) else ""


def test_the_comparison_catches_what_it_should() -> None:
    real = reference_response("mcp_call_after_approval")
    assert differences(real, real) == []
    ours = json.loads(json.dumps(real))
    ours["completed_at"] = 1
    del ours["agent"]
    ours["temperature"] = 1.0
    ours["output"][0]["error"] = None
    ours["output"][1]["content"][0]["annotations"] = "none"
    assert differences(ours, real) == [
        ".agent: missing",
        ".completed_at: not in Foundry's body",
        ".temperature: number where Foundry sends integer",
        ".output[mcp_call].error: not in Foundry's body",
        ".output[message].content[output_text].annotations: string where Foundry sends array",
    ]


# --- fixtures ----------------------------------------------------------------------------------


@pytest.fixture
def emulator() -> Iterator[FoundryEmulator]:
    with FoundryEmulator(seed="conformance") as running:
        yield running


@pytest.fixture
def http(emulator: FoundryEmulator) -> Iterator[httpx2.Client]:
    with httpx2.Client(base_url=f"{emulator.endpoint}/openai/v1", timeout=10) as opened:
        yield opened


def new_conversation(http: httpx2.Client) -> str:
    created = http.post("/conversations", json={}, headers=AUTH)
    assert created.status_code == 200
    return str(created.json()["id"])


def respond(
    http: httpx2.Client, text: Any, agent: dict[str, Any], conversation: str | None = None
) -> httpx2.Response:
    body: dict[str, Any] = {"input": text, **agent}
    if conversation is not None:
        body["conversation"] = conversation
    return http.post("/responses", json=body, headers=AUTH)


def ok(response: httpx2.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


# MCP servers define their tools' schemas and annotations; Foundry passes them through.
MCP_OPEN = frozenset(
    {
        ".output[mcp_list_tools].tools[].input_schema",
        ".output[mcp_list_tools].tools[].annotations",
    }
)
# openai's McpCall declares `approval_request_id` optional: null for a call that needed none
# (the reference call followed an approval).
CALL_NULLABLE = frozenset({".output[mcp_call].approval_request_id"})
# The retail agents' listing and calls are compared with the MCP references; their responses
# also say more in `tools` than the reference agents (which had no or one MCP tool).
GUARDED_APPROVAL = {
    ".tools[mcp].require_approval": "openai's documented {always, never} filter form; the "
    "reference agents use the string form (compared in test_a_plain_reply_…)"
}


# --- responses and their items -----------------------------------------------------------------


def test_a_plain_reply_matches_prompt_agent_message(http: httpx2.Client) -> None:
    """tests/reference/responses/prompt_agent_message.json: a reply in a conversation, the
    message with `created_by`; the MCP tool entry against mcp_approval_request.json."""
    conversation = new_conversation(http)
    respond(http, "Hello", SUPPORT, conversation)  # the tool listing comes with turn one
    ours = ok(respond(http, "Thanks!", SUPPORT, conversation))
    assert [item["type"] for item in ours["output"]] == ["message"]
    real = reference_response("prompt_agent_message")
    assert (
        differences(ours, real, allowed={".tools[mcp]": "the reference agent had no tools"}) == []
    )
    tool_entry = reference_response("mcp_approval_request")["tools"]
    assert differences(ours["tools"], tool_entry) == []
    assert ours["output"][0]["created_by"] == {
        "agent": ours["agent"],
        "response_id": ours["id"],
    }


def test_tool_listing_and_approval_request_match_mcp_approval_request(http: httpx2.Client) -> None:
    conversation = new_conversation(http)
    ours = ok(respond(http, "Return ORD-1001 because it is too loud", GUARDED, conversation))
    assert [item["type"] for item in ours["output"]] == ["mcp_list_tools", "mcp_approval_request"]
    real = reference_response("mcp_approval_request")
    assert differences(ours, real, open_paths=MCP_OPEN, allowed=GUARDED_APPROVAL) == []


def test_a_call_after_approval_matches_mcp_call_after_approval(http: httpx2.Client) -> None:
    conversation = new_conversation(http)
    asked = ok(respond(http, "Return ORD-1001 because it is too loud", GUARDED, conversation))
    answer = {
        "type": "mcp_approval_response",
        "approve": True,
        "approval_request_id": asked["output"][-1]["id"],
    }
    ours = ok(respond(http, [answer], GUARDED, conversation))
    assert [item["type"] for item in ours["output"]] == ["mcp_call", "message"]
    real = reference_response("mcp_call_after_approval")
    allowed = {
        **GUARDED_APPROVAL,
        ".output[message].created_by": "the newer recording, prompt_agent_message.json, has it",
    }
    assert differences(ours, real, allowed=allowed) == []


def test_calls_without_approval_and_a_failed_call(http: httpx2.Client) -> None:
    """A completed call without approval matches the reference call but for a null
    `approval_request_id`. A failed call's `error` is assumed: no public recording shows one."""
    conversation = new_conversation(http)
    ours = ok(
        respond(http, "my email is ana@example.com and track ORD-1001", SUPPORT, conversation)
    )
    real = reference_response("mcp_call_after_approval")
    calls = [item for item in ours["output"] if item["type"] == "mcp_call"]
    completed = [c for c in calls if c["status"] == "completed"]
    (failed,) = [c for c in calls if c["status"] == "failed"]
    for call in completed:
        assert call["approval_request_id"] is None
        assert (
            differences(call, real["output"][0], nullable=frozenset({".approval_request_id"})) == []
        )
    assert set(failed) == set(real["output"][0]) | {"error"}
    assert failed["output"] is None and isinstance(failed["error"], dict)


def test_file_search_with_citations_matches_file_search(http: httpx2.Client) -> None:
    ours = ok(respond(http, "What does the warranty cover?", POLICY))  # no conversation, as there
    assert [item["type"] for item in ours["output"]] == ["file_search_call", "message"]
    real = reference_response("file_search")
    allowed = {".output[message].created_by": "prompt_agent_message.json, the newer recording"}
    assert differences(ours, real, allowed=allowed) == []
    (annotation,) = ours["output"][1]["content"][0]["annotations"]
    assert annotation["index"] == len(ours["output"][1]["content"][0]["text"])


def test_several_messages_a_reasoning_item_and_an_incomplete_reply_keep_the_shapes(
    http: httpx2.Client,
) -> None:
    conversation = new_conversation(http)
    real = reference_response("file_search")
    allowed = {".output[message].created_by": "prompt_agent_message.json, the newer recording"}
    for text, kinds in (
        ("What are your return and shipping policies?", ["file_search_call", "message", "message"]),
        ("Can I return opened headphones?", ["reasoning", "file_search_call", "message"]),
        ("Show me the full policies", ["file_search_call", "message"]),
    ):
        ours = ok(respond(http, text, POLICY, conversation))
        assert [item["type"] for item in ours["output"]] == kinds
        shown = {**allowed, ".output[reasoning]": "assumed; checked against openai's model below"}
        assert (
            differences(
                ours,
                real,
                nullable=frozenset({".conversation", ".incomplete_details"}),
                allowed=shown,
            )
            == []
        )
    assert ours["status"] == "incomplete"
    assert ours["incomplete_details"] == {"reason": "max_output_tokens"}


def test_a_reasoning_item_has_openais_shape(http: httpx2.Client) -> None:
    """Assumed: no public Foundry recording holds a reasoning item, so its keys must be those
    openai's ResponseReasoningItem declares, with the summary parts it declares."""
    ours = ok(respond(http, "Can I return opened headphones?", POLICY))
    reasoning = ours["output"][0]
    assert reasoning["type"] == "reasoning"
    assert set(reasoning) <= set(ResponseReasoningItem.model_fields)
    parsed = ResponseReasoningItem.model_validate(reasoning)
    assert parsed.summary and parsed.summary[0].type == "summary_text"
    assert ours["usage"]["output_tokens_details"]["reasoning_tokens"] > 0


# --- conversations and item lists (no reference recording: openai's models) --------------------


def test_conversation_and_item_list_have_openais_fields_exactly(http: httpx2.Client) -> None:
    """No public recording holds a Foundry conversation or item list; their fields are exactly
    those of openai's Conversation and ConversationItemList (assumed to be Foundry's)."""
    created = http.post("/conversations", json={}, headers=AUTH).json()
    assert set(created) == set(Conversation.model_fields)
    Conversation.model_validate(created)
    respond(http, "Hi, my email is ana@example.com", SUPPORT, created["id"])
    listed = http.get(f"/conversations/{created['id']}/items", headers=AUTH).json()
    assert set(listed) == set(ConversationItemList.model_fields)
    ConversationItemList.model_validate(listed)
    # The stored output items are the response's items, so they match the references too.
    real = reference_response("mcp_call_after_approval")
    stored = {"output": [item for item in listed["data"] if item["type"] == "mcp_call"]}
    assert differences(stored, {"output": real["output"]}, nullable=CALL_NULLABLE) == []


# --- ids ---------------------------------------------------------------------------------------


def all_ids(response: Mapping[str, Any]) -> list[str]:
    return [response["id"], *(item["id"] for item in response["output"])]


@pytest.mark.parametrize(
    "name",
    ["prompt_agent_message", "mcp_approval_request", "mcp_call_after_approval", "file_search"],
)
def test_the_id_patterns_describe_the_reference_ids(name: str) -> None:
    """The patterns the emulator's ids are held to, checked against the real ones first."""
    real = reference_response(name)
    check_ids(real)


def check_ids(response: Mapping[str, Any]) -> None:
    partitions = set()
    for item_id in all_ids(response):
        match = ITEM_ID.match(item_id)
        assert match, item_id
        partitions.add(match["partition"])
        assert item_id[len(match["prefix"]) + 1 :][30:34] == "8190", item_id
    assert len(partitions) == 1  # the first 18 hex are shared by one response's ids
    created_hex = response["id"].split("_", 1)[1][18:26]
    assert int(created_hex, 16) == response["created_at"]  # then the creation time
    if response["conversation"] is not None:
        conversation = CONVERSATION_ID.match(response["conversation"]["id"])
        assert conversation and conversation["partition"] in partitions
    prefixes = {
        "message": "msg",
        "mcp_call": "mcp",
        "mcp_list_tools": "mcpl",
        "mcp_approval_request": "mcpr",
        "file_search_call": "fs",
        "reasoning": "rs",
    }
    for item in response["output"]:
        assert item["id"].split("_")[0] == prefixes[item["type"]]


def test_the_emulators_ids_have_the_real_formats(http: httpx2.Client) -> None:
    conversation = new_conversation(http)
    assert CONVERSATION_ID.match(conversation)
    turns = [
        ok(respond(http, "Hi, my email is ana@example.com", GUARDED, conversation)),
        ok(respond(http, "Return ORD-1001 because it is loud", GUARDED, conversation)),
        ok(respond(http, "Can I return opened headphones?", POLICY, conversation)),
        ok(respond(http, "What does the warranty cover?", POLICY)),
    ]
    for response in turns:
        check_ids(response)
    assert len({i for r in turns for i in all_ids(r)}) == sum(len(all_ids(r)) for r in turns)


# --- usage -------------------------------------------------------------------------------------


def test_tool_output_is_input_and_the_reply_is_output(http: httpx2.Client) -> None:
    """tests/reference/responses/mcp_call_after_approval.json: after one mcp_call, 18406 tokens
    in and 335 out: the tool's output is read (input), only the reply is written (output)."""
    real = reference_response("mcp_call_after_approval")["usage"]
    assert real["input_tokens"] > real["output_tokens"]
    conversation = new_conversation(http)
    ours = ok(respond(http, "my email is ana@example.com", SUPPORT, conversation))
    usage = ours["usage"]
    call, message = ours["output"][1], ours["output"][2]
    written = count_tokens(message["content"][0]["text"]) + count_tokens(
        call["name"] + call["arguments"]
    )
    assert usage["output_tokens"] == written
    assert usage["input_tokens"] > count_tokens(call["output"]) + usage["output_tokens"]
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]
    assert differences(usage, real) == []


def test_reasoning_tokens_are_output_tokens(http: httpx2.Client) -> None:
    ours = ok(respond(http, "Can I return opened headphones?", POLICY))
    usage = ours["usage"]
    reply = ours["output"][-1]["content"][0]["text"]
    queries = " ".join(ours["output"][1]["queries"])
    reasoning = usage["output_tokens_details"]["reasoning_tokens"]
    assert usage["output_tokens"] == reasoning + count_tokens(reply) + count_tokens(queries)


# --- errors ------------------------------------------------------------------------------------


def check_error(
    response: httpx2.Response, real: Mapping[str, Any], extra: set[str]
) -> dict[str, Any]:
    """Same status; the reference body's keys and types (plus `extra`, said why at the call);
    the request id in the body, in `x-request-id`, and at the message's end iff Foundry's is."""
    assert response.status_code == real["status"]
    ours = response.json()
    real_error = real["body"]["error"]
    assert set(ours["error"]) == set(real_error) | extra
    assert differences(ours, real["body"], allowed={f".error.{key}": "" for key in extra}) == []
    request_id = response.headers["x-request-id"]
    assert ours["error"]["additionalInfo"] == {"request_id": request_id}
    tagged = "[Request ID: " in str(real_error.get("message"))
    assert ours["error"]["message"].endswith(f" [Request ID: {request_id}]") == tagged
    return dict(ours["error"])


def test_the_deprecated_agent_key_is_refused_as_foundry_does(http: httpx2.Client) -> None:
    real = reference_errors()["agent_key"]
    body = {"input": "hi", "agent": {"name": "retail-support", "type": "agent_reference"}}
    ours = check_error(http.post("/responses", json=body, headers=AUTH), real, set())
    assert (
        ours["message"].split(" [Request ID")[0]
        == real["body"]["error"]["message"].split(" [Request ID")[0]
    )
    assert (ours["param"], ours["details"]) == ("agent", [])


@pytest.mark.parametrize(
    "parameters",
    [
        {"temperature": 0.2, "top_p": 0.5},  # the reference case
        {"tools": [{"type": "web_search"}]},
        {"response_format": {"type": "json_object"}},
        {"temperature": 0, "top_p": 1, "tools": [], "response_format": {"type": "text"}},
    ],
)
def test_model_parameters_beside_an_agent_are_refused_one_detail_each(
    http: httpx2.Client, parameters: dict[str, Any]
) -> None:
    real = reference_errors()["model_parameters"]
    body = {"input": "hi", **SUPPORT, **parameters}
    ours = check_error(http.post("/responses", json=body, headers=AUTH), real, set())
    assert [detail["param"] for detail in ours["details"]] == list(parameters)
    assert all(
        d == {**real["body"]["error"]["details"][0], "param": d["param"]} for d in ours["details"]
    )
    assert ours["message"] == real["body"]["error"]["message"]


@pytest.mark.parametrize(
    "authorization", [None, "Bearer", "Basic abc", "Bearer a-token-this-project-never-issued"]
)
def test_a_missing_or_unknown_token_is_the_gateways_401(
    http: httpx2.Client, authorization: str | None
) -> None:
    """The resource's gateway refuses the token before the service: its body as recorded,
    outside Foundry's error envelope; the request id only in the headers."""
    real = reference_errors()["unauthorized"]
    headers = {"Authorization": authorization} if authorization else {}
    response = http.post("/responses", json={}, headers=headers)
    assert response.status_code == real["status"] == 401
    assert response.json() == real["body"]
    assert response.headers["x-request-id"]
    assert "never-issued" not in response.text


def test_a_principal_without_the_role_is_permission_denied() -> None:
    """A valid token whose principal lacks the agents data actions. The reference body, posted
    in an issue, holds code and message only; the emulator adds `additionalInfo.request_id`,
    which every Foundry error body carries (the invalid_payload bodies in errors.json)."""
    real = reference_errors()["permission_denied"]
    with (
        FoundryEmulator(role_assigned=False) as emulator,
        httpx2.Client(base_url=f"{emulator.endpoint}/openai/v1", headers=AUTH) as client,
    ):
        ours = check_error(client.post("/responses", json={}), real, {"additionalInfo"})
        read = client.get("/conversations/conv_x").json()["error"]["message"]
    assert ours["code"] == "PermissionDenied"
    principal = re.escape("`") + r"[0-9a-f-]{36}" + re.escape("`")
    expected = re.sub(r"`[0-9a-f-]{36}`", "PRINCIPAL", real["body"]["error"]["message"])
    assert re.sub(principal, "PRINCIPAL", ours["message"]) == expected
    assert "agents/read" in read and "GET /api/projects/{projectName}/openai/*" in read
    assert "static-test-token" not in ours["message"]


def test_a_token_the_project_accepts_is_let_in(
    emulator: FoundryEmulator, http: httpx2.Client
) -> None:
    headers = {"Authorization": "Bearer issued-by-the-entra-stand-in"}
    assert http.post("/conversations", json={}, headers=headers).status_code == 401
    emulator.accept_token("issued-by-the-entra-stand-in")
    assert http.post("/conversations", json={}, headers=headers).status_code == 200


def test_a_malformed_conversation_id_is_refused_as_foundry_does(http: httpx2.Client) -> None:
    """The reference gives the message only; code, param, type, details and additionalInfo
    are assumed (the invalid_payload envelope of the other 400s)."""
    real = reference_errors()["malformed_conversation"]
    real_id = re.search(r"'(conv_[^']+)'", real["body"]["error"]["message"])
    assert real_id is not None
    extra = {"code", "param", "type", "details", "additionalInfo"}
    response = respond(http, "hi", SUPPORT, real_id[1])
    ours = check_error(response, real, extra)
    assert ours["message"] == real["body"]["error"]["message"]
    listed = http.get(f"/conversations/{real_id[1]}/items", headers=AUTH)
    assert listed.status_code == 400


@pytest.mark.parametrize(
    "reference",
    [{"name": "no-such-agent"}, {"name": "retail-support", "version": "7"}],
    ids=["unknown agent", "unknown version"],
)
def test_an_unknown_agent_or_version_is_404(http: httpx2.Client, reference: dict[str, str]) -> None:
    """Assumed body: no public recording holds it; the envelope of the invalid_payload bodies."""
    response = respond(http, "hi", {"agent_reference": {**reference, "type": "agent_reference"}})
    assert response.status_code == 404
    error = response.json()["error"]
    assert error["code"] == "not_found"
    assert set(error) == set(reference_errors()["agent_key"]["body"]["error"])
    assert error["additionalInfo"]["request_id"] == response.headers["x-request-id"]
    assert ok(respond(http, "hi", agent("retail-support", version="1")))["agent"]["version"] == "1"


def test_rate_limit_and_server_error_bodies_carry_the_request_id() -> None:
    """Assumed shapes: no public 429 or 500 body from the agent service exists
    (tests/reference/README.md); both use the envelope of its other errors."""
    agent_key = reference_errors()["agent_key"]["body"]["error"]
    with (
        FoundryEmulator(seed="faults", faults=FaultConfig(rate_limit_every=2, fail_call=3)) as emu,
        httpx2.Client(base_url=f"{emu.endpoint}/openai/v1", timeout=10) as http,
    ):
        statuses = [respond(http, "hi", SUPPORT) for _ in range(3)]
    assert [r.status_code for r in statuses] == [200, 429, 500]
    for response in statuses[1:]:
        error = response.json()["error"]
        assert set(error) == set(agent_key)
        request_id = response.headers["x-request-id"]
        assert error["additionalInfo"]["request_id"] == request_id
        assert error["message"].endswith(f"[Request ID: {request_id}]")
    assert statuses[1].headers["x-ratelimit-remaining-requests"] == "0"


# --- headers -----------------------------------------------------------------------------------


def test_every_answer_carries_request_ids_and_responses_the_rate_limit_headers(
    http: httpx2.Client,
) -> None:
    conversation = http.post("/conversations", json={}, headers=AUTH)
    answers = [
        conversation,
        respond(http, "hi", SUPPORT, conversation.json()["id"]),
        respond(http, "hi", SUPPORT, conversation.json()["id"]),
        http.get("/conversations/x/items", headers=AUTH),
        http.post("/responses", json={}, headers={}),
    ]
    request_ids = [answer.headers["x-request-id"] for answer in answers]
    assert all(REQUEST_ID.match(request_id) for request_id in request_ids)
    assert len(set(request_ids)) == len(answers)
    for answer in answers:
        assert answer.headers["apim-request-id"] == as_uuid(answer.headers["x-request-id"])
    first, second = answers[1], answers[2]
    for name in ("limit-requests", "remaining-requests", "limit-tokens", "remaining-tokens"):
        assert int(first.headers[f"x-ratelimit-{name}"]) > 0
    assert int(second.headers["x-ratelimit-remaining-requests"]) == (
        int(first.headers["x-ratelimit-remaining-requests"]) - 1
    )
    assert int(second.headers["x-ratelimit-remaining-tokens"]) == (
        int(first.headers["x-ratelimit-remaining-tokens"]) - second.json()["usage"]["total_tokens"]
    )
    assert "x-ratelimit-limit-requests" not in conversation.headers


def test_request_ids_follow_the_seed(emulator: FoundryEmulator) -> None:
    def ids(seed: str) -> list[str]:
        with (
            FoundryEmulator(seed=seed) as running,
            httpx2.Client(base_url=f"{running.endpoint}/openai/v1", timeout=10) as http,
        ):
            return [
                http.post("/conversations", json={}, headers=AUTH).headers["x-request-id"]
                for _ in range(2)
            ]

    assert ids("a") == ids("a") != ids("b")


def test_openai_reads_the_request_id_of_errors_and_responses(emulator: FoundryEmulator) -> None:
    """openai's APIStatusError.request_id is `x-request-id`: the same id as in the body."""
    from azure.ai.projects import AIProjectClient

    from foundry_goldens.snippet.credentials import StaticTokenCredential

    project = AIProjectClient(endpoint=emulator.endpoint, credential=StaticTokenCredential())
    with project.get_openai_client() as client:
        with pytest.raises(openai.BadRequestError) as refused:
            client.responses.create(input="hi", extra_body={**SUPPORT, "temperature": 0.1})
        body = refused.value.body
        assert isinstance(body, dict)
        assert refused.value.request_id == body["additionalInfo"]["request_id"]
        raw = client.responses.with_raw_response.create(input="hi", extra_body=SUPPORT)
        assert raw.request_id is not None and REQUEST_ID.match(raw.request_id)
