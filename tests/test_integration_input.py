"""Bad input to the snippet: each case is a ValueError naming what is wrong, before any network
call (the endpoint points at a closed port: reaching it would be a FoundryError instead)."""

from __future__ import annotations

import json
from types import ModuleType
from typing import Any

import pytest

ENV = {
    "AZURE_AI_PROJECT_ENDPOINT": "http://127.0.0.1:9/api/projects/unreachable",
    "AZURE_FOUNDRY_AGENT_NAME": "retail-support",
}
IMAGE = {"type": "image_url", "image_url": {"url": "https://example.invalid/x.png"}}


def body(*messages: dict[str, Any]) -> str:
    return json.dumps({"messages": list(messages)})


def test_an_image_only_message_is_not_supported(snippet: ModuleType) -> None:
    with pytest.raises(ValueError, match=r"messages\[0\].*image_url.*not supported"):
        snippet.run_inference(body({"role": "user", "content": [IMAGE]}), ENV)


def test_text_with_an_image_is_refused_rather_than_sent_without_the_image(
    snippet: ModuleType,
) -> None:
    content = [{"type": "text", "text": "What is this?"}, IMAGE]
    with pytest.raises(ValueError, match=r"messages\[0\] \(the newest user message\).*image_url"):
        snippet.run_inference(body({"role": "user", "content": content}), ENV)


@pytest.mark.parametrize(
    "part", [{"type": "file", "file": {"file_data": "x"}}, {"type": "input_audio"}, 7]
)
def test_other_non_text_parts_are_named_too(snippet: ModuleType, part: Any) -> None:
    content = [{"type": "text", "text": "hi"}, part]
    with pytest.raises(ValueError, match="not supported"):
        snippet.parse_chat_input(body({"role": "user", "content": content}))


def test_an_image_in_an_earlier_message_is_history_and_ignored(snippet: ModuleType) -> None:
    earlier = {"role": "user", "content": [{"type": "text", "text": "Look"}, IMAGE]}
    reply = {"role": "assistant", "content": "Nice.", "conversation_id": "conv_1"}
    parsed = snippet.parse_chat_input(body(earlier, reply, {"role": "user", "content": "Thanks"}))
    model_input = snippet.convert_user_input(parsed)
    assert (model_input.user_message, model_input.conversation_id) == ("Thanks", "conv_1")


@pytest.mark.parametrize("depth", [100_000, 5_000])
def test_deeply_nested_json_is_a_value_error(snippet: ModuleType, depth: int) -> None:
    nested = "[" * depth + "]" * depth
    deep_body = '{"messages": [{"role": "user", "content": "hi", "x": ' + nested + "}]}"
    with pytest.raises(ValueError, match=r"nested too deeply|not a chat-completion input"):
        snippet.parse_chat_input(deep_body)


@pytest.mark.parametrize("environment", [None, "AZURE_AI_PROJECT_ENDPOINT=x", ["a"]])
def test_an_environment_that_is_not_a_dict_is_named(snippet: ModuleType, environment: Any) -> None:
    with pytest.raises(ValueError, match="environment must be a dict of settings"):
        snippet.run_inference(body({"role": "user", "content": "hi"}), environment)


@pytest.mark.parametrize(
    ("endpoint", "problem"),
    [
        ("my-resource.services.ai.azure.com/api/projects/p", "no http:// or https:// scheme"),
        ("ftp://host/api/projects/p", "no http:// or https:// scheme"),
        ("https:///api/projects/p", "no host"),
        ("https://host name/api/projects/p", "whitespace"),
        ("https://host:port/api/projects/p", "does not parse"),
        ("https://[::1/api", "does not parse"),
    ],
)
def test_an_endpoint_that_is_not_a_url_is_named_before_any_call(
    snippet: ModuleType, endpoint: str, problem: str
) -> None:
    env = {**ENV, "AZURE_AI_PROJECT_ENDPOINT": endpoint}
    with pytest.raises(ValueError, match="AZURE_AI_PROJECT_ENDPOINT") as caught:
        snippet.run_inference(body({"role": "user", "content": "hi"}), env)
    assert problem in str(caught.value)
    assert "services.ai.azure.com/api/projects/p" not in str(caught.value)  # never echoed


@pytest.mark.parametrize("value", ["-1", "two", "1.5"])
def test_a_bad_max_retries_is_named(snippet: ModuleType, value: str) -> None:
    with pytest.raises(ValueError, match="FOUNDRY_MAX_RETRIES"):
        snippet.read_settings({**ENV, "FOUNDRY_MAX_RETRIES": value})
