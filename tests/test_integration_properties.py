"""run_inference on inputs nobody wrote by hand: whatever the body and the environment, the
snippet answers, or raises ValueError (bad input) or FoundryError (Foundry or sign-in refused
it), each with a message; never another exception (AI GO! shows the sample's error as is).

Generated with hypothesis, run against the emulator on loopback (a valid endpoint reaches it;
every other request fails before the network).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest
from azure.core.credentials import AccessToken
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from foundry_goldens.emulator import FoundryEmulator
from foundry_goldens.snippet.credentials import StaticTokenCredential

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
ROLES = st.sampled_from(["user", "assistant", "system", "developer", "tool", "", None, 3])
PART_TYPES = st.sampled_from(["text", "input_text", "output_text", "image_url", "file", None])
PART = st.one_of(
    st.text(max_size=20),
    st.fixed_dictionaries(
        {"type": PART_TYPES | JSON, "text": st.text(max_size=20) | JSON},
    ),
    JSON,
)
CONTENT = st.one_of(st.text(max_size=40), st.lists(PART, max_size=3), JSON)
MESSAGE = st.fixed_dictionaries(
    {"role": ROLES, "content": CONTENT},
    optional={"conversation_id": st.text(max_size=12) | JSON, "extra": JSON},
)
CHAT = st.fixed_dictionaries({"messages": st.lists(MESSAGE, max_size=5) | JSON})
# Chats AI GO! could send: user and assistant text, an echo now and then, an odd part.
PLAUSIBLE_MESSAGE = st.fixed_dictionaries(
    {
        "role": st.sampled_from(["user", "assistant", "system"]),
        "content": st.text(min_size=1, max_size=30) | st.lists(PART, min_size=1, max_size=2),
    },
    optional={"conversation_id": st.sampled_from(["", "conv_unknown", "not an id"])},
)
PLAUSIBLE_CHAT = st.builds(
    lambda earlier, last: {"messages": [*earlier, {"role": "user", "content": last}]},
    st.lists(PLAUSIBLE_MESSAGE, max_size=4),
    st.text(min_size=1, max_size=30),
)
BODIES = st.one_of(
    PLAUSIBLE_CHAT.map(json.dumps),
    PLAUSIBLE_CHAT.map(json.dumps),
    PLAUSIBLE_CHAT.map(json.dumps),
    CHAT.map(json.dumps),
    JSON.map(json.dumps),
    st.text(max_size=40),
    st.binary(max_size=20).map(lambda raw: raw.decode("latin-1")),
)


class OddCredential:
    """A TokenCredential that answers with something else than a token, or fails."""

    def __init__(self, answer: Any) -> None:
        self.answer = answer

    def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        if isinstance(self.answer, BaseException):
            raise self.answer
        return self.answer


CREDENTIALS = st.sampled_from(
    [
        StaticTokenCredential(),
        OddCredential(None),
        OddCredential("a-token-as-a-string"),
        OddCredential(AccessToken("", 0)),
        OddCredential(RuntimeError("the vault is down")),
        object(),
        "not a credential",
    ]
)
SETTING_VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(-3, 300), st.floats(), st.text(max_size=12), JSON
)


@pytest.fixture(scope="module")
def emulator(snippet: ModuleType) -> Iterator[FoundryEmulator]:
    with FoundryEmulator(seed="properties") as running:
        yield running
    snippet.reset_client_cache()


def environments(endpoint: str) -> st.SearchStrategy[dict[str, Any]]:
    settings_ = st.dictionaries(
        st.sampled_from(
            [
                "FOUNDRY_MCP_APPROVAL",
                "FOUNDRY_MAX_APPROVAL_ROUNDS",
                "FOUNDRY_MAX_FUNCTION_ROUNDS",
                "FOUNDRY_CONTENT_FILTER",
                "FOUNDRY_SYSTEM_MESSAGE",
                "FOUNDRY_TURN_TIMEOUT_SECONDS",
                "FOUNDRY_CONVERSATION_MEMORY",
                "AZURE_AUTHORITY_HOST",
                "REQUESTS_CA_BUNDLE",
            ]
        ),
        SETTING_VALUES,
        max_size=4,
    )
    return st.builds(
        lambda endpoint_, agent, credential, extra: {
            "AZURE_AI_PROJECT_ENDPOINT": endpoint_,
            "AZURE_FOUNDRY_AGENT_NAME": agent,
            "AZURE_TOKEN_CREDENTIAL": credential,
            # Never a retry: a refused request fails at once instead of backing off.
            "FOUNDRY_MAX_RETRIES": "0",
            **extra,
        },
        # Mostly what a configured model has, so that most bodies reach the emulator.
        st.one_of(
            st.just(endpoint),
            st.just(endpoint),
            st.sampled_from([endpoint + "/", "ftp://x", "", "http://", 7]) | st.text(max_size=10),
        ),
        st.one_of(
            st.just("retail-support"),
            st.sampled_from(["store-assistant", "no-such-agent", ""]) | SETTING_VALUES,
        ),
        st.one_of(st.just(StaticTokenCredential()), CREDENTIALS),
        st.one_of(st.just({}), settings_),
    )


@settings(
    max_examples=1000,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_only_value_errors_and_foundry_errors_with_a_message(
    snippet: ModuleType, emulator: FoundryEmulator, data: st.DataObject
) -> None:
    body = data.draw(BODIES, label="body")
    environment = data.draw(environments(emulator.endpoint), label="environment")
    try:
        returned = snippet.run_inference(body, environment)
    except (ValueError, snippet.FoundryError) as exc:
        event(f"{type(exc).__name__} {getattr(exc, 'code', '')}: {str(exc)[:40]}")
        assert str(exc).strip(), f"{type(exc).__name__} without a message"
    else:
        event("answered")
        assert json.loads(returned)["items"][-1]["conversation_id"]


def test_a_credential_that_answers_no_token_is_a_foundry_error(
    snippet: ModuleType, emulator: FoundryEmulator
) -> None:
    environment = {
        "AZURE_AI_PROJECT_ENDPOINT": emulator.endpoint,
        "AZURE_FOUNDRY_AGENT_NAME": "retail-support",
        "AZURE_TOKEN_CREDENTIAL": OddCredential("a-token-as-a-string"),
    }
    body = json.dumps({"messages": [{"role": "user", "content": "Hi"}]})
    with pytest.raises(snippet.FoundryError) as caught:
        snippet.run_inference(body, environment)
    assert caught.value.code == "authentication_failed"
    assert "AZURE_TOKEN_CREDENTIAL" in caught.value.message


@pytest.mark.parametrize("part_type", [["text"], {"kind": "text"}, 3.5])
def test_a_content_part_whose_type_is_not_a_string_is_a_value_error(
    snippet: ModuleType, part_type: Any
) -> None:
    body = json.dumps(
        {"messages": [{"role": "user", "content": [{"type": part_type, "text": "x"}]}]}
    )
    with pytest.raises(ValueError, match=r"messages\[0\]"):
        snippet.parse_chat_input(body)
