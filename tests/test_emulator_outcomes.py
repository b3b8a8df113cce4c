"""The emulator's scripted paths beyond a completed reply, through the real SDK stack: several
messages, reasoning, file_search citations, the three content-filter shapes
(tests/reference/content-filters.md), `max_output_tokens` and a failed response."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
from azure.ai.projects import AIProjectClient
from openai.types.responses import Response, ResponseOutputMessage

from foundry_goldens.emulator import FoundryEmulator
from foundry_goldens.emulator.outcomes import Trigger
from foundry_goldens.goldens.dialogues import load_dialogues
from foundry_goldens.snippet.credentials import StaticTokenCredential
from tests.paths import DIALOGUE_DIR

CONTENT_FILTERS = Path(__file__).parent / "reference" / "content-filters.md"
SUPPORT = {"agent_reference": {"name": "retail-support", "type": "agent_reference"}}
POLICY = {"agent_reference": {"name": "policy-assistant", "type": "agent_reference"}}


@pytest.fixture
def emulator() -> Iterator[FoundryEmulator]:
    with FoundryEmulator(seed="outcomes") as running:
        yield running


@pytest.fixture
def client(emulator: FoundryEmulator) -> Iterator[openai.OpenAI]:
    project = AIProjectClient(endpoint=emulator.endpoint, credential=StaticTokenCredential())
    with project.get_openai_client() as opened:
        yield opened


def say(
    client: openai.OpenAI, conversation: str, text: str, agent: dict[str, Any] = SUPPORT
) -> Response:
    return client.responses.create(conversation=conversation, input=text, extra_body=agent)


def messages(response: Response) -> list[ResponseOutputMessage]:
    return [item for item in response.output if isinstance(item, ResponseOutputMessage)]


def text_of(message: ResponseOutputMessage) -> str:
    return "".join(getattr(part, "text", "") for part in message.content)


def stored_items(client: openai.OpenAI, conversation: str) -> list[Any]:
    return list(client.conversations.items.list(conversation, order="asc", limit=100).data)


def documented_annotation() -> list[dict[str, Any]]:
    """Shape 1's `content_filters` example from content-filters.md, parsed, not retyped."""
    fragment = re.search(r"```json\n(.*?)```", CONTENT_FILTERS.read_text(), re.DOTALL)
    assert fragment is not None
    parsed: dict[str, Any] = json.loads("{" + fragment[1] + "}")
    return list(parsed["content_filters"])


# --- content filter ----------------------------------------------------------------------------


def test_a_blocked_prompt_is_a_400_content_filter_and_leaves_the_conversation(
    client: openai.OpenAI,
) -> None:
    conversation = client.conversations.create().id
    say(client, conversation, "Hello")
    before = stored_items(client, conversation)
    with pytest.raises(openai.BadRequestError) as blocked:
        say(client, conversation, f"Hello {Trigger.BLOCKED_PROMPT.value}")
    error = blocked.value.body
    assert isinstance(error, dict) and blocked.value.status_code == 400
    assert error["code"] == "content_filter"
    inner = error["innererror"]
    assert inner["code"] == "ResponsibleAIPolicyViolation"
    categories = set(documented_annotation()[0]["content_filter_results"])
    results = inner["content_filter_result"]
    assert set(results) == categories | {"jailbreak"}
    assert all(set(results[c]) == {"filtered", "severity"} for c in categories)
    assert set(results["jailbreak"]) == {"filtered", "detected"}
    assert any(results[c]["filtered"] for c in categories)
    assert blocked.value.request_id == error["additionalInfo"]["request_id"]
    assert [i.id for i in stored_items(client, conversation)] == [i.id for i in before]
    assert say(client, conversation, "Hello again").status == "completed"


def test_a_reply_stopped_by_the_filter_is_incomplete_with_its_partial_text(
    client: openai.OpenAI,
) -> None:
    conversation = client.conversations.create().id
    full = say(client, conversation, "What can you do?")
    stopped = say(client, conversation, f"What can you do? {Trigger.FILTERED_REPLY.value}")
    assert stopped.status == "incomplete"
    assert stopped.incomplete_details is not None
    assert stopped.incomplete_details.reason == "content_filter"
    (message,) = messages(stopped)
    assert message.status == "incomplete"
    partial, whole = text_of(message), text_of(messages(full)[0])
    assert partial and len(partial) < len(whole) and whole.startswith(partial)
    assert stored_items(client, conversation)[-1].id == message.id  # kept, as it was written


def test_a_completed_reply_carries_content_filters_annotations(client: openai.OpenAI) -> None:
    conversation = client.conversations.create().id
    response = say(client, conversation, f"Hello {Trigger.FILTER_ANNOTATIONS.value}")
    assert response.status == "completed"
    assert "[emulate" not in text_of(messages(response)[0])  # the marker is not read
    annotations = (response.model_extra or {})["content_filters"]
    documented = documented_annotation()
    assert [a["source_type"] for a in annotations] == [d["source_type"] for d in documented]
    for ours, real in zip(annotations, documented, strict=True):
        assert set(ours) == set(real) and ours["blocked"] is False
    assert annotations[0]["content_filter_results"] == documented[0]["content_filter_results"]
    assert set(annotations[1]["content_filter_results"]) == set(
        documented[0]["content_filter_results"]
    )
    plain = say(client, conversation, "Hello")
    assert "content_filters" not in (plain.model_extra or {})


