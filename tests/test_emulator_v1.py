"""The emulator's GA v1 dialect held to the v1 recordings (tests/reference/v1/, sources in its
README): the client function tool flow, conversations and their items, the conversation API's
limits, and the headers of each route. Over real HTTP on loopback, and through the real
openai / azure-ai-projects clients for the routes they call.

Compared structurally with the loaded references (keys, key order, JSON types, id formats);
where no public evidence exists, the test says what is assumed.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

import httpx2
import openai
import pytest
from azure.ai.projects import AIProjectClient
from openai.types.conversations import (
    Conversation,
    ConversationDeletedResource,
    ConversationItemList,
    Message,
)

from foundry_goldens.emulator import FoundryEmulator
from foundry_goldens.emulator.ids import (
    ADDED_ITEM_ID,
    CALL_ID,
    CONVERSATION_ID,
    ITEM_ID,
    REQUEST_ID,
    UUID,
)
from foundry_goldens.emulator.limits import (
    MAX_ITEMS_PER_CALL,
    MAX_METADATA_KEY_CHARS,
    MAX_METADATA_PAIRS,
    MAX_METADATA_VALUE_CHARS,
)
from foundry_goldens.emulator.payloads import count_tokens
from foundry_goldens.snippet.credentials import StaticTokenCredential
from tests.test_emulator_conformance import (
    AUTH,
    agent,
    check_v1_response,
    differences,
    reference_errors_v1,
    reference_v1,
    v1_response,
)

STORE, SUPPORT = agent("store-assistant"), agent("retail-support")
ZURICH = "What are the opening hours of the Zurich store?"
TICKET = "Please open a support ticket: my card was charged twice"
HOURS = json.dumps({"city": "Zurich", "hours": "09:00–18:00"}, ensure_ascii=False)


@pytest.fixture
def emulator() -> Iterator[FoundryEmulator]:
    with FoundryEmulator(seed="v1") as running:
        yield running


@pytest.fixture
def http(emulator: FoundryEmulator) -> Iterator[httpx2.Client]:
    with httpx2.Client(base_url=f"{emulator.endpoint}/openai/v1", timeout=10) as opened:
        yield opened


@pytest.fixture
def client(emulator: FoundryEmulator) -> Iterator[openai.OpenAI]:
    project = AIProjectClient(endpoint=emulator.endpoint, credential=StaticTokenCredential())
    with project.get_openai_client() as opened:
        yield opened


def ok(response: httpx2.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def new_conversation(http: httpx2.Client, **body: Any) -> str:
    return str(ok(http.post("/conversations", json=body, headers=AUTH))["id"])


def respond(http: httpx2.Client, conversation: str | None, text: Any) -> httpx2.Response:
    body: dict[str, Any] = {"input": text, **STORE}
    if conversation is not None:
        body["conversation"] = conversation
    return http.post("/responses", json=body, headers=AUTH)


def output(call_id: str, text: str) -> dict[str, str]:
    return {"type": "function_call_output", "call_id": call_id, "output": text}


def reply(response: Mapping[str, Any]) -> str:
    return " ".join(
        part["text"]
        for item in response["output"]
        if item["type"] == "message"
        for part in item["content"]
    )


def partition(conversation: str) -> str:
    match = CONVERSATION_ID.match(conversation)
    assert match is not None, conversation
    return match["partition"]


# --- the recordings ----------------------------------------------------------------------------


def tool_exchanges() -> list[dict[str, Any]]:
    return reference_v1("function_tool_conversation_v1")


def items_exchanges() -> list[dict[str, Any]]:
    return reference_v1("conversation_items_crud")


def recorded_stored_item(kind: str, *, by_agent: bool, role: str | None = None) -> dict[str, Any]:
    """An item of the recorded v1 items list: agent-written ones carry `created_by`."""
    for item in tool_exchanges()[3]["response"]["data"]:
        if (item["type"], "created_by" in item, item.get("role")) == (kind, by_agent, role):
            return dict(item)
    raise AssertionError(f"the recording lists no {kind} (by agent: {by_agent}, role: {role})")


def same_shape(ours: Mapping[str, Any], real: Mapping[str, Any], **options: Any) -> None:
    """Same keys in the same order, same JSON types all the way down."""
    assert differences(ours, real, **options) == []
    assert list(ours) == list(real)


# --- a client function tool --------------------------------------------------------------------

FUNCTION_PARAMETERS = frozenset({"[function].parameters"})  # each function its own


def test_a_function_call_ends_the_response_as_recorded(http: httpx2.Client) -> None:
    """tests/reference/v1/function_tool_conversation_v1.json, the first response: the
    `function_call` (fc_ id, call_ id, status completed) ends it, no message, status
    completed; the function tools in `tools` as recorded."""
    conversation = new_conversation(http)
    ours = ok(respond(http, conversation, ZURICH))
    check_v1_response(ours)  # the function_call item against the recorded one included
    (call,) = ours["output"]
    assert call["type"] == "function_call" and ours["status"] == "completed"
    assert (call["name"], call["arguments"]) == ("get_store_hours", '{"city":"Zurich"}')
    assert CALL_ID.match(call["call_id"]) and CALL_ID.match(
        tool_exchanges()[1]["response"]["output"][0]["call_id"]
    )
    match = ITEM_ID.match(call["id"])
    assert match and match["prefix"] == "fc" and match["partition"] == partition(conversation)
    real_tools = v1_response()["tools"]
    assert differences(ours["tools"], real_tools, open_paths=FUNCTION_PARAMETERS) == []
    real_parameters = real_tools[0]["parameters"]
    for tool in ours["tools"]:
        assert list(tool) == list(real_tools[0]) and tool["strict"] is True
        parameters = tool["parameters"]
        assert differences(parameters, real_parameters, open_paths=frozenset({".properties"})) == []
        assert list(parameters) == list(real_parameters)
        for prop in parameters["properties"].values():  # as the recording's plain `a`
            same_shape(prop, real_parameters["properties"]["a"])
        assert parameters["additionalProperties"] is False
        assert parameters["required"] == list(parameters["properties"])
    assert [tool["name"] for tool in ours["tools"]] == ["get_store_hours", "create_support_ticket"]


def test_the_output_continues_the_turn_and_is_read_as_input(http: httpx2.Client) -> None:
    """The second recorded response: a message from the function's output; usage counts the
    output as input tokens, as MCP output (mcp_call_after_approval.json)."""
    conversation = new_conversation(http)
    call = ok(respond(http, conversation, ZURICH))["output"][0]
    ours = ok(respond(http, conversation, [output(call["call_id"], HOURS)]))
    check_v1_response(ours)
    assert [item["type"] for item in ours["output"]] == ["message"]
    assert reply(ours) == "The Zurich store is open 09:00–18:00 today."
    usage = ours["usage"]
    assert usage["output_tokens"] == count_tokens(reply(ours))

    other = new_conversation(http)
    longer = json.dumps({"city": "Zurich", "hours": "09:00–18:00", "note": "x" * 400})
    call = ok(respond(http, other, ZURICH))["output"][0]
    padded = ok(respond(http, other, [output(call["call_id"], longer)]))
    grown = padded["usage"]["input_tokens"] - usage["input_tokens"]
    assert grown == count_tokens(longer) - count_tokens(HOURS)
    assert padded["usage"]["output_tokens"] == usage["output_tokens"]


def test_the_items_list_shows_partition_key_and_created_by_as_recorded(
    http: httpx2.Client,
) -> None:
    """The recorded v1 items list: `partition_key` on every item a response wrote,
    `created_by: {response_id, agent}` on the agent's, `fco_` outputs, the list's key order."""
    conversation = new_conversation(http)
    first = ok(respond(http, conversation, ZURICH))
    second = ok(respond(http, conversation, [output(first["output"][0]["call_id"], HOURS)]))
    listed = ok(http.get(f"/conversations/{conversation}/items", headers=AUTH))
    real = tool_exchanges()[3]["response"]
    assert list(listed) == list(real)
    assert [(i["type"], i.get("role")) for i in listed["data"]] == [
        ("message", "assistant"),
        ("function_call_output", None),
        ("function_call", None),
        ("message", "user"),
    ]
    authors = {first["output"][0]["id"]: first, second["output"][0]["id"]: second}
    for item in listed["data"]:
        by_agent = item["id"] in authors
        same_shape(
            item, recorded_stored_item(item["type"], by_agent=by_agent, role=item.get("role"))
        )
        assert item["partition_key"] == partition(conversation)
        assert ITEM_ID.match(item["id"])
        if by_agent:
            response = authors[item["id"]]
            assert item["created_by"] == {
                "response_id": response["id"],
                "agent": {"type": "agent_id", "name": "store-assistant", "version": "1"},
            }
    assert listed["data"][1]["id"].startswith("fco_")


def test_a_request_without_the_output_is_refused_as_foundry_does(
    http: httpx2.Client, client: openai.OpenAI
) -> None:
    """tests/reference/errors-v1.json: "No tool output found for function call call_….", the
    model service's body (no request id in it); the conversation is left as it was."""
    real = reference_errors_v1()["no_tool_output"]
    conversation = new_conversation(http)
    call = ok(respond(http, conversation, ZURICH))["output"][0]
    before = ok(http.get(f"/conversations/{conversation}/items", headers=AUTH))
    refused = respond(http, conversation, "Hello")
    assert refused.status_code == real["status"]
    same_shape(refused.json(), real["body"])
    expected = real["body"]["error"]["message"].replace("call_<ID>", call["call_id"])
    assert refused.json()["error"] == {**real["body"]["error"], "message": expected}
    with pytest.raises(openai.BadRequestError) as raised:
        client.responses.create(conversation=conversation, input="Hello", extra_body=STORE)
    assert isinstance(raised.value.body, dict) and raised.value.body["message"] == expected
    assert raised.value.request_id is not None
    assert ok(http.get(f"/conversations/{conversation}/items", headers=AUTH)) == before
    # Outputs first, then a user message: both are read.
    thanks = {"type": "message", "role": "user", "content": "Thanks!"}
    answered = ok(respond(http, conversation, [output(call["call_id"], HOURS), thanks]))
    assert reply(answered) == "The Zurich store is open 09:00–18:00 today. You're welcome!"


