"""Client-side function tools: the snippet runs the registered function and continues the
conversation until the agent replies (tests/reference/v1/function_tool_conversation_v1.json:
a response that ends with a `function_call`, continued by a `function_call_output` input).

Over real HTTP on loopback against the scripted Foundry (tests/scripted_foundry.py).
"""

from __future__ import annotations

import json
from types import ModuleType
from typing import Any

import pytest
from latticeflow.core.dtypes import FunctionCall, FunctionCallOutput, OpenResponsesModelOutput

from tests.foundry_items import message
from tests.scripted_foundry import (
    CONV,
    ScriptedFoundry,
    assistant_message,
    chat_body,
    env,
    response,
)


def function_call(name: str, arguments: str, call_id: str = "call_1") -> dict[str, Any]:
    """As recorded on /openai/v1 (fc_ id, call_ id, status completed, agent_reference)."""
    return {
        "type": "function_call",
        "id": f"fc_{call_id}",
        "agent_reference": {"type": "agent_reference", "name": "store-assistant", "version": "1"},
        "response_id": "resp_1",
        "call_id": call_id,
        "name": name,
        "arguments": arguments,
        "status": "completed",
    }


def hi() -> str:
    return chat_body({"role": "user", "content": "When is the Zurich store open?"})


def trace(returned: str) -> list[Any]:
    return list(OpenResponsesModelOutput.model_validate_json(returned).items)


def test_a_registered_function_is_run_and_the_agent_replies_in_the_same_conversation(
    snippet: ModuleType, foundry: ScriptedFoundry
) -> None:
    foundry.responses = [
        response([function_call("get_store_hours", '{"city": "Zurich"}')]),
        response([message("The Zurich store is open 09:00–18:00 today.")]),
    ]
    returned = snippet.run_inference(hi(), env(foundry))

    second = foundry.response_bodies()[1]
    assert second["conversation"] == CONV
    assert second["input"] == [
        {
            "type": "function_call_output",
            "call_id": "call_1",
            "output": '{"city": "Zurich", "hours": "09:00–18:00"}',
        }
    ]
    call, output, _reply = trace(returned)
    assert isinstance(call, FunctionCall) and isinstance(output, FunctionCallOutput)
    assert (call.name, call.call_id, output.call_id) == ("get_store_hours", "call_1", "call_1")
    assert output.status.value == "completed"
    assert json.loads(str(output.output))["hours"] == "09:00–18:00"
    assert assistant_message(returned)["content"][0]["text"].startswith("The Zurich store")


def test_a_failing_function_is_reported_to_the_agent_and_shown_failed(
    snippet: ModuleType, foundry: ScriptedFoundry, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(arguments: dict[str, Any]) -> str:
        raise ConnectionError(f"store database down (token=sekret-{arguments['city']})")

    monkeypatch.setitem(snippet.FUNCTION_TOOLS, "get_store_hours", broken)
    foundry.responses = [
        response([function_call("get_store_hours", '{"city": "Zurich"}')]),
        response([message("Sorry, I cannot look that up right now.")]),
    ]
    returned = snippet.run_inference(hi(), env(foundry))

    sent = foundry.response_bodies()[1]["input"][0]["output"]
    assert "ConnectionError: store database down" in sent and "sekret" not in sent
    _, output, _ = trace(returned)
    assert output.status.value == "incomplete"


@pytest.mark.parametrize("arguments", ["{not json", '["Zurich"]'])
def test_arguments_that_are_not_a_json_object_are_an_error_output(
    snippet: ModuleType, foundry: ScriptedFoundry, arguments: str
) -> None:
    foundry.responses = [
        response([function_call("get_store_hours", arguments)]),
        response([message("Which city?")]),
    ]
    snippet.run_inference(hi(), env(foundry))
    sent = json.loads(foundry.response_bodies()[1]["input"][0]["output"])
    assert sent["error"].startswith("get_store_hours failed:")


def test_an_unregistered_function_is_closed_then_named_with_how_to_register_it(
    snippet: ModuleType, foundry: ScriptedFoundry
) -> None:
    foundry.responses = [
        response(
            [
                function_call("get_store_hours", '{"city": "Zurich"}', "call_1"),
                function_call("create_support_ticket", '{"summary": "charged twice"}', "call_2"),
            ]
        )
    ]
    with pytest.raises(snippet.FoundryError) as caught:
        snippet.run_inference(hi(), env(foundry))

    assert caught.value.code == "function_not_registered"
    assert "'create_support_ticket'" in caught.value.message
    assert "FUNCTION_TOOLS" in caught.value.message
    # Every call of the round was answered as items (no new response asked for), none run.
    closing = [r for r in foundry.requests if r["path"].endswith(f"/conversations/{CONV}/items")]
    assert len(closing) == 1
    outputs = closing[0]["body"]["items"]
    assert [(o["type"], o["call_id"]) for o in outputs] == [
        ("function_call_output", "call_1"),
        ("function_call_output", "call_2"),
    ]
    assert all("was not run" in json.loads(o["output"])["error"] for o in outputs)
    assert len(foundry.response_bodies()) == 1


def test_function_rounds_are_bounded(snippet: ModuleType, foundry: ScriptedFoundry) -> None:
    foundry.responses = [
        response([function_call("get_store_hours", '{"city": "Zurich"}', f"call_{n}")])
        for n in range(3)
    ]
    with pytest.raises(snippet.FoundryError) as caught:
        snippet.run_inference(hi(), env(foundry, FOUNDRY_MAX_FUNCTION_ROUNDS=2))
    assert caught.value.code == "function_rounds_exceeded"
    assert "FOUNDRY_MAX_FUNCTION_ROUNDS" in caught.value.message
    assert len(foundry.response_bodies()) == 3
    assert foundry.count("/items") == 1  # the last call closed, not left waiting


def test_approvals_and_function_calls_of_one_response_are_answered_together(
    snippet: ModuleType, foundry: ScriptedFoundry
) -> None:
    approval = {
        "type": "mcp_approval_request",
        "id": "mcpr_1",
        "server_label": "retail-tools",
        "name": "start_return",
        "arguments": "{}",
    }
    foundry.responses = [
        response([approval, function_call("get_store_hours", '{"city": "Berlin"}')]),
        response([message("Done.")]),
    ]
    snippet.run_inference(hi(), env(foundry))
    answered = foundry.response_bodies()[1]["input"]
    assert [item["type"] for item in answered] == ["mcp_approval_response", "function_call_output"]
