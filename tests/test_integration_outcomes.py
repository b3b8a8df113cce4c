"""What a turn's reply says beyond its text, on real Foundry bodies (tests/reference/).

Annotations, several message items, reasoning, content filters (the three documented shapes
of tests/reference/content-filters.md), incomplete replies, system messages and the seeding of
a new conversation when AI GO! rebuilt the request from a trace. Outputs are judged the way
AI GO! reads them (parsed with `OpenResponsesModelOutput`, echoed with
`model_output_to_message`); HTTP-level behaviour is in test_integration_http.py.
"""

from __future__ import annotations

import json
from types import ModuleType
from typing import Any

import pytest
from latticeflow.core.dtypes import (
    ChatCompletionInput,
    ChatCompletionInputMessage,
    FunctionCall,
    Message,
    OpenResponsesModelOutput,
    OutputTextContent,
    TextCitationBody,
    UrlCitationBody,
    model_input_to_trace_items,
    model_output_to_trace_items,
    trace_items_to_model_input,
)

from tests.foundry_items import (
    PROMPT_BLOCKED_BODY,
    documented_content_filters,
    echo,
    filtered_reply,
    message,
    reference_response,
)

CONV = "conv_05e1b07f748c196400XxG12gCZsULjKZs6WelKKjnIwqESP6bK"


def convert_responses(snippet: ModuleType, *bodies: dict[str, Any], **fields: Any) -> Any:
    """Stage 3 on Foundry response bodies (one per round), parsed back as AI GO! does."""
    raw = snippet.RawModelOutput(conversation_id=CONV, output=[], **fields)
    for body in bodies:
        raw.add_response(body)
    returned = snippet.convert_model_output(raw).model_dump_json()
    return OpenResponsesModelOutput.model_validate_json(returned)


def reply_of(output: OpenResponsesModelOutput) -> Message:
    last = output.items[-1]
    assert isinstance(last, Message) and last.role.value == "assistant"
    return last


def extra(output: OpenResponsesModelOutput) -> dict[str, Any]:
    return dict(reply_of(output).model_extra or {})


def text_of(output: OpenResponsesModelOutput) -> str:
    (part,) = reply_of(output).content
    return str(getattr(part, "text", ""))


# --- annotations, several messages, reasoning ---------------------------------------------------


def test_file_citation_survives_as_a_text_citation_with_foundrys_fields(
    snippet: ModuleType,
) -> None:
    body = reference_response("file_search")
    output = convert_responses(snippet, body)

    (call,) = [item for item in output.items if isinstance(item, FunctionCall)]
    assert call.name == "file_search"
    assert json.loads(call.arguments)["queries"] == ["What products are mentioned in the document?"]
    (part,) = reply_of(output).content
    assert getattr(part, "text", "").startswith('The product mentioned in the document is the "')
    (annotation,) = getattr(part, "annotations", [])
    assert isinstance(annotation, TextCitationBody)
    assert annotation.content == "product_info.md"
    assert annotation.model_extra == {
        "file_id": "assistant-7Da9yX5hoBauj5UKoVTynC",
        "index": 335,
        "filename": "product_info.md",
        "foundry_type": "file_citation",
    }
    # The returned JSON names the Open Responses type beside Foundry's.
    returned = snippet.convert_model_output(
        snippet.RawModelOutput(conversation_id=CONV, output=body["output"])
    ).model_dump_json()
    assert json.loads(returned)["items"][-1]["content"][0]["annotations"] == [
        {
            "type": "text_citation",
            "content": "product_info.md",
            "file_id": "assistant-7Da9yX5hoBauj5UKoVTynC",
            "index": 335,
            "filename": "product_info.md",
            "foundry_type": "file_citation",
        }
    ]
    # What AI GO! echoes next turn is still the plain text with the conversation id.
    echoed = echo(output)
    assert echoed.content == getattr(part, "text", "")
    assert (echoed.model_extra or {})["conversation_id"] == CONV


def test_several_message_items_join_into_one_reply_and_move_their_annotations(
    snippet: ModuleType,
) -> None:
    first = message("Two products match.", msg_id="msg_1")
    second = message("Glasses", " and a case.", msg_id="msg_2")
    second["content"][1]["annotations"] = [
        {"type": "file_citation", "file_id": "f-1", "index": 4, "filename": "case.md"},
        {
            "type": "url_citation",
            "url": "https://example.invalid/case",
            "title": "Case",
            "start_index": 1,
            "end_index": 5,
        },
    ]
    body = reference_response("prompt_agent_message")
    body["output"] = [first, {"type": "reasoning", "id": "rs_1", "summary": []}, second]
    output = convert_responses(snippet, body)

    assert len(output.items) == 1  # reasoning is not a trace item
    (part,) = reply_of(output).content
    assert getattr(part, "text", "") == "Two products match.\n\nGlasses and a case."
    file_citation, url_citation = getattr(part, "annotations", [])
    part_start = len("Two products match.\n\nGlasses")  # where " and a case." begins
    assert (file_citation.model_extra or {})["index"] == part_start + 4
    assert isinstance(url_citation, UrlCitationBody)
    assert (url_citation.start_index, url_citation.end_index) == (part_start + 1, part_start + 5)
    assert url_citation.title == "Case"


