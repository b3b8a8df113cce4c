"""The emulator held to real Foundry traffic (tests/reference/, each file's source in its README):
every object it returns has the keys, nesting and JSON value types of the reference body, the
same id formats, the same usage accounting, and the headers a client reads.

Compared structurally, never retyped: each reference file is loaded and walked side by side
with the emulator's body. Where no public evidence exists, the test says the shape is assumed.

The emulator speaks the GA v1 dialect (tests/reference/v1/): a response is held to the v1
recording's response, an output item's v1 stamps (`agent_reference`, `response_id`) to the v1
recording's items, and an item's own fields to the recording of its kind, which for MCP, file
search and plain replies are the preview recordings (tests/reference/responses/) less the
preview-only `created_by`. Conversations, item lists and the function tool flow:
tests/test_emulator_v1.py.
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
from openai.types.responses import ResponseReasoningItem

from foundry_goldens.emulator import FaultConfig, FoundryEmulator
from foundry_goldens.emulator.ids import CONVERSATION_ID, ITEM_ID, REQUEST_ID, UUID
from foundry_goldens.emulator.payloads import count_tokens

REFERENCE = Path(__file__).parent / "reference"
AUTH = {"Authorization": "Bearer static-test-token"}


def agent(name: str, **reference: str) -> dict[str, Any]:
    return {"agent_reference": {"name": name, "type": "agent_reference", **reference}}


SUPPORT, GUARDED, POLICY, STORE = (
    agent("retail-support"),
    agent("retail-support-guarded"),
    agent("policy-assistant"),
    agent("store-assistant"),
)


def reference_response(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((REFERENCE / "responses" / f"{name}.json").read_text())
    return loaded


def reference_v1(name: str) -> list[dict[str, Any]]:
    """The exchanges of tests/reference/v1/<name>.json."""
    loaded = json.loads((REFERENCE / "v1" / f"{name}.json").read_text(encoding="utf-8"))
    exchanges: list[dict[str, Any]] = loaded["exchanges"]
    return exchanges


def v1_response() -> dict[str, Any]:
    """The v1 recording's first agent response (a function_call, complete `tools`)."""
    response: dict[str, Any] = reference_v1("function_tool_conversation_v1")[1]["response"]
    return response


def v1_items() -> dict[str, dict[str, Any]]:
    """The v1 recording's output items by kind: `function_call` and `message`."""
    exchanges = reference_v1("function_tool_conversation_v1")
    return {i["type"]: i for e in exchanges[1:3] for i in e["response"]["output"]}


V1_STAMPS = ("agent_reference", "response_id")


def own_fields(item: Mapping[str, Any]) -> dict[str, Any]:
    """An output item without the v1 stamps: what the preview recordings hold of it."""
    return {k: v for k, v in item.items() if k not in V1_STAMPS}


def preview_items(name: str) -> dict[str, Any]:
    """A preview recording's output items without `created_by`, which the v1 dialect dropped
    from response items (v1_items(): neither item has it)."""
    items = [own_fields(i) | {} for i in reference_response(name)["output"]]
    return {"output": [{k: v for k, v in i.items() if k != "created_by"} for i in items]}


def items_of(response: Mapping[str, Any]) -> dict[str, Any]:
    return {"output": [own_fields(item) for item in response["output"]]}


def check_v1_response(ours: Mapping[str, Any]) -> None:
    """A response against the v1 recording: keys, key order, value types; each output item's
    stamps, key order (type, id, stamps, own fields, status last) and, for the kinds the v1
    recording holds, the whole item. `tools` and the items' own fields are compared with the
    recordings of their kinds by the tests."""
    real = v1_response()
    found = differences(
        ours,
        real,
        nullable=frozenset({".conversation", ".incomplete_details", ".completed_at"}),
        allowed={".tools": "the agents' own tools", ".output": "each item below"},
    )
    assert found == []
    assert [key for key in ours if key != "content_filters"] == list(real)
    assert ours["agent_reference"] == {
        "type": "agent_reference",
        "name": ours["agent_reference"]["name"],
        "version": ours["agent_reference"]["version"],
    }
    assert (ours["completed_at"] is not None) == (ours["status"] == "completed")
    if ours["completed_at"] is not None:
        assert ours["created_at"] < ours["completed_at"] < ours["created_at"] + 60
    recorded = v1_items()
    for item in ours["output"]:
        assert list(item)[:4] == ["type", "id", *V1_STAMPS]
        assert (item["agent_reference"], item["response_id"]) == (
            ours["agent_reference"],
            ours["id"],
        )
        if "status" in item:
            assert list(item)[-1] == "status"
        if item["type"] in recorded:
            assert differences(item, recorded[item["type"]]) == []
            assert list(item) == list(recorded[item["type"]])


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


def reference_errors_v1() -> dict[str, dict[str, Any]]:
    """tests/reference/errors-v1.json's entries by a short key."""
    entries = json.loads((REFERENCE / "errors-v1.json").read_text(encoding="utf-8"))
    keys = ("one_parameter", "no_tool_output", "unknown_call")
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