def test_a_request_answering_no_call_is_refused(http: httpx2.Client) -> None:
    """Assumed body: OpenAI's own for an output that answers no call (errors-v1.json)."""
    real = reference_errors_v1()["unknown_call"]
    conversation = new_conversation(http)
    call = ok(respond(http, conversation, ZURICH))["output"][0]
    for where, sent in (
        (conversation, [output("call_000000000000000000000000", HOURS)]),
        (conversation, [output(call["call_id"], HOURS), output(call["call_id"], HOURS)]),
        (None, [output(call["call_id"], HOURS)]),  # no conversation: nothing is pending
    ):
        refused = respond(http, where, sent)
        assert refused.status_code == real["status"], sent
        same_shape(refused.json(), real["body"])
        assert refused.json()["error"]["message"].startswith("No tool call found for function")
    # A refused request changes nothing: the call still waits for its output.
    assert respond(http, conversation, "Hello").status_code == 400


@pytest.mark.parametrize(
    "sent",
    [
        json.dumps({"city": "Zurich", "error": "the hours service timed out"}),
        "Traceback (most recent call last): …",
        json.dumps(["09:00", "18:00"]),
    ],
    ids=["error", "not json", "not an object"],
)
def test_an_output_that_is_not_the_expected_json_is_a_failed_tool(
    http: httpx2.Client, sent: str
) -> None:
    conversation = new_conversation(http)
    call = ok(respond(http, conversation, ZURICH))["output"][0]
    answered = ok(respond(http, conversation, [output(call["call_id"], sent)]))
    assert (
        reply(answered)
        == "Sorry, I couldn't get the Zurich store's opening hours: the tool failed."
    )


