"""What real Foundry bodies still trip: each case loads its public body from
tests/reference/v1/item-shapes-*.json (sources in each file) and converts it as the snippet does.
"""

from __future__ import annotations

import json
from types import ModuleType
from typing import Any

import pytest
from latticeflow.core.dtypes import FunctionCall, FunctionCallOutput, Message

from tests.foundry_items import REFERENCE
from tests.scripted_foundry import Reply, ScriptedFoundry, env


def shapes(topic: str) -> dict[str, Any]:
    data = json.loads((REFERENCE / "v1" / f"item-shapes-{topic}.json").read_text("utf-8"))
    assert isinstance(data, dict)
    return data


def recorded_response(topic: str, label: str) -> dict[str, Any]:
    """The response body of the exchange whose label starts with `label`, with the
    placeholders the reference file puts for shortened items left out."""
    exchange = next(e for e in shapes(topic)["exchanges"] if e.get("label", "").startswith(label))
    response = dict(exchange["response"])
    response["output"] = [item for item in response["output"] if isinstance(item, dict)]
    return response


def convert(snippet: ModuleType, *responses: dict[str, Any]) -> tuple[list[Any], Message]:
    raw = snippet.RawModelOutput(conversation_id="conv_1", output=[])
    for response in responses:
        raw.add_response(response)
    items = list(snippet.convert_model_output(raw).items)
    reply = items[-1]
    assert isinstance(reply, Message)
    return items, reply


def text(message: Message) -> str:
    return "".join(getattr(part, "text", "") for part in message.content)


def test_a_web_search_still_searching_inside_a_completed_response_is_reported_completed(
    snippet: ModuleType,
) -> None:
    response = recorded_response("web-search", "A:")
    assert [i["status"] for i in response["output"] if i["type"] == "web_search_call"] == [
        "searching"
    ]
    items, reply = convert(snippet, response)
    call, output = items[0], items[1]
    assert isinstance(call, FunctionCall) and isinstance(output, FunctionCallOutput)
    assert (call.name, call.status.value, output.status.value) == (
        "web_search",
        "completed",
        "completed",
    )
    assert getattr(reply.content[0], "annotations", None)  # the url citations stay


def test_a_tool_call_of_an_unfinished_response_keeps_its_own_status(snippet: ModuleType) -> None:
    response = recorded_response("web-search", "A:")
    response["status"] = "incomplete"
    items, _ = convert(snippet, response)
    assert items[0].status.value == "in_progress"


def test_code_interpreter_code_is_the_call_and_its_outputs_are_kept_when_returned(
    snippet: ModuleType,
) -> None:
    call = next(
        item
        for exchange in shapes("code-interpreter")["exchanges"]
        for item in (exchange.get("response") or {}).get("output") or []
        if isinstance(item, dict) and item.get("type") == "code_interpreter_call"
    )
    assert call["outputs"] is None  # as every public recording has it
    returned = {"type": "logs", "logs": "5! = 120\n"}  # the schema's shape (include=outputs)
    for outputs, expected in ((None, ""), ([returned], json.dumps({"outputs": [returned]}))):
        response = {"status": "completed", "output": [{**call, "outputs": outputs}]}
        items, _ = convert(snippet, response)
        function_call, output = items[0], items[1]
        assert function_call.name == "code_interpreter"
        assert json.loads(function_call.arguments)["code"] == call["code"]
        assert output.output == expected


def test_a_workflow_keeps_each_sub_agents_message_its_steps_and_its_own_reply(
    snippet: ModuleType,
) -> None:
    response = recorded_response("workflow", "B1")
    items, reply = convert(snippet, response)

    spoken = [
        (item.model_extra or {})["agent"]["name"]
        for item in items[:-1]
        if isinstance(item, Message)
    ]
    assert spoken == ["CaseTriageAgent", "AccountEvidenceAgent", "CaseAuditAgent"]
    assert not any(isinstance(item, FunctionCall) for item in items)  # no fake tool calls
    assert text(reply).startswith("We reviewed your June and July 2026 bills")
    actions = (reply.model_extra or {})["workflow_actions"]
    assert len(actions) == sum(1 for i in response["output"] if i["type"] == "workflow_action")
    assert {a["kind"] for a in actions} >= {"InvokeAzureAgent"}
    assert all(a["status"] == "completed" for a in actions)


def test_a_workflow_whose_last_word_is_a_sub_agents_replies_with_it(snippet: ModuleType) -> None:
    response = recorded_response("workflow", "B1")
    own = response["agent_reference"]["name"]
    response["output"] = [
        item
        for item in response["output"]
        if not (item["type"] == "message" and item["agent_reference"]["name"] == own)
    ]
    items, reply = convert(snippet, response)
    assert text(reply).startswith("{ ... audit record")
    assert (reply.model_extra or {})["agent"]["name"] == "CaseAuditAgent"
    assert (reply.model_extra or {})["conversation_id"] == "conv_1"
    assert sum(isinstance(item, Message) for item in items) == 3  # not said twice


def test_an_oauth_consent_request_is_a_reply_that_says_so(snippet: ModuleType) -> None:
    consent = {k: v for k, v in shapes("oauth-consent")["assumed_example"].items() if k != "note"}
    # The status of the response that carries it is not public: completed, as the item is
    # the turn's last word either way.
    _items, reply = convert(snippet, {"status": "completed", "output": [consent]})
    assert "OAuth consent" in text(reply)
    extra = reply.model_extra or {}
    assert extra["oauth_consent_requests"][0]["consent_link"] == consent["consent_link"]
    assert extra["incomplete_details"] == {"reason": "oauth_consent_required"}
    assert reply.status.value == "incomplete"


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        (
            {"apim-request-id": "3f1e2d4c-0000-4000-8000-000000000001"},
            "3f1e2d4c-0000-4000-8000-000000000001",
        ),
        (
            {"apim-request-id": "3f1e2d4c-0000-4000-8000-000000000001", "x-request-id": "abc"},
            "abc",
        ),
    ],
)
def test_an_error_keeps_the_gateways_request_id_when_x_request_id_is_missing(
    snippet: ModuleType, foundry: ScriptedFoundry, headers: dict[str, str], expected: str
) -> None:
    body = {"error": {"code": "server_error", "message": "The agent run crashed."}}
    foundry.responses = [Reply(400, body, headers)]
    model_input = snippet.ModelInput(conversation_id="conv_1", user_message="hi")
    with pytest.raises(snippet.FoundryError) as caught:
        snippet.query_model(model_input, env(foundry))
    assert caught.value.request_id == expected