def test_a_plain_reply_matches_the_v1_response_and_prompt_agent_message(
    http: httpx2.Client,
) -> None:
    """A reply in a conversation: the response and its message against the v1 recording; the
    message's own fields against tests/reference/responses/prompt_agent_message.json, the MCP
    tool entry against mcp_approval_request.json."""
    conversation = new_conversation(http)
    respond(http, "Hello", SUPPORT, conversation)  # the tool listing comes with turn one
    ours = ok(respond(http, "Thanks!", SUPPORT, conversation))
    assert [item["type"] for item in ours["output"]] == ["message"]
    check_v1_response(ours)
    assert differences(items_of(ours), preview_items("prompt_agent_message")) == []
    tool_entry = reference_response("mcp_approval_request")["tools"]
    assert differences(ours["tools"], tool_entry) == []
    assert "agent" not in ours and "user" not in ours
    assert "created_by" not in ours["output"][0]  # the preview's; v1 moved it to the items list


def test_v1_differs_from_the_preview_recordings_as_the_emulator_does() -> None:
    """The v1 changes the emulator makes, read off the two recordings rather than assumed."""
    preview, v1 = reference_response("prompt_agent_message"), v1_response()
    assert set(preview) - set(v1) == {"agent", "user"}
    assert set(v1) - set(preview) == {"agent_reference", "completed_at"}
    assert list(v1).index("completed_at") == list(v1).index("created_at") + 1
    message = v1_items()["message"]
    assert "created_by" in preview["output"][0] and "created_by" not in message
    assert list(message)[:4] == ["type", "id", *V1_STAMPS] and list(message)[-1] == "status"


def test_tool_listing_and_approval_request_match_mcp_approval_request(http: httpx2.Client) -> None:
    conversation = new_conversation(http)
    ours = ok(respond(http, "Return ORD-1001 because it is too loud", GUARDED, conversation))
    assert [item["type"] for item in ours["output"]] == ["mcp_list_tools", "mcp_approval_request"]
    check_v1_response(ours)
    real = preview_items("mcp_approval_request")
    assert differences(items_of(ours), real, open_paths=MCP_OPEN) == []
    tools = reference_response("mcp_approval_request")["tools"]
    assert differences({"tools": ours["tools"]}, {"tools": tools}, allowed=GUARDED_APPROVAL) == []


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
    check_v1_response(ours)
    assert differences(items_of(ours), preview_items("mcp_call_after_approval")) == []


def test_calls_without_approval_and_a_failed_call(http: httpx2.Client) -> None:
    """A completed call without approval matches the reference call but for a null
    `approval_request_id`. A failed call's `error` is assumed: no public recording shows one."""
    conversation = new_conversation(http)
    ours = ok(
        respond(http, "my email is ana@example.com and track ORD-1001", SUPPORT, conversation)
    )
    check_v1_response(ours)
    real = preview_items("mcp_call_after_approval")
    calls = [own_fields(item) for item in ours["output"] if item["type"] == "mcp_call"]
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
    check_v1_response(ours)
    assert ours["conversation"] is None
    assert differences(items_of(ours), preview_items("file_search")) == []
    assert differences(ours["tools"], reference_response("file_search")["tools"]) == []
    (annotation,) = ours["output"][1]["content"][0]["annotations"]
    assert annotation["index"] == len(ours["output"][1]["content"][0]["text"])


def test_several_messages_a_reasoning_item_and_an_incomplete_reply_keep_the_shapes(
    http: httpx2.Client,
) -> None:
    conversation = new_conversation(http)
    real = preview_items("file_search")
    for text, kinds in (
        ("What are your return and shipping policies?", ["file_search_call", "message", "message"]),
        ("Can I return opened headphones?", ["reasoning", "file_search_call", "message"]),
        ("Show me the full policies", ["file_search_call", "message"]),
    ):
        ours = ok(respond(http, text, POLICY, conversation))
        assert [item["type"] for item in ours["output"]] == kinds
        check_v1_response(ours)
        shown = {".output[reasoning]": "assumed; checked against openai's model below"}
        assert differences(items_of(ours), real, allowed=shown) == []
    assert ours["status"] == "incomplete" and ours["completed_at"] is None
    assert ours["incomplete_details"] == {"reason": "max_output_tokens"}
    assert ours["reasoning"] == {"effort": "medium"}  # a reasoning model (assumed effort)


def test_a_reasoning_item_has_openais_shape(http: httpx2.Client) -> None:
    """Assumed: no public Foundry recording holds a reasoning item, so its keys must be those
    openai's ResponseReasoningItem declares, with the summary parts it declares."""
    ours = ok(respond(http, "Can I return opened headphones?", POLICY))
    reasoning = own_fields(ours["output"][0])
    assert reasoning["type"] == "reasoning"
    assert set(reasoning) <= set(ResponseReasoningItem.model_fields)
    parsed = ResponseReasoningItem.model_validate(reasoning)
    assert parsed.summary and parsed.summary[0].type == "summary_text"
    assert ours["usage"]["output_tokens_details"]["reasoning_tokens"] > 0