def test_a_support_ticket_and_a_greeting(http: httpx2.Client) -> None:
    conversation = new_conversation(http)
    greeted = ok(respond(http, conversation, "Hello"))
    assert [i["type"] for i in greeted["output"]] == ["message"]  # no tools for a greeting
    assert reply(greeted).startswith("Hello! I'm the Contoso store assistant.")
    asked = ok(respond(http, conversation, TICKET))
    (call,) = asked["output"]
    assert (call["name"], json.loads(call["arguments"])) == (
        "create_support_ticket",
        {"summary": "my card was charged twice"},
    )
    ticket = json.dumps({"ticket_id": "T-1001"})
    answered = ok(respond(http, conversation, [output(call["call_id"], ticket)]))
    assert reply(answered) == "I opened support ticket T-1001 for you: “my card was charged twice”."
    failed = ok(respond(http, conversation, TICKET))["output"][0]
    refused = ok(respond(http, conversation, [output(failed["call_id"], "{}")]))
    assert reply(refused) == "Sorry, I couldn't open the support ticket: the ticket tool failed."


def test_an_output_added_through_the_items_api_closes_the_call(
    http: httpx2.Client, client: openai.OpenAI
) -> None:
    """A caller that will not run a function answers it with an items call (the snippet's
    way out): the call is closed without a new response, and the conversation goes on."""
    conversation = new_conversation(http)
    call = ok(respond(http, conversation, ZURICH))["output"][0]
    added = client.conversations.items.create(
        conversation,
        items=[{"type": "function_call_output", "call_id": call["call_id"], "output": "{}"}],
    )
    assert [item.type for item in added.data] == ["function_call_output"]
    added_id = str(added.data[0].id)
    assert ADDED_ITEM_ID.match(added_id) and added_id.startswith("fco_")
    greeted = ok(respond(http, conversation, "Hello"))
    assert reply(greeted).startswith("Hello!")
    with pytest.raises(openai.BadRequestError):  # answered already: no call waits for it
        client.conversations.items.create(
            conversation,
            items=[{"type": "function_call_output", "call_id": call["call_id"], "output": "{}"}],
        )