def test_an_annotation_with_nothing_to_cite_is_dropped(snippet: ModuleType) -> None:
    body = reference_response("prompt_agent_message")
    body["output"][0]["content"][0]["annotations"] = [{"type": "file_path", "index": 3}]
    (part,) = reply_of(convert_responses(snippet, body)).content
    assert isinstance(part, OutputTextContent)
    assert part.annotations == []


def test_approval_rounds_of_the_reference_recording_convert(snippet: ModuleType) -> None:
    request, after = (
        reference_response("mcp_approval_request"),
        reference_response("mcp_call_after_approval"),
    )
    raw = snippet.RawModelOutput(conversation_id=CONV, output=[])
    raw.add_response(request)
    raw.output.extend(
        snippet.answer_approval_requests(request["output"][1:], snippet.ApprovalPolicy())
    )
    raw.add_response(after)
    output = OpenResponsesModelOutput.model_validate_json(
        snippet.convert_model_output(raw).model_dump_json()
    )
    (call,) = [item for item in output.items if isinstance(item, FunctionCall)]
    assert (call.name, call.status.value) == ("fetch_azure_rest_api_docs", "completed")
    assert text_of(output) == "The README ..."
    assert output.usage is not None
    assert (output.usage.num_prompt_tokens, output.usage.num_completion_tokens) == (18727, 353)
    assert reply_of(output).status.value == "completed"
    assert set(extra(output)) == {"conversation_id"}  # nothing to report


# --- content filters ----------------------------------------------------------------------------


def test_content_filter_annotations_ride_on_a_completed_reply(snippet: ModuleType) -> None:
    """Shape 1: `content_filters` on a completed response."""
    body = reference_response("prompt_agent_message")
    body["content_filters"] = documented_content_filters()
    output = convert_responses(snippet, body)

    assert text_of(output) == "The capital of France is Paris."
    assert reply_of(output).status.value == "completed"
    assert extra(output) == {
        "conversation_id": CONV,
        "content_filters": documented_content_filters(),
    }


def test_a_filtered_reply_becomes_a_refusal_that_keeps_the_conversation(
    snippet: ModuleType,
) -> None:
    """Shape 2: status incomplete, reason content_filter, partial output."""
    output = convert_responses(snippet, filtered_reply("Step one: take the"))

    assert text_of(output) == (
        "I can't help with that. Azure AI Foundry's content filter blocked the reply."
    )
    assert reply_of(output).status.value == "incomplete"
    assert extra(output) == {
        "conversation_id": CONV,
        "incomplete_details": {"reason": "content_filter"},
        "content_filter_blocked": {"source_type": "completion", "code": "content_filter"},
        "partial_text": "Step one: take the",
    }
    echoed = echo(output)
    assert echoed.content.startswith("I can't help with that.")
    assert (echoed.model_extra or {})["conversation_id"] == CONV


def test_a_blocked_prompt_becomes_a_refusal_naming_the_categories(snippet: ModuleType) -> None:
    """Shape 3: the HTTP 400's innererror, as query_model hands it on."""
    blocked = {
        "source_type": "prompt",
        "code": "content_filter",
        "inner_code": "ResponsibleAIPolicyViolation",
        "message": PROMPT_BLOCKED_BODY["error"]["message"],
        "request_id": "req_1",
        "content_filter_results": PROMPT_BLOCKED_BODY["error"]["innererror"][
            "content_filter_result"
        ],
    }
    output = convert_responses(snippet, blocked=blocked, status="incomplete")

    assert text_of(output) == (
        "I can't help with that. Azure AI Foundry's content filter blocked the request "
        "(jailbreak, violence: high)."
    )
    assert output.usage is None
    fields = extra(output)
    assert fields["content_filter_blocked"] == {
        "source_type": "prompt",
        "code": "content_filter",
        "inner_code": "ResponsibleAIPolicyViolation",
        "message": PROMPT_BLOCKED_BODY["error"]["message"],
        "request_id": "req_1",
    }
    assert fields["content_filters"] == [
        {
            "blocked": True,
            "source_type": "prompt",
            "content_filter_results": blocked["content_filter_results"],
        }
    ]
    assert fields["incomplete_details"] == {"reason": "content_filter"}
    assert fields["conversation_id"] == CONV