# --- budget and failure ------------------------------------------------------------------------


def test_max_output_tokens_cuts_the_reply(client: openai.OpenAI) -> None:
    conversation = client.conversations.create().id
    response = say(client, conversation, "Please show me the full policies.", POLICY)
    assert response.status == "incomplete"
    assert response.incomplete_details is not None
    assert response.incomplete_details.reason == "max_output_tokens"
    (message,) = messages(response)
    assert message.status == "incomplete"
    assert text_of(message).startswith("Here are our policies in full. Contoso Retail returns")
    assert response.usage is not None and response.usage.output_tokens <= 300
    assert not text_of(message).endswith(" ")


def test_a_failed_response_has_an_error_and_no_reply(client: openai.OpenAI) -> None:
    conversation = client.conversations.create().id
    response = say(
        client, conversation, f"my email is ana@example.com {Trigger.FAILED_RESPONSE.value}"
    )
    assert response.status == "failed"
    assert response.error is not None and response.error.code == "server_error"
    assert response.error.message
    assert messages(response) == []
    assert [item.type for item in response.output] == ["mcp_list_tools", "mcp_call"]


# --- several messages, reasoning, citations ----------------------------------------------------


def test_two_topics_are_answered_in_two_messages_with_their_citations(
    client: openai.OpenAI,
) -> None:
    conversation = client.conversations.create().id
    response = say(client, conversation, "What are your return and shipping policies?", POLICY)
    assert [item.type for item in response.output] == ["file_search_call", "message", "message"]
    search = response.output[0]
    assert search.type == "file_search_call" and len(search.queries) == 2
    cited = [
        [getattr(a, "filename", None) for a in m.content[0].annotations]  # type: ignore[union-attr]
        for m in messages(response)
    ]
    assert cited == [["returns-policy.md"], ["shipping-policy.md"]]


def test_reasoning_comes_before_the_search_and_the_reply(client: openai.OpenAI) -> None:
    conversation = client.conversations.create().id
    response = say(client, conversation, "Can I return headphones I opened last week?", POLICY)
    assert [item.type for item in response.output] == ["reasoning", "file_search_call", "message"]
    assert response.usage is not None
    assert response.usage.output_tokens_details.reasoning_tokens > 0
    assert response.model == "o4-mini"


def test_a_file_citation_points_at_the_end_of_the_cited_text(client: openai.OpenAI) -> None:
    conversation = client.conversations.create().id
    response = say(client, conversation, "What does the warranty cover?", POLICY)
    (message,) = messages(response)
    part = message.content[0]
    assert part.type == "output_text"
    (annotation,) = part.annotations
    assert annotation.type == "file_citation"
    assert annotation.filename == "warranty.md" and annotation.file_id.startswith("assistant-")
    assert annotation.index == len(part.text)
    assert [tool.type for tool in response.tools] == ["file_search"]


# --- every new dialogue reaches its path (over HTTP, whether or not the snippet records it) ----


def reached(response: Any) -> str:
    """Which path one answer shows: an error code, a status with its reason, or the items."""
    if isinstance(response, openai.APIStatusError):
        body = response.body if isinstance(response.body, dict) else {}
        return f"HTTP {response.status_code} {body.get('code')}"
    assert isinstance(response, Response)
    if response.status != "completed":
        reason = response.incomplete_details.reason if response.incomplete_details else None
        return f"{response.status} {reason or (response.error.code if response.error else '')}"
    if "content_filters" in (response.model_extra or {}):
        return "completed with content_filters"
    kinds = [item.type for item in response.output]
    cited = any(getattr(m.content[0], "annotations", None) for m in messages(response))
    return f"completed {'+'.join(kinds)}{' cited' if cited else ''}"


@pytest.mark.parametrize(
    ("directory", "name", "path"),
    [
        (DIALOGUE_DIR, "multi_message_reply", "completed file_search_call+message+message cited"),
        (
            DIALOGUE_DIR,
            "reasoning_then_reply",
            "completed reasoning+file_search_call+message cited",
        ),
        (DIALOGUE_DIR, "file_search_citations", "completed file_search_call+message cited"),
        (DIALOGUE_DIR, "content_filter_annotations", "completed with content_filters"),
        (DIALOGUE_DIR, "content_filter_blocked_prompt", "HTTP 400 content_filter"),
        (DIALOGUE_DIR, "content_filter_stopped_reply", "incomplete content_filter"),
        (DIALOGUE_DIR, "max_output_tokens", "incomplete max_output_tokens"),
        (DIALOGUE_DIR, "failed_response", "failed server_error"),
    ],
)
def test_each_new_dialogue_reaches_its_path(
    client: openai.OpenAI, directory: Path, name: str, path: str
) -> None:
    (dialogue,) = load_dialogues(directory, [name])
    agent = {"agent_reference": {"name": dialogue.agent, "type": "agent_reference"}}
    conversation = client.conversations.create().id
    paths = []
    for turn in dialogue.turns:
        try:
            paths.append(reached(say(client, conversation, turn.user, agent)))
        except openai.APIStatusError as error:
            paths.append(reached(error))
    assert path in paths, paths
    assert paths[-1].startswith("completed")  # and the conversation carries on afterwards