def test_function_calls_are_deterministic(emulator: FoundryEmulator) -> None:
    def exchange(seed: str) -> list[bytes]:
        with (
            FoundryEmulator(seed=seed) as running,
            httpx2.Client(base_url=f"{running.endpoint}/openai/v1", timeout=10) as http,
        ):
            conversation = new_conversation(http)
            first = respond(http, conversation, ZURICH)
            call_id = first.json()["output"][0]["call_id"]
            second = respond(http, conversation, [output(call_id, HOURS)])
            listed = http.get(f"/conversations/{conversation}/items", headers=AUTH)
            return [first.content, second.content, listed.content]

    assert exchange("same") == exchange("same") != exchange("other")


# --- conversations -----------------------------------------------------------------------------


def test_create_get_update_delete_match_the_recordings(
    http: httpx2.Client, client: openai.OpenAI
) -> None:
    """The v1 conversation (id, object, metadata, created_at) and `conversation.deleted`; the
    update replaces the metadata (the recorded update started from none, so replace or merge
    cannot be told apart there: replace is assumed, as openai documents `metadata`)."""
    real_conversation = tool_exchanges()[0]["response"]
    real_deleted = tool_exchanges()[4]["response"]
    created = ok(http.post("/conversations", json={"metadata": {"topic": "hours"}}, headers=AUTH))
    same_shape(created, real_conversation, open_paths=frozenset({".metadata"}))
    conversation = created["id"]
    assert ok(http.get(f"/conversations/{conversation}", headers=AUTH)) == created
    update = {"metadata": {"key1": "value1", "key2": "value2"}}  # the recorded update
    updated = ok(http.post(f"/conversations/{conversation}", json=update, headers=AUTH))
    assert updated == {**created, "metadata": update["metadata"]}
    assert list(updated) == list(real_conversation)
    typed = client.conversations.update(conversation, metadata={"only": "this"})
    assert isinstance(typed, Conversation) and typed.metadata == {"only": "this"}
    assert typed.model_extra == {}
    deleted = ok(http.delete(f"/conversations/{conversation}", headers=AUTH))
    same_shape(deleted, real_deleted)
    assert deleted == {**real_deleted, "id": conversation}

    sdk_deleted = client.conversations.delete(client.conversations.create().id)
    assert isinstance(sdk_deleted, ConversationDeletedResource) and sdk_deleted.deleted