# --- the items list (its v1 form: tests/test_emulator_v1.py) ------------------------------------


def test_stored_output_items_keep_their_kinds_fields(http: httpx2.Client) -> None:
    """An MCP call as the conversation lists it: the v1 listing's head (type, id, created_by,
    partition_key, as the recorded v1 listing shows a function_call), then the fields of
    tests/reference/responses/mcp_call_after_approval.json's call."""
    conversation = new_conversation(http)
    answered = ok(respond(http, "Hi, my email is ana@example.com", SUPPORT, conversation))
    listed = ok(http.get(f"/conversations/{conversation}/items", headers=AUTH))
    (stored,) = [item for item in listed["data"] if item["type"] == "mcp_call"]
    recorded = reference_v1("function_tool_conversation_v1")[3]["response"]["data"][2]
    assert recorded["type"] == "function_call"
    assert list(stored)[:4] == list(recorded)[:4] == ["type", "id", "created_by", "partition_key"]
    assert differences(stored["created_by"], recorded["created_by"]) == []
    assert stored["created_by"]["response_id"] == answered["id"]
    own = {k: v for k, v in stored.items() if k not in ("created_by", "partition_key")}
    real = preview_items("mcp_call_after_approval")
    assert differences({"output": [own]}, real, nullable=CALL_NULLABLE) == []


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


@pytest.mark.parametrize("index", [1, 2])
def test_the_id_patterns_describe_the_v1_reference_ids(index: int) -> None:
    check_ids(reference_v1("function_tool_conversation_v1")[index]["response"])


def check_ids(response: Mapping[str, Any]) -> None:
    partitions = set()
    for item_id in all_ids(response):
        match = ITEM_ID.match(item_id)
        assert match, item_id
        partitions.add(match["partition"])
        assert item_id[len(match["prefix"]) + 1 :][30:34] == "8190", item_id
    assert len(partitions) == 1  # the first 18 hex are shared by one response's ids
    created_hex = response["id"].split("_", 1)[1][18:26]
    # Then the creation time: the preview recordings' `created_at` exactly, the v1 one's a
    # second later (the id is minted first).
    assert 0 <= response["created_at"] - int(created_hex, 16) <= 1
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
        "function_call": "fc",
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
        ok(respond(http, "What are the opening hours of the Zurich store?", STORE)),
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
    "parameter",
    [
        {"tools": [{"type": "web_search"}]},  # the reference case
        {"temperature": 0.2},
        {"top_p": 0.5},
        {"response_format": {"type": "json_object"}},
    ],
)
def test_one_model_parameter_beside_an_agent_is_named_in_the_error(
    http: httpx2.Client, parameter: dict[str, Any]
) -> None:
    """tests/reference/errors-v1.json: one parameter is the error's own `param`, the message
    "Not allowed when agent is specified.", `details` empty, no request id in the message."""
    real = reference_errors_v1()["one_parameter"]
    real_error = real["body"]["error"]
    body = {"input": "hi", **SUPPORT, **parameter}
    ours = check_error(http.post("/responses", json=body, headers=AUTH), real, set())
    assert list(ours) == list(real_error)
    same = ("code", "message", "type", "details")
    assert {k: ours[k] for k in same} == {k: real_error[k] for k in same}
    assert ours["param"] == next(iter(parameter))


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
    answered = ok(respond(http, "hi", agent("retail-support", version="1")))
    assert answered["agent_reference"]["version"] == "1"


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
    """Request ids in the route's notation (tests/reference/v1/function_tool_conversation_v1.json:
    a UUID from the model run on /responses, 32 hex on the conversation routes and in the
    service's own errors), each answer its own; `apim-request-id` a UUID of its own."""
    conversation = http.post("/conversations", json={}, headers=AUTH)
    answers = [
        conversation,
        respond(http, "hi", SUPPORT, conversation.json()["id"]),
        respond(http, "hi", SUPPORT, conversation.json()["id"]),
        http.get("/conversations/x/items", headers=AUTH),
        http.post("/responses", json={}, headers={}),
        http.post("/responses", json={"input": "hi", **SUPPORT, "top_p": 1}, headers=AUTH),
    ]
    request_ids = [answer.headers["x-request-id"] for answer in answers]
    pattern = [REQUEST_ID, UUID, UUID, REQUEST_ID, UUID, REQUEST_ID]
    assert [bool(p.match(i)) for p, i in zip(pattern, request_ids, strict=True)] == [True] * 6
    assert len({i.replace("-", "") for i in request_ids}) == len(answers)
    apim = [answer.headers["apim-request-id"] for answer in answers]
    assert all(UUID.match(i) for i in apim) and not set(apim) & set(request_ids)
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
        assert raw.request_id is not None and UUID.match(raw.request_id)