def test_an_incomplete_reply_keeps_its_partial_text_and_names_the_reason(
    snippet: ModuleType,
) -> None:
    body = reference_response("prompt_agent_message")
    body["status"] = "incomplete"
    body["incomplete_details"] = {"reason": "max_output_tokens"}
    body["output"][0]["content"][0]["text"] = "The capital of"
    output = convert_responses(snippet, body)

    assert text_of(output) == "The capital of"
    assert reply_of(output).status.value == "incomplete"
    assert extra(output) == {
        "conversation_id": CONV,
        "incomplete_details": {"reason": "max_output_tokens"},
    }


def test_a_seeded_conversation_is_said_on_the_reply(snippet: ModuleType) -> None:
    output = convert_responses(
        snippet, reference_response("prompt_agent_message"), seeded_messages=4
    )
    assert extra(output)["conversation_seeded"] == {
        "messages": 4,
        "reason": "the request's assistant messages carry no conversation_id, and no "
        "conversation of this process holds its earlier messages",
    }


# --- stage 1: system messages and the history a new conversation is seeded with ----------------


def rebuilt_request(system: str | None, turns: list[tuple[str, OpenResponsesModelOutput]]) -> str:
    """A request as AI GO! rebuilds it from a trace with latticeflow-core's converters."""
    items: list[Any] = []
    if system is not None:
        items += model_input_to_trace_items(
            ChatCompletionInput(
                messages=[ChatCompletionInputMessage(role="system", content=system)]
            )
        )
    for user_text, output in turns:
        items += model_input_to_trace_items(
            ChatCompletionInput(
                messages=[ChatCompletionInputMessage(role="user", content=user_text)]
            )
        )
        items += model_output_to_trace_items(output)
    rebuilt = trace_items_to_model_input(items)
    assert isinstance(rebuilt, ChatCompletionInput)
    return rebuilt.model_dump_json()


def test_a_rebuilt_request_has_no_conversation_id_and_carries_the_history(
    snippet: ModuleType,
) -> None:
    answer = convert_responses(snippet, reference_response("prompt_agent_message"))
    body = json.loads(rebuilt_request("Answer in one sentence.", [("Capital of France?", answer)]))
    body["messages"].append({"role": "user", "content": "And of Italy?"})

    model_input = snippet.convert_user_input(snippet.parse_chat_input(json.dumps(body)))
    assert model_input.conversation_id == ""  # the trace kept the text only
    assert model_input.user_message == "And of Italy?"
    assert model_input.system_messages == ["Answer in one sentence."]
    assert [(turn.role, turn.text) for turn in model_input.history] == [
        ("user", "Capital of France?"),
        ("assistant", "The capital of France is Paris."),
    ]


def test_an_echoed_conversation_keeps_the_history_to_be_remembered_by(
    snippet: ModuleType,
) -> None:
    answer = convert_responses(snippet, reference_response("prompt_agent_message"))
    body = {
        "messages": [
            {"role": "system", "content": "Answer in one sentence."},
            {"role": "user", "content": "Capital of France?"},
            echo(answer).model_dump(mode="json"),
            {"role": "user", "content": "And of Italy?"},
        ]
    }
    model_input = snippet.convert_user_input(snippet.parse_chat_input(json.dumps(body)))
    assert model_input.conversation_id == CONV
    assert [(t.role, t.text) for t in model_input.history] == [
        ("user", "Capital of France?"),
        ("assistant", "The capital of France is Paris."),
    ]
    assert model_input.system_messages == ["Answer in one sentence."]


@pytest.mark.parametrize(
    ("setting", "value", "fragment"),
    [
        ("FOUNDRY_CONTENT_FILTER", "ignore", "FOUNDRY_CONTENT_FILTER must be one of"),
        ("FOUNDRY_SYSTEM_MESSAGE", "fold", "FOUNDRY_SYSTEM_MESSAGE must be one of"),
    ],
)
def test_invalid_settings_are_named(
    snippet: ModuleType, setting: str, value: str, fragment: str
) -> None:
    environment = {
        "AZURE_AI_PROJECT_ENDPOINT": "http://127.0.0.1:9/api/projects/unit",
        "AZURE_FOUNDRY_AGENT_NAME": "agent",
        setting: value,
    }
    with pytest.raises(ValueError, match=fragment):
        snippet.read_settings(environment)


def test_settings_are_read_case_insensitively_and_default_to_refuse(snippet: ModuleType) -> None:
    settings = snippet.read_settings(
        {
            "AZURE_AI_PROJECT_ENDPOINT": "http://127.0.0.1:9/api/projects/unit",
            "AZURE_FOUNDRY_AGENT_NAME": "agent",
            "FOUNDRY_SYSTEM_MESSAGE": " Ignore ",
        }
    )
    assert (settings.content_filter, settings.system_message) == ("refuse", "ignore")