def test_a_deleted_conversation_is_404_on_every_route(
    http: httpx2.Client, client: openai.OpenAI
) -> None:
    conversation = new_conversation(http, items=[{"role": "user", "content": "hi"}])
    item = ok(http.get(f"/conversations/{conversation}/items", headers=AUTH))["data"][0]["id"]
    ok(http.delete(f"/conversations/{conversation}", headers=AUTH))
    path = f"/conversations/{conversation}"
    answers = [
        http.get(path, headers=AUTH),
        http.post(path, json={"metadata": {}}, headers=AUTH),
        http.delete(path, headers=AUTH),
        http.get(f"{path}/items", headers=AUTH),
        http.post(
            f"{path}/items", json={"items": [{"role": "user", "content": "x"}]}, headers=AUTH
        ),
        http.get(f"{path}/items/{item}", headers=AUTH),
        http.delete(f"{path}/items/{item}", headers=AUTH),
        respond(http, conversation, "Hello"),
    ]
    assert [answer.status_code for answer in answers] == [404] * len(answers)
    for answer in answers:
        error = answer.json()["error"]
        assert (error["code"], error["param"]) == ("not_found", "conversation")
        assert error["additionalInfo"]["request_id"] == answer.headers["x-request-id"]
    with pytest.raises(openai.NotFoundError):
        client.conversations.retrieve(conversation)
    with pytest.raises(openai.NotFoundError):
        client.conversations.items.list(conversation)


def test_the_items_api_matches_the_recording(http: httpx2.Client, client: openai.OpenAI) -> None:
    """tests/reference/v1/conversation_items_crud.json, exchange by exchange: items added by
    the client carry ids of the conversation's form and no `partition_key`; the add answers
    the added items (its own key order); get; list; delete answers the conversation."""
    real = [exchange["response"] for exchange in items_exchanges()]
    conversation = new_conversation(http)
    sent = items_exchanges()[1]["request"]["body"]  # the recorded request, as it was sent
    added = ok(http.post(f"/conversations/{conversation}/items", json=sent, headers=AUTH))
    same_shape(added, real[1])
    for ours, recorded in zip(added["data"], real[1]["data"], strict=True):
        same_shape(ours, recorded)
        assert ours["content"] == recorded["content"] and ours["role"] == recorded["role"]
        match = ADDED_ITEM_ID.match(ours["id"])
        assert match and match["partition"] == partition(conversation)
        assert ADDED_ITEM_ID.match(recorded["id"])
    first, second = (item["id"] for item in added["data"])
    assert (added["first_id"], added["last_id"]) == (first, second)

    got = ok(http.get(f"/conversations/{conversation}/items/{first}", headers=AUTH))
    same_shape(got, real[2])
    assert got == added["data"][0]
    listed = ok(http.get(f"/conversations/{conversation}/items", headers=AUTH))
    same_shape(listed, real[3])
    assert [i["id"] for i in listed["data"]] == [second, first]  # newest first
    dropped = ok(http.delete(f"/conversations/{conversation}/items/{second}", headers=AUTH))
    same_shape(dropped, real[4], open_paths=frozenset({".metadata"}))
    assert dropped == ok(http.get(f"/conversations/{conversation}", headers=AUTH))
    after = ok(http.get(f"/conversations/{conversation}/items", headers=AUTH))
    same_shape(after, real[5])
    assert [i["id"] for i in after["data"]] == [first]
    missing = http.get(f"/conversations/{conversation}/items/{second}", headers=AUTH)
    assert missing.status_code == 404 and missing.json()["error"]["param"] == "item_id"

    # The same through openai's types.
    typed = client.conversations.items.create(
        conversation, items=[{"type": "message", "role": "user", "content": "third"}]
    )
    assert isinstance(typed, ConversationItemList) and len(typed.data) == 1
    third = str(typed.data[0].id)
    one = client.conversations.items.retrieve(third, conversation_id=conversation)
    assert isinstance(one, Message) and one.model_extra == {}
    back = client.conversations.items.delete(third, conversation_id=conversation)
    assert isinstance(back, Conversation) and back.id == conversation
    assert [i.id for i in client.conversations.items.list(conversation)] == [first]


def test_seeded_messages_in_a_create_show_the_added_form(http: httpx2.Client) -> None:
    """Items given at creation are added by the client too: as the items call shows them."""
    seed = {
        "items": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}]
    }
    conversation = new_conversation(http, **seed)
    listed = ok(http.get(f"/conversations/{conversation}/items?order=asc", headers=AUTH))
    recorded = items_exchanges()[1]["response"]["data"][0]
    for item in listed["data"]:
        same_shape(item, recorded)
        assert ADDED_ITEM_ID.match(item["id"])
    assert [i["role"] for i in listed["data"]] == ["system", "user"]


# --- added items are history -------------------------------------------------------------------


def say(client: openai.OpenAI, conversation: str, text: str) -> str:
    response = client.responses.create(conversation=conversation, input=text, extra_body=SUPPORT)
    return response.output_text


def test_items_added_later_are_read_like_items_given_at_creation(client: openai.OpenAI) -> None:
    created = client.conversations.create(
        items=[{"type": "message", "role": "user", "content": "Hi there"}]
    ).id
    client.conversations.items.create(
        created,
        items=[{"type": "message", "role": "user", "content": "my email is ana@example.com"}],
    )
    assert "ana@example.com" in say(client, created, "What was my email?")

    # A conversation seeded with more than 20 messages: a create of 20, then calls of 20.
    history = [f"note {n}: nothing to see" for n in range(45)]
    history[33] = "my email is jonas@example.de"
    items = [{"type": "message", "role": "user", "content": text} for text in history]
    seeded = client.conversations.create(items=items[:MAX_ITEMS_PER_CALL]).id  # type: ignore[arg-type]
    for start in range(MAX_ITEMS_PER_CALL, len(items), MAX_ITEMS_PER_CALL):
        chunk = items[start : start + MAX_ITEMS_PER_CALL]
        client.conversations.items.create(seeded, items=chunk)  # type: ignore[arg-type]
    listed = client.conversations.items.list(seeded, limit=100, order="asc")
    texts = [json.loads(item.to_json())["content"][0]["text"] for item in listed.data]
    assert texts == history
    assert "jonas@example.de" in say(client, seeded, "What was my email?")


def test_a_deleted_message_is_not_read(client: openai.OpenAI) -> None:
    conversation = client.conversations.create().id
    added = client.conversations.items.create(
        conversation, items=[{"type": "message", "role": "user", "content": "my email is x@y.org"}]
    )
    client.conversations.items.delete(str(added.data[0].id), conversation_id=conversation)
    assert "email address" in say(client, conversation, "What was my email?")


# --- limits ------------------------------------------------------------------------------------


def refusal(response: httpx2.Response, param: str) -> dict[str, Any]:
    """Assumed shape (no public body for a limit): errors-v1.json's one-parameter refusal."""
    real = reference_errors_v1()["one_parameter"]
    assert response.status_code == 400, response.text
    body = response.json()
    same_shape(body["error"], real["body"]["error"])
    assert (body["error"]["code"], body["error"]["param"], body["error"]["details"]) == (
        "invalid_payload",
        param,
        [],
    )
    assert body["error"]["additionalInfo"]["request_id"] == response.headers["x-request-id"]
    return dict(body["error"])


def messages(count: int) -> list[dict[str, str]]:
    return [{"type": "message", "role": "user", "content": f"m{n}"} for n in range(count)]


def test_at_most_20_items_per_create_or_items_call(http: httpx2.Client) -> None:
    at_limit = new_conversation(http, items=messages(MAX_ITEMS_PER_CALL))
    error = refusal(
        http.post("/conversations", json={"items": messages(21)}, headers=AUTH), "items"
    )
    assert "20" in error["message"] and "21" in error["message"]
    path = f"/conversations/{at_limit}/items"
    ok(http.post(path, json={"items": messages(MAX_ITEMS_PER_CALL)}, headers=AUTH))
    refusal(http.post(path, json={"items": messages(21)}, headers=AUTH), "items")
    listed = ok(http.get(f"{path}?limit=100", headers=AUTH))
    assert len(listed["data"]) == 2 * MAX_ITEMS_PER_CALL  # the refused calls stored nothing


@pytest.mark.parametrize(
    ("metadata", "accepted"),
    [
        ({f"k{n}": "v" for n in range(MAX_METADATA_PAIRS)}, True),
        ({f"k{n}": "v" for n in range(MAX_METADATA_PAIRS + 1)}, False),
        ({"k" * MAX_METADATA_KEY_CHARS: "v"}, True),
        ({"k" * (MAX_METADATA_KEY_CHARS + 1): "v"}, False),
        ({"k": "v" * MAX_METADATA_VALUE_CHARS}, True),
        ({"k": "v" * (MAX_METADATA_VALUE_CHARS + 1)}, False),
        ({"k": 1}, False),
    ],
    ids=["16 pairs", "17 pairs", "64-char key", "65-char key", "512-char value", "513", "int"],
)
def test_metadata_limits_on_create_update_and_responses(
    http: httpx2.Client, metadata: dict[str, Any], accepted: bool
) -> None:
    existing = new_conversation(http)
    answers = [
        http.post("/conversations", json={"metadata": metadata}, headers=AUTH),
        http.post(f"/conversations/{existing}", json={"metadata": metadata}, headers=AUTH),
        http.post(
            "/responses", json={"input": "hi", "metadata": metadata, **SUPPORT}, headers=AUTH
        ),
    ]
    for answer in answers:
        if accepted:
            assert ok(answer)["metadata"] == metadata
        else:
            refusal(answer, "metadata")


def test_the_sdk_sees_the_limits_as_bad_requests(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as raised:
        client.conversations.create(items=messages(21))  # type: ignore[arg-type]
    assert isinstance(raised.value.body, dict) and raised.value.body["param"] == "items"
    conversation = client.conversations.create().id
    with pytest.raises(openai.BadRequestError) as raised:
        client.conversations.update(conversation, metadata={f"k{n}": "v" for n in range(17)})
    assert isinstance(raised.value.body, dict) and raised.value.body["param"] == "metadata"


# --- headers per route -------------------------------------------------------------------------


def header_style(headers: Mapping[str, str]) -> tuple[str, str, str, str]:
    """What a route's headers look like: Content-Type, the X-Request-ID's notation, and the
    two service headers."""
    request_id = headers["X-Request-ID"]
    notation = "uuid" if UUID.match(request_id) else "hex" if REQUEST_ID.match(request_id) else "?"
    return (
        headers["Content-Type"],
        notation,
        headers["api-supported-versions"],
        headers["x-ms-region"],
    )


def test_each_route_answers_with_the_recorded_headers(http: httpx2.Client) -> None:
    """tests/reference/v1/function_tool_conversation_v1.json: /responses answers
    `application/json` and a UUID X-Request-ID; the conversation routes a charset and 32
    hex; both the service's versions and region; `apim-request-id` a UUID of its own."""
    recorded = tool_exchanges()
    responses_style = header_style(recorded[1]["response_headers"])
    conversations_style = header_style(recorded[0]["response_headers"])
    assert responses_style[:2] == ("application/json", "uuid")
    assert conversations_style[:2] == ("application/json; charset=utf-8", "hex")
    assert UUID.match(recorded[0]["response_headers"]["apim-request-id"])

    conversation = new_conversation(http)
    answered = respond(http, conversation, ZURICH)
    call_id = answered.json()["output"][0]["call_id"]
    path = f"/conversations/{conversation}"
    added = http.post(f"{path}/items", json={"items": messages(1)}, headers=AUTH)
    item = added.json()["data"][0]["id"]
    conversation_routes = [
        http.post("/conversations", json={}, headers=AUTH),
        http.get(path, headers=AUTH),
        http.post(path, json={"metadata": {"a": "b"}}, headers=AUTH),
        http.get(f"{path}/items", headers=AUTH),
        added,
        http.get(f"{path}/items/{item}", headers=AUTH),
        http.delete(f"{path}/items/{item}", headers=AUTH),
    ]
    responses_routes = [
        answered,
        respond(http, conversation, [output(call_id, HOURS)]),
        http.get(f"/responses/{answered.json()['id']}", headers=AUTH),
    ]
    conversation_routes.append(http.delete(path, headers=AUTH))
    for answer in conversation_routes:
        assert answer.status_code == 200, answer.text
        assert header_style(answer.headers) == conversations_style
        assert UUID.match(answer.headers["apim-request-id"])
    for answer in responses_routes:
        assert answer.status_code == 200, answer.text
        assert header_style(answer.headers) == responses_style
        assert UUID.match(answer.headers["apim-request-id"])
        assert answer.headers["apim-request-id"] != answer.headers["X-Request-ID"]


def test_an_error_names_the_request_id_its_headers_carry(http: httpx2.Client) -> None:
    """The request id in an error body (additionalInfo.request_id, tests/reference/errors.json)
    is the answer's X-Request-ID, on /responses as on the conversation routes."""
    for answer in (
        http.get("/conversations/conv_x", headers=AUTH),
        http.post("/responses", json={"input": "hi", **STORE, "tools": []}, headers=AUTH),
        http.post("/responses", json={"input": "hi", **agent("nobody")}, headers=AUTH),
    ):
        assert answer.status_code in (400, 404)
        request_id = answer.headers["X-Request-ID"]
        assert REQUEST_ID.match(request_id)
        assert answer.json()["error"]["additionalInfo"]["request_id"] == request_id


def test_the_preview_routes_answer_in_the_v1_dialect(emulator: FoundryEmulator) -> None:
    """Assumed simplification (docs/emulator.md): `/openai/…?api-version=2025-11-15-preview`
    answers with the v1 shapes, not the preview's (tests/reference/responses/)."""
    preview = {"api-version": "2025-11-15-preview"}
    with httpx2.Client(base_url=f"{emulator.endpoint}/openai", timeout=10) as http:
        created = ok(http.post("/conversations", params=preview, json={}, headers=AUTH))
        body = {"conversation": created["id"], "input": "Hello", **STORE}
        answered = ok(http.post("/responses", params=preview, json=body, headers=AUTH))
    assert list(created) == list(tool_exchanges()[0]["response"])
    check_v1_response(answered)
