"""AI GO! custom-inference snippet for an Azure AI Foundry agent.

AI GO! inlines this file (``!include`` in model.yaml) and calls ``run_inference`` once per
user turn with the whole chat so far. The snippet sends Foundry only the newest user message
plus the Foundry conversation id, and returns the turn's trace (tool calls, tool outputs,
final reply) in the Open Responses format. The conversation id rides on the returned
assistant message as an extra field; AI GO! echoes it back on the next turn.

Pipeline: ChatCompletionInput -> ModelInput -> RawModelOutput -> OpenResponsesModelOutput
          (convert_user_input)   (query_model)  (convert_model_output)

How the file reads, top to bottom:

1. What run_inference does
   - Settings: the environment keys model.yaml sets, their defaults, FoundryError
   - FUNCTION_TOOLS: the agent's client-side functions (edit these for your agent)
   - run_inference, the types between the stages, then the stages in order:
     convert_user_input (stage 1), query_model (stage 2), convert_model_output (stage 3)
2. Policies: how the settings are read and checked, MCP approvals, client function calls,
   the content filter, conversation memory and seeding (one conversation per chat)
3. Machinery: the client cache, the turn's deadline, openai's retries seen from that
   deadline, errors (every failure leaves as FoundryError, secrets redacted)

It must stand alone: it imports only azure-*, openai, pydantic, latticeflow.core and the
standard library, never the surrounding project.
"""

import hashlib
import json
import math
import os
import re
import threading
import time
import urllib.parse
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from contextvars import ContextVar
from typing import Any, Literal, NamedTuple
from urllib.parse import quote, unquote

import openai
from azure.ai.projects import AIProjectClient
from azure.core.exceptions import ClientAuthenticationError
from azure.identity import ClientSecretCredential, DefaultAzureCredential
from latticeflow.core.dtypes import (
    ChatCompletionInput,
    FunctionCall,
    FunctionCallOutput,
    FunctionCallOutputStatusEnum,
    FunctionCallStatus,
    Message,
    MessageRole,
    MessageStatus,
    ModelUsage,
    OpenResponsesModelOutput,
    OutputTextContent,
    TextCitationBody,
    TraceItem,
    UrlCitationBody,
)
from pydantic import BaseModel, ConfigDict, Field, ValidationError

# ======================================================================================
# Part 1. What run_inference does: settings, the entry point, the three stages
# ======================================================================================


# --------------------------------------------------------------------------------------
# Settings: the environment keys model.yaml sets, and their defaults
# --------------------------------------------------------------------------------------

ENDPOINT_KEY = "AZURE_AI_PROJECT_ENDPOINT"
AGENT_NAME_KEY = "AZURE_FOUNDRY_AGENT_NAME"
TENANT_ID_KEY = "AZURE_TENANT_ID"
CLIENT_ID_KEY = "AZURE_CLIENT_ID"
CLIENT_SECRET_KEY = "AZURE_CLIENT_SECRET"
TOKEN_CREDENTIAL_KEY = "AZURE_TOKEN_CREDENTIAL"
# Where the service principal signs in (azure-identity's own name for it) and the CA bundle
# that sign-in trusts (requests' name; the sign-in goes through requests). Read from the
# environment dict AI GO! passes, so nothing changes process-wide.
AUTHORITY_HOST_KEY = "AZURE_AUTHORITY_HOST"
CA_BUNDLE_KEY = "REQUESTS_CA_BUNDLE"
MCP_APPROVAL_KEY = "FOUNDRY_MCP_APPROVAL"
MAX_APPROVAL_ROUNDS_KEY = "FOUNDRY_MAX_APPROVAL_ROUNDS"
CONTENT_FILTER_KEY = "FOUNDRY_CONTENT_FILTER"
SYSTEM_MESSAGE_KEY = "FOUNDRY_SYSTEM_MESSAGE"
TURN_TIMEOUT_KEY = "FOUNDRY_TURN_TIMEOUT_SECONDS"
MAX_RETRIES_KEY = "FOUNDRY_MAX_RETRIES"
MAX_FUNCTION_ROUNDS_KEY = "FOUNDRY_MAX_FUNCTION_ROUNDS"
CONVERSATION_MEMORY_KEY = "FOUNDRY_CONVERSATION_MEMORY"

DEFAULT_MAX_APPROVAL_ROUNDS = 5
DEFAULT_MAX_FUNCTION_ROUNDS = 5
# Conversations remembered by the chat that led to them (see ConversationMemory): about 200
# bytes each. 0 turns the memory off: a request without the echo then seeds a new conversation.
DEFAULT_CONVERSATION_MEMORY = 10_000
# Foundry takes at most 20 items per conversation create or items call (the Foundry REST
# spec, Azure/azure-rest-api-specs specification/ai-foundry/data-plane/Foundry, conversations
# routes): a longer history is seeded in chunks of this size.
MAX_ITEMS_PER_CALL = 20
# The whole turn (every request, openai's retries and the approval rounds), safely below
# AI GO!'s `timeout: 120` in model.yaml so a stalled Foundry fails the sample with a reason
# instead of AI GO! cutting it off.
DEFAULT_TURN_TIMEOUT_SECONDS = 100.0
# openai's own default; it honours Retry-After, which is how Foundry throttles (HTTP 429).
OPENAI_MAX_RETRIES = 2
# Per attempt; the turn's deadline lowers them to the time the turn has left.
OPENAI_CONNECT_TIMEOUT_SECONDS = 10.0
OPENAI_TIMEOUT_SECONDS = DEFAULT_TURN_TIMEOUT_SECONDS


class FoundryError(RuntimeError):
    """Foundry refused or failed the turn. Carries Foundry's error code and message only:
    never tokens, secrets or request headers (AI GO! stores the message with the sample)."""

    def __init__(
        self,
        code: str,
        message: str,
        *,
        status_code: int | None = None,
        request_id: str | None = None,
    ) -> None:
        self.code = code
        self.message = message
        self.status_code = status_code
        self.request_id = request_id
        http = f" (HTTP {status_code})" if status_code is not None else ""
        request = f" [request id {request_id}]" if request_id else ""
        super().__init__(f"Foundry error {code}{http}: {message}{request}")


# --------------------------------------------------------------------------------------
# Client-side function tools: register your agent's functions here
# --------------------------------------------------------------------------------------

# A Foundry agent does not run its client-side function tools (`"type": "function"` in its
# definition) itself: its response ends with a `function_call` and waits for the caller. The
# snippet runs the function registered here under the name the agent calls it by and sends
# the result back as a `function_call_output` in the same conversation, round after round
# until the agent replies (at most FOUNDRY_MAX_FUNCTION_ROUNDS rounds a turn). A function
# takes the parsed arguments (a dict) and returns the output string the agent reads; an
# exception it raises is sent to the agent as an error output and shown failed in the trace.
# A call of a function that is not registered fails the turn with a FoundryError naming it,
# after the call is closed so that the conversation does not stay waiting for it.
_STORE_HOURS = {"zurich": "09:00–18:00", "berlin": "10:00–20:00", "tokyo": "10:00–21:00"}


def get_store_hours(arguments: dict[str, Any]) -> str:
    """The reference agent's function (store-assistant): replace it with your agent's."""
    city = str(arguments.get("city") or "").strip()
    hours = _STORE_HOURS.get(city.lower())
    if hours is None:
        return json.dumps({"city": city, "error": "there is no store in this city"})
    return json.dumps({"city": city, "hours": hours}, ensure_ascii=False)


FUNCTION_TOOLS: dict[str, Callable[[dict[str, Any]], str]] = {
    "get_store_hours": get_store_hours,
}


# --------------------------------------------------------------------------------------
# The entry point: one AI GO! turn
# --------------------------------------------------------------------------------------


def run_inference(body: str, environment: dict[str, Any], sample: Any = None) -> str:
    """One AI GO! turn. ``sample``, when AI GO! passes it (the dataset row), keeps apart the
    conversations of samples whose chats look alike (see ConversationMemory)."""
    model_input = convert_user_input(parse_chat_input(body))
    raw = query_model(model_input, environment, sample=sample)
    output = convert_model_output(raw)
    remember_conversation(model_input, output, raw.conversation_id, environment, sample)
    return output.model_dump_json()


# --------------------------------------------------------------------------------------
# Types between the stages
# --------------------------------------------------------------------------------------


class ChatTurn(BaseModel):
    """An earlier message of the chat, as text (what a new conversation is seeded with)."""

    role: Literal["user", "assistant"]
    text: str


class ModelInput(BaseModel):
    """What the Foundry call needs from one AI GO! request."""

    conversation_id: str = ""  # echoed on the latest assistant message; "" when none is
    user_message: str
    # AI GO!'s system prompt(s); a new conversation starts with them (FOUNDRY_SYSTEM_MESSAGE).
    system_messages: list[str] = Field(default_factory=list)
    # The user and assistant messages before the newest user message, as text: what
    # recognises a conversation this process created when the echo is lost, and what a new
    # conversation is seeded with when it is not recognised (see query_model).
    history: list[ChatTurn] = Field(default_factory=list)


class RawModelOutput(BaseModel):
    """Foundry's output items of every round of the turn, the conversation used, summed usage.

    Approval answers the snippet sent are kept in ``output`` (as ``mcp_approval_response``
    items, in order) so the converter can show denied tool calls. ``status`` and
    ``incomplete_reason`` are the last round's; ``content_filters`` collects every round's
    annotations; ``blocked`` is set when Foundry's content filter rejected the input (HTTP 400)
    and FOUNDRY_CONTENT_FILTER says to answer with a refusal.
    """

    conversation_id: str
    output: list[dict[str, Any]]
    usage: dict[str, Any] = Field(default_factory=dict)
    status: str = "completed"
    incomplete_reason: str | None = None
    content_filters: list[dict[str, Any]] = Field(default_factory=list)
    blocked: dict[str, Any] | None = None
    seeded_messages: int = 0  # earlier messages a new conversation was seeded with
    left_out_messages: int = 0  # earlier messages not seeded: blocked prompts and refusals
    # Without the echo, the conversation this process created for the same earlier messages.
    resumed: bool = False
    agent: str = ""  # the agent that answered; a workflow's sub-agents write messages too

    def add_response(self, response: dict[str, Any]) -> None:
        """One round's response: its items, usage, status and content-filter annotations."""
        self.status = str(response.get("status") or "completed")
        output = response.get("output")
        items = (
            [item for item in output if isinstance(item, dict)] if isinstance(output, list) else []
        )
        if self.status == "completed":
            items = [_done(item) for item in items]
        self.output.extend(items)
        self.agent = self.agent or _author(response)
        self.usage = sum_usage(self.usage, response.get("usage") or {})
        reason = (response.get("incomplete_details") or {}).get("reason")
        self.incomplete_reason = str(reason) if reason else None
        # Foundry's content-filter annotations: a top-level `content_filters` array (Foundry
        # REST spec, Azure/azure-rest-api-specs pull requests 42141 and 42992).
        filters = response.get("content_filters")
        if isinstance(filters, list):
            self.content_filters.extend(f for f in filters if isinstance(f, dict))


# What a tool item of a finished response may still say about itself: real web_search_call
# items keep "searching" inside completed responses (azure-ai-projects' recorded web search
# responses, in the Azure SDK's public assets repository).
_IN_PROGRESS_STATUSES = frozenset(
    {"in_progress", "searching", "interpreting", "calling", "generating"}
)


def _author(item: dict[str, Any]) -> str:
    """The agent that wrote a response or item: v1's `agent_reference`, the preview's `agent`
    (responses) or `created_by.agent` (items); "" when it does not say."""
    for reference in (
        item.get("agent_reference"),
        item.get("agent"),
        (item.get("created_by") or {}).get("agent")
        if isinstance(item.get("created_by"), dict)
        else None,
    ):
        if isinstance(reference, dict) and isinstance(reference.get("name"), str):
            return str(reference["name"])
    return ""


def _done(item: Any) -> Any:
    """The item of a completed response as done: its call ran, whatever its status says."""
    if isinstance(item, dict) and item.get("status") in _IN_PROGRESS_STATUSES:
        return {**item, "status": "completed"}
    return item


class ApprovalPolicy(BaseModel):
    """How to answer ``mcp_approval_request`` items (``FOUNDRY_MCP_APPROVAL``)."""

    model_config = ConfigDict(frozen=True)

    mode: Literal["approve", "deny", "allow"] = "approve"
    allowed_tools: frozenset[str] = frozenset()  # only used by mode "allow"

    def approves(self, tool_name: str) -> bool:
        if self.mode == "allow":
            return tool_name in self.allowed_tools
        return self.mode == "approve"


class FoundrySettings(BaseModel):
    """The plain (non-secret) configuration read from ``environment``."""

    endpoint: str
    agent_name: str
    approval_policy: ApprovalPolicy = ApprovalPolicy()
    max_approval_rounds: int = DEFAULT_MAX_APPROVAL_ROUNDS
    # refuse: a filtered prompt or reply becomes a refusal message (the evaluation scores
    # it, the conversation goes on); raise: FoundryError with code content_filter.
    content_filter: Literal["refuse", "raise"] = "refuse"
    # include: a new conversation starts with the system message(s) as its first items (the
    # agent's own instructions stay; Foundry rejects `instructions` beside an agent);
    # ignore: dropped; reject: ValueError.
    system_message: Literal["include", "ignore", "reject"] = "include"
    turn_timeout: float = DEFAULT_TURN_TIMEOUT_SECONDS
    max_retries: int = OPENAI_MAX_RETRIES
    max_function_rounds: int = DEFAULT_MAX_FUNCTION_ROUNDS
    conversation_memory: int = DEFAULT_CONVERSATION_MEMORY


# --------------------------------------------------------------------------------------
# Stage 1: AI GO! request -> ModelInput
# --------------------------------------------------------------------------------------

_TEXT_PART_TYPES = frozenset({"text", "input_text", "output_text"})
_TOO_DEEP = "request body is nested too deeply to be a chat-completion input"


def parse_chat_input(body: str) -> ChatCompletionInput:
    """Parse AI GO!'s JSON body; raise ValueError saying what is wrong with it."""
    try:
        data = json.loads(body)
    except (TypeError, json.JSONDecodeError) as exc:
        raise ValueError(f"request body is not valid JSON: {exc}") from None
    except RecursionError:
        raise ValueError(_TOO_DEEP) from None
    if not isinstance(data, dict):
        raise ValueError("request body must be a JSON object with a 'messages' list")
    messages = data.get("messages")
    if not isinstance(messages, list) or not messages:
        raise ValueError("request body has no messages: expected a non-empty 'messages' list")
    newest_user = _newest_user_index(messages)
    # ChatCompletionInput only accepts string content (or file parts), so OpenAI-style
    # lists of parts are flattened to their text first. Only the newest user message is sent
    # to Foundry, so only its non-text parts (images, files, audio) are an error; earlier
    # messages are history the conversation already holds.
    data = {
        **data,
        "messages": [
            _flatten_text_parts(m, index, newest=index == newest_user)
            for index, m in enumerate(messages)
        ],
    }
    try:
        return ChatCompletionInput.model_validate(data)
    except ValidationError as exc:
        raise ValueError(f"request body is not a chat-completion input: {exc}") from None
    except RecursionError:
        raise ValueError(_TOO_DEEP) from None


def convert_user_input(data: ChatCompletionInput) -> ModelInput:
    messages = data.messages
    if not messages:
        raise ValueError("chat input has no messages")
    last_user = next((m for m in reversed(messages) if m.role == "user"), None)
    if last_user is None:
        raise ValueError("chat input has no user message")
    user_text = _message_text(last_user.content)
    if not user_text.strip():
        raise ValueError("the newest user message has no text")
    return ModelInput(
        conversation_id=_latest_conversation_id(messages),
        user_message=user_text,
        system_messages=_system_texts(messages),
        history=_earlier_turns(messages, last_user),
    )


def _system_texts(messages: list[Any]) -> list[str]:
    texts = (_message_text(m.content) for m in messages if m.role == "system")
    return [text for text in texts if text.strip()]


def _earlier_turns(messages: list[Any], newest_user: Any) -> list[ChatTurn]:
    """User and assistant messages before the newest user message, in order, with text."""
    earlier = messages[: next(i for i, m in enumerate(messages) if m is newest_user)]
    turns = (
        ChatTurn(role=m.role, text=_message_text(m.content))
        for m in earlier
        if m.role in ("user", "assistant")
    )
    return [turn for turn in turns if turn.text.strip()]


def _newest_user_index(messages: list[Any]) -> int | None:
    for index in range(len(messages) - 1, -1, -1):
        message = messages[index]
        if isinstance(message, dict) and message.get("role") == "user":
            return index
    return None


def _flatten_text_parts(message: Any, index: int, *, newest: bool) -> Any:
    if not isinstance(message, dict) or not isinstance(message.get("content"), list):
        return message
    parts = message["content"]
    for number, part in enumerate(parts):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind is not None and not isinstance(kind, str):
            raise ValueError(
                f"messages[{index}].content[{number}].type must be a string such as 'text', "
                f"got {type(kind).__name__}"
            )
    if newest:
        other = sorted({_part_type(p) for p in parts if _part_type(p) not in _TEXT_PART_TYPES})
        if other:
            raise ValueError(
                f"messages[{index}] (the newest user message) has {', '.join(other)} content; "
                "this snippet sends only text to the Foundry agent, so images, files and audio "
                "are not supported: use text-only samples"
            )
    return {**message, "content": "\n".join(_text_parts(parts))}


def _part_type(part: Any) -> str:
    if isinstance(part, str):
        return "text"
    if isinstance(part, dict):
        return str(part.get("type") or "untyped")
    return type(part).__name__


def _text_parts(parts: list[Any]) -> list[str]:
    texts: list[str] = []
    for part in parts:
        if isinstance(part, str):
            texts.append(part)
        elif isinstance(part, dict) and part.get("type") in _TEXT_PART_TYPES:
            text = part.get("text")
            if isinstance(text, str):
                texts.append(text)
    return texts


def _message_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [p.model_dump() if isinstance(p, BaseModel) else p for p in content]
        return "\n".join(_text_parts(parts))
    return ""


def _latest_conversation_id(messages: list[Any]) -> str:
    """The conversation id echoed on the most recent assistant message ("" if none)."""
    for message in reversed(messages):
        if message.role != "assistant":
            continue
        conversation_id = (message.model_extra or {}).get("conversation_id") or ""
        if not isinstance(conversation_id, str):
            raise ValueError("the assistant message's conversation_id must be a string")
        return conversation_id
    return ""


# --------------------------------------------------------------------------------------
# Stage 2: ModelInput -> Foundry -> RawModelOutput
# --------------------------------------------------------------------------------------


def query_model(
    model_input: ModelInput, environment: dict[str, Any], *, sample: Any = None
) -> RawModelOutput:
    """The turn in Foundry: pick the conversation (echoed, resumed or new), send the user
    message, then answer MCP approvals and client function calls until the agent replies."""
    settings = read_settings(environment)
    if model_input.system_messages and settings.system_message == "reject":
        raise ValueError(
            f"the chat has a system message and {SYSTEM_MESSAGE_KEY} is 'reject'; the agent's "
            "instructions live on the agent: drop the system message or set 'include'"
        )
    client = get_foundry_client(environment)
    if settings.max_retries != client.max_retries:
        client = client.with_options(max_retries=settings.max_retries)  # a cheap copy (~30 µs)
    chat_key = conversation_key(
        model_input.system_messages, model_input.history, environment, sample
    )
    with _foundry_errors(environment), _turn_deadline(settings):
        raw = RawModelOutput(conversation_id=model_input.conversation_id, output=[])
        if raw.conversation_id:
            # The echo wins, and the conversation moves past the chat it was remembered by.
            CONVERSATIONS.forget(chat_key, raw.conversation_id)
        else:
            raw.conversation_id = CONVERSATIONS.claim(chat_key) or ""
            raw.resumed = bool(raw.conversation_id)
        if not raw.conversation_id:
            _seed_conversation(client, raw, model_input, settings)
        _run_rounds(client, raw, model_input.user_message, settings, environment)
    if raw.blocked and raw.blocked.get("message"):
        # Foundry's words go into the output AI GO! stores: scrubbed like an error message.
        raw.blocked["message"] = redact(str(raw.blocked["message"]), environment)
    return raw


def _run_rounds(
    client: openai.OpenAI,
    raw: RawModelOutput,
    user_message: str,
    settings: FoundrySettings,
    environment: dict[str, Any],
) -> None:
    """The turn's responses into ``raw``: the user message, then one round for each set of
    MCP approval requests and client function calls the agent stops with, until it replies.

    Approvals are answered by FOUNDRY_MCP_APPROVAL and function calls by FUNCTION_TOOLS; both
    answers go into ``raw.output`` too (the converter shows denials and function outputs).
    """
    input_: Any = user_message
    approval_rounds = function_rounds = 0
    while True:
        try:
            response, request_id = _create_response(
                client, raw.conversation_id, input_, settings.agent_name
            )
        except openai.BadRequestError as exc:
            blocked = _content_filter_block(exc)
            if blocked is None or settings.content_filter == "raise":
                raise
            raw.blocked = blocked
            raw.status, raw.incomplete_reason = "incomplete", "content_filter"
            return
        raw.add_response(response)
        if raw.incomplete_reason == "content_filter" and settings.content_filter == "raise":
            raise FoundryError(
                "content_filter",
                "Foundry's content filter stopped the reply (status incomplete)",
                request_id=request_id,
            )
        items = response.get("output") or []
        approvals, calls = pending_approval_requests(items), pending_function_calls(items)
        if raw.status != "completed" or not (approvals or calls):
            return
        if calls:
            if function_rounds == settings.max_function_rounds:
                _close_function_calls(
                    client, raw.conversation_id, calls, "the turn ran out of rounds"
                )
                raise FoundryError(
                    "function_rounds_exceeded",
                    f"the agent still called client functions after "
                    f"{settings.max_function_rounds} rounds ({MAX_FUNCTION_ROUNDS_KEY})",
                )
            _require_registered(client, raw.conversation_id, calls)
            function_rounds += 1
        if approvals:
            if approval_rounds == settings.max_approval_rounds:
                raise FoundryError(
                    "approval_rounds_exceeded",
                    f"the agent still requested MCP approval after "
                    f"{settings.max_approval_rounds} rounds ({MAX_APPROVAL_ROUNDS_KEY})",
                )
            approval_rounds += 1
        answers = answer_approval_requests(approvals, settings.approval_policy)
        outputs = [run_function_call(call, environment) for call in calls]
        raw.output.extend([*answers, *outputs])
        # What Foundry takes as input: the outputs without the trace's status.
        input_ = [*answers, *({k: v for k, v in o.items() if k != "status"} for o in outputs)]


def _create_conversation(client: openai.OpenAI, items: list[dict[str, Any]]) -> str:
    """A new conversation holding ``items`` in order: the first MAX_ITEMS_PER_CALL in the
    create call, the rest added in calls of at most as many (Foundry refuses more)."""
    # The items go in as the JSON they already are: given as `items=`, openai walks each one
    # through every one of its ~25 input-item types to convert it (a tenth of the snippet's
    # CPU time in a measured run, for the same bytes on the wire).
    first, rest = items[:MAX_ITEMS_PER_CALL], items[MAX_ITEMS_PER_CALL:]
    create = client.conversations.with_raw_response.create
    created = create(extra_body={"items": first} if first else None).http_response.json()
    conversation_id = created.get("id") if isinstance(created, dict) else None
    if not isinstance(conversation_id, str) or not conversation_id:
        raise FoundryError("invalid_response", "Foundry created a conversation without an id")
    _add_items(client, conversation_id, rest)
    return conversation_id


def _add_items(client: openai.OpenAI, conversation_id: str, items: list[dict[str, Any]]) -> None:
    add = client.conversations.items.with_raw_response.create
    for start in range(0, len(items), MAX_ITEMS_PER_CALL):
        chunk = items[start : start + MAX_ITEMS_PER_CALL]
        add(conversation_id, items=[], extra_body={"items": chunk})


def _create_response(
    client: openai.OpenAI, conversation_id: str, input_: Any, agent_name: str
) -> tuple[dict[str, Any], str | None]:
    """Foundry's response JSON and its request id (None when the header is missing)."""
    # The raw JSON, as Foundry sent it: unknown item types survive untouched, and no openai
    # model is built only to be dumped again (that would be a quarter of a fast turn's CPU time).
    raw = client.responses.with_raw_response.create(
        conversation=conversation_id,
        input=input_,
        extra_body={"agent_reference": {"name": agent_name, "type": "agent_reference"}},
    )
    data = raw.http_response.json()
    if not isinstance(data, dict):
        raise FoundryError("invalid_response", "Foundry answered with JSON that is not an object")
    headers = raw.http_response.headers
    request_id = headers.get("x-request-id") or headers.get("apim-request-id")
    _raise_if_unsuccessful(data, request_id)
    return data, request_id


def _raise_if_unsuccessful(response: dict[str, Any], request_id: str | None = None) -> None:
    """``failed`` (or any status but completed/incomplete) raises with Foundry's error.

    ``incomplete`` does not: the converter keeps the partial reply and names the reason
    (and turns a content-filter stop into a refusal, see FOUNDRY_CONTENT_FILTER).
    """
    status = response.get("status")
    if status in (None, "completed", "incomplete"):
        return
    error = _object(response.get("error"))
    code = str(error.get("code") or status)
    message = str(error.get("message") or f"the response ended with status {status!r}")
    raise FoundryError(code, message, request_id=request_id or _body_request_id(error))


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _error_request_id(exc: openai.APIStatusError) -> str | None:
    """The failed request's id: openai reads only x-request-id, which some of Foundry's
    answers lack while they carry apim-request-id (the gateway's), or the id in the body."""
    headers = exc.response.headers
    return exc.request_id or headers.get("apim-request-id") or _body_request_id(_object(exc.body))


def _body_request_id(error: dict[str, Any]) -> str | None:
    # Foundry's error bodies carry additionalInfo.request_id (the invalid_payload errors in
    # MicrosoftLearning/mslearn-ai-agents issue 193 and microsoft/agent-framework issue 2573).
    info = error.get("additionalInfo")
    value = info.get("request_id") if isinstance(info, dict) else None
    return str(value) if value else None


def sum_usage(total: dict[str, Any], more: dict[str, Any]) -> dict[str, Any]:
    """Add token counts key by key (nested details too); other values keep the latest."""
    summed = dict(total)
    for key, value in more.items():
        current = summed.get(key)
        if isinstance(value, dict):
            summed[key] = sum_usage(current if isinstance(current, dict) else {}, value)
        elif _is_count(value) and _is_count(current):
            summed[key] = current + value
        else:
            summed[key] = value
    return summed


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


# --------------------------------------------------------------------------------------
# Stage 3: RawModelOutput -> OpenResponsesModelOutput
# --------------------------------------------------------------------------------------


def convert_model_output(raw: RawModelOutput) -> OpenResponsesModelOutput:
    return OpenResponsesConverter().build(
        raw.output,
        raw.conversation_id,
        raw.usage,
        status=raw.status,
        incomplete_reason=raw.incomplete_reason,
        content_filters=raw.content_filters,
        blocked=raw.blocked,
        seeded_messages=raw.seeded_messages,
        left_out_messages=raw.left_out_messages,
        resumed=raw.resumed,
        agent=raw.agent,
    )


# What Open Responses allows in OutputTextContent.annotations.
Annotation = UrlCitationBody | TextCitationBody
# Items that carry no tool call: the tool catalogue and the model's reasoning summary.
_SKIPPED_ITEM_TYPES = frozenset({"mcp_list_tools", "reasoning"})
# Fields of a server-side tool item that hold its result rather than its request.
_RESULT_FIELDS = ("output", "outputs", "result", "results", "error")
# Bookkeeping every v1 item carries (who wrote it, in which response, where it is stored):
# neither a tool's request nor its result.
_ITEM_META_FIELDS = frozenset(
    {"id", "type", "status", "agent_reference", "response_id", "created_by", "partition_key"}
)
_FAILED_STATUSES = frozenset({"failed", "incomplete", "cancelled"})


class OpenResponsesConverter:
    """Foundry output items -> Open Responses trace items.

    - ``mcp_call``: function_call + function_call_output linked by call_id (the Foundry
      item id); a failed call has status incomplete and its error as the output.
    - ``mcp_approval_request`` denied by the policy: function_call (incomplete) + an output
      saying it was denied. Approved ones are skipped: the ``mcp_call`` that follows is it.
    - client-side ``function_call`` / ``function_call_output``: passed through.
    - any other ``*_call`` (file_search_call, web_search_call, code_interpreter_call, ...):
      function_call named after the tool (``file_search``) with the request fields as
      arguments, + function_call_output with the result fields.
    - assistant ``message`` items: their text joined into one reply, appended last, with
      ``conversation_id`` as an extra field; their annotations kept (``url_citation`` as is,
      ``file_citation`` and the others as ``text_citation``), indices moved to the joined text.
    - the turn's outcome on that reply (extra fields):
      ``content_filters`` (Foundry's annotations), a content-filter refusal
      (``content_filter_blocked``), ``incomplete_details``, ``conversation_seeded`` or
      ``conversation_resumed``.
    Trace item ids are random (uuid4), as in the tutorial; call ids are Foundry's.
    """

    def build(
        self,
        output_items: list[dict[str, Any]],
        conversation_id: str = "",
        usage: dict[str, Any] | None = None,
        *,
        status: str = "completed",
        incomplete_reason: str | None = None,
        content_filters: list[dict[str, Any]] | None = None,
        blocked: dict[str, Any] | None = None,
        seeded_messages: int = 0,
        left_out_messages: int = 0,
        resumed: bool = False,
        agent: str = "",
    ) -> OpenResponsesModelOutput:
        items: list[TraceItem] = []
        reply = _Reply()
        approval_requests: dict[str, dict[str, Any]] = {}
        workflow_actions: list[dict[str, Any]] = []
        consent_requests: list[dict[str, Any]] = []
        spoken: list[tuple[int, _Reply, dict[str, Any]]] = []  # sub-agents' messages
        for item in output_items:
            item_type = str(item.get("type") or "")
            if item_type in _SKIPPED_ITEM_TYPES:
                continue
            if item_type == "message":
                author = _author(item)
                if item.get("role") != "assistant":
                    continue
                if agent and author and author != agent:  # a workflow's sub-agent speaking
                    said = _Reply()
                    said.add_message(item, self.build_annotation)
                    spoken.append((len(items), said, _agent_of(item, author)))
                    items.append(self.build_agent_message(said, spoken[-1][2]))
                else:
                    reply.add_message(item, self.build_annotation)
            elif item_type == "workflow_action":
                workflow_actions.append(_workflow_action(item))
            elif item_type == "oauth_consent_request":
                consent_requests.append(_consent_request(item))
            elif item_type == "mcp_call":
                items.extend(self.build_mcp_call(item))
            elif item_type == "mcp_approval_request":
                approval_requests[str(item.get("id"))] = item
            elif item_type == "mcp_approval_response":
                request = approval_requests.get(str(item.get("approval_request_id")))
                if request is not None and not item.get("approve"):
                    items.extend(self.build_denied_approval(request))
            elif item_type == "function_call":
                items.append(self.build_client_function_call(item))
            elif item_type == "function_call_output":
                items.append(self.build_client_function_call_output(item))
            else:
                items.extend(self.build_server_tool_call(item, item_type))
        filters = list(content_filters or [])
        extra: dict[str, Any] = {}
        text, annotations = reply.text, reply.annotations
        message_status = MessageStatus.completed
        if not text and spoken and spoken[-1][0] == len(items) - 1:
            # A workflow whose last word is a sub-agent's: that message is the reply.
            items.pop()
            _, said, extra["agent"] = spoken[-1]
            text, annotations = said.text, said.annotations
        if workflow_actions:
            extra["workflow_actions"] = workflow_actions
        if consent_requests:
            extra["oauth_consent_requests"] = consent_requests
            if not text:
                text = consent_text(consent_requests)
            incomplete_reason = incomplete_reason or "oauth_consent_required"
        if blocked is not None or incomplete_reason == "content_filter":
            # A filtered prompt or reply is a result to score: a refusal, not a crash.
            details = dict(blocked or {"source_type": "completion", "code": "content_filter"})
            results = details.pop("content_filter_results", None)
            if results:
                filters.append(
                    {
                        "blocked": True,
                        "source_type": details["source_type"],
                        "content_filter_results": results,
                    }
                )
            extra["content_filter_blocked"] = details
            if text:
                extra["partial_text"] = text
            text, annotations = refusal_text(details["source_type"], filters), []
            incomplete_reason = "content_filter"
        if incomplete_reason or status == "incomplete" or reply.incomplete:
            message_status = MessageStatus.incomplete
            extra["incomplete_details"] = {"reason": incomplete_reason or "unknown"}
        if filters:
            extra["content_filters"] = filters
        if resumed:
            extra["conversation_resumed"] = {
                "reason": "the request's assistant messages carry no conversation_id; this "
                "process created the conversation for the same earlier messages"
            }
        if seeded_messages or left_out_messages:
            extra["conversation_seeded"] = {
                "messages": seeded_messages,
                "reason": "the request's assistant messages carry no conversation_id, and no "
                "conversation of this process holds its earlier messages",
            }
            if left_out_messages:
                extra["conversation_seeded"]["left_out_blocked"] = left_out_messages
        items.append(
            self.build_assistant_message(
                text, conversation_id, annotations, status=message_status, **extra
            )
        )
        return OpenResponsesModelOutput(items=items, usage=self.build_usage(usage or {}))

    def build_mcp_call(self, item: dict[str, Any]) -> list[TraceItem]:
        call_id = str(item.get("id") or "")
        failed = _item_failed(item)
        return [
            self.build_function_call(
                call_id,
                name=str(item.get("name") or ""),
                arguments=item.get("arguments"),
                status=_call_status(item),
            ),
            self.build_function_call_output(call_id, self._mcp_call_output(item), failed),
        ]

    def build_denied_approval(self, request: dict[str, Any]) -> list[TraceItem]:
        call_id = str(request.get("id") or "")
        name = str(request.get("name") or "")
        denial = {"error": {"type": "approval_denied", "message": f"{MCP_APPROVAL_KEY} denied"}}
        return [
            self.build_function_call(
                call_id, name, request.get("arguments"), FunctionCallStatus.incomplete
            ),
            self.build_function_call_output(call_id, json.dumps(denial), failed=True),
        ]

    def build_client_function_call(self, item: dict[str, Any]) -> FunctionCall:
        return self.build_function_call(
            str(item.get("call_id") or item.get("id") or ""),
            name=str(item.get("name") or ""),
            arguments=item.get("arguments"),
            status=_call_status(item),
        )

    def build_client_function_call_output(self, item: dict[str, Any]) -> FunctionCallOutput:
        output = item.get("output")
        return self.build_function_call_output(
            str(item.get("call_id") or ""),
            output if isinstance(output, str) else _json(output),
            failed=_item_failed(item),
        )

    def build_server_tool_call(self, item: dict[str, Any], item_type: str) -> list[TraceItem]:
        call_id = str(item.get("id") or "")
        request = {
            k: v
            for k, v in item.items()
            if k not in _ITEM_META_FIELDS and k not in _RESULT_FIELDS and v is not None
        }
        result = {k: item[k] for k in _RESULT_FIELDS if item.get(k) is not None}
        return [
            self.build_function_call(
                call_id,
                name=item_type.removesuffix("_call") or "unknown_tool",
                arguments=request,
                status=_call_status(item),
            ),
            self.build_function_call_output(
                call_id, _json(result) if result else "", _item_failed(item)
            ),
        ]

    def build_function_call(
        self, call_id: str, name: str, arguments: Any, status: FunctionCallStatus
    ) -> FunctionCall:
        # `type` stays unset, as in the tutorial (AI GO! parses items by shape); mypy
        # does not see pydantic's positional Field defaults, hence the ignores.
        return FunctionCall(  # type: ignore[call-arg]
            id=str(uuid.uuid4()),
            call_id=call_id,
            name=name,
            arguments=arguments if isinstance(arguments, str) and arguments else _json(arguments),
            status=status,
        )

    def build_function_call_output(
        self, call_id: str, output: str, failed: bool = False
    ) -> FunctionCallOutput:
        return FunctionCallOutput(  # type: ignore[call-arg]
            id=str(uuid.uuid4()),
            call_id=call_id,
            output=output,
            status=(
                FunctionCallOutputStatusEnum.incomplete
                if failed
                else FunctionCallOutputStatusEnum.completed
            ),
        )

    def build_assistant_message(
        self,
        text: str,
        conversation_id: str,
        annotations: list[Annotation] | None = None,
        status: MessageStatus = MessageStatus.completed,
        **extra: Any,
    ) -> Message:
        return Message(  # type: ignore[call-arg]
            id=str(uuid.uuid4()),
            status=status,
            role=MessageRole.assistant,
            content=[OutputTextContent(text=text, annotations=annotations or [])],  # type: ignore[call-arg]
            # Extra field: AI GO! echoes it back next turn, which continues the conversation.
            conversation_id=conversation_id,
            **extra,
        )

    def build_agent_message(self, said: "_Reply", agent: dict[str, Any]) -> Message:
        """A message another agent wrote (a workflow's sub-agent): its own trace message,
        naming the agent, so a scorer sees who said what."""
        return Message(  # type: ignore[call-arg]
            id=str(uuid.uuid4()),
            status=MessageStatus.incomplete if said.incomplete else MessageStatus.completed,
            role=MessageRole.assistant,
            content=[OutputTextContent(text=said.text, annotations=said.annotations)],  # type: ignore[call-arg]
            agent=agent,
        )

    def build_annotation(self, annotation: dict[str, Any]) -> Annotation | None:
        """Foundry's annotation as Open Responses allows it (url_citation or text_citation).

        Open Responses has no file_citation: it becomes a text_citation whose content is the
        file name, keeping Foundry's fields and type (``foundry_type``) as extra fields
        (as azure-ai-projects' recorded file search responses show).
        """
        kind = annotation.get("type")
        if kind == "url_citation":
            try:
                return UrlCitationBody.model_validate(annotation)
            except ValidationError:
                pass  # incomplete: kept below as a text citation
        fields = {k: v for k, v in annotation.items() if k not in ("type", "content")}
        source = next(
            (
                annotation[key]
                for key in ("content", "text", "filename", "title", "url", "file_id")
                if isinstance(annotation.get(key), str) and annotation[key]
            ),
            None,
        )
        if source is None:
            return None  # nothing to cite
        if kind != "text_citation":
            fields["foundry_type"] = kind
        return TextCitationBody(type="text_citation", content=source, **fields)

    def build_usage(self, usage: dict[str, Any]) -> ModelUsage | None:
        prompt, completion = usage.get("input_tokens"), usage.get("output_tokens")
        if prompt is None and completion is None:
            return None
        return ModelUsage(num_prompt_tokens=prompt, num_completion_tokens=completion)

    @staticmethod
    def _mcp_call_output(item: dict[str, Any]) -> str:
        error = item.get("error")
        if error:  # a failed call shows why, even if it also carries partial output
            return json.dumps({"error": error})
        output = item.get("output")
        if isinstance(output, str) and output:
            return output
        if item.get("status") in _FAILED_STATUSES:
            return json.dumps({"error": {"status": item.get("status")}})
        return "" if output is None else _json(output)


def _agent_of(item: dict[str, Any], name: str) -> dict[str, Any]:
    reference = item.get("agent_reference")
    version = reference.get("version") if isinstance(reference, dict) else None
    return {"name": name, "version": str(version)} if version else {"name": name}


def _workflow_action(item: dict[str, Any]) -> dict[str, Any]:
    """A workflow agent's step (azure-ai-projects' recorded sample_workflow_multi_agent), kept
    on the reply: latticeflow-core's trace has no item for a workflow step, and a function call
    would claim that a tool ran."""
    fields = ("kind", "action_id", "parent_action_id", "previous_action_id", "status")
    return {name: item[name] for name in fields if item.get(name) is not None}


def _consent_request(item: dict[str, Any]) -> dict[str, Any]:
    """An MCP server waiting for the user's OAuth consent: the Foundry REST spec's
    oauth_consent_request (Azure/azure-rest-api-specs) and Microsoft Learn's example in the
    Foundry MCP authentication article (no recorded example)."""
    fields = ("server_label", "consent_link")
    return {name: str(item[name]) for name in fields if item.get(name) is not None}


def consent_text(requests: list[dict[str, Any]]) -> str:
    """What the turn says when an MCP tool waits for OAuth consent instead of replying."""
    servers = ", ".join(repr(r["server_label"]) for r in requests if r.get("server_label"))
    which = f" of the MCP server {servers}" if servers else " of an MCP server"
    return (
        f"The agent could not answer: a tool{which} needs the user's OAuth consent first "
        "(the link is in oauth_consent_requests)."
    )


def _item_failed(item: dict[str, Any]) -> bool:
    return bool(item.get("error")) or item.get("status") in _FAILED_STATUSES


def _call_status(item: dict[str, Any]) -> FunctionCallStatus:
    # Open Responses has no "failed": a call that did not complete is "incomplete".
    if _item_failed(item):
        return FunctionCallStatus.incomplete
    status = item.get("status")
    if status in (None, "completed"):
        return FunctionCallStatus.completed
    return FunctionCallStatus.in_progress  # in_progress, searching, interpreting, calling…


def _json(value: Any) -> str:
    return json.dumps(value if value is not None else {}, ensure_ascii=False)


# Annotation fields that are character offsets into the text they annotate.
_OFFSET_FIELDS = ("index", "start_index", "end_index")


class _Reply:
    """The text of every assistant message item joined into one reply, with annotations.

    Parts of one message are joined as they are; messages by a blank line. Offsets of
    annotations move with their part, so they still point into the joined text.
    """

    def __init__(self) -> None:
        self.text = ""
        self.annotations: list[Annotation] = []
        self.incomplete = False

    def add_message(
        self, item: dict[str, Any], build: Callable[[dict[str, Any]], Annotation | None]
    ) -> None:
        self.incomplete = self.incomplete or item.get("status") == "incomplete"
        content = item.get("content")
        blocks: list[Any] = content if isinstance(content, list) else []
        text = ""
        pending: list[tuple[int, dict[str, Any]]] = []
        for block in blocks:
            if not isinstance(block, dict):
                continue
            if block.get("type") == "output_text":
                found = block.get("annotations")
                for annotation in found if isinstance(found, list) else []:
                    if isinstance(annotation, dict):
                        pending.append((len(text), annotation))
                text += str(block.get("text") or "")
            elif block.get("type") == "refusal":  # a refusal is the reply too
                text += str(block.get("refusal") or "")
        if not text:
            return
        separator = "\n\n" if self.text else ""
        start = len(self.text) + len(separator)
        self.text += separator + text
        for offset, annotation in pending:
            built = build(_shifted(annotation, start + offset))
            if built is not None:
                self.annotations.append(built)


def _shifted(annotation: dict[str, Any], offset: int) -> dict[str, Any]:
    if not offset:
        return annotation
    return {
        key: value + offset
        if key in _OFFSET_FIELDS and isinstance(value, int) and not isinstance(value, bool)
        else value
        for key, value in annotation.items()
    }


# ======================================================================================
# Part 2. Policies: what the settings decide
# ======================================================================================


# --------------------------------------------------------------------------------------
# Settings, read and checked before any network call
# --------------------------------------------------------------------------------------


def read_settings(environment: dict[str, Any]) -> FoundrySettings:
    _check_environment(environment)
    return FoundrySettings(
        endpoint=_endpoint(environment),
        agent_name=_required(environment, AGENT_NAME_KEY),
        approval_policy=parse_approval_policy(environment.get(MCP_APPROVAL_KEY)),
        max_approval_rounds=_whole_number(
            environment, MAX_APPROVAL_ROUNDS_KEY, DEFAULT_MAX_APPROVAL_ROUNDS
        ),
        max_function_rounds=_whole_number(
            environment, MAX_FUNCTION_ROUNDS_KEY, DEFAULT_MAX_FUNCTION_ROUNDS
        ),
        conversation_memory=_conversation_memory(environment.get(CONVERSATION_MEMORY_KEY)),
        content_filter=_choice(environment, CONTENT_FILTER_KEY, ("refuse", "raise")),
        system_message=_choice(environment, SYSTEM_MESSAGE_KEY, ("include", "ignore", "reject")),
        turn_timeout=_turn_timeout(environment.get(TURN_TIMEOUT_KEY)),
        max_retries=_whole_number(environment, MAX_RETRIES_KEY, OPENAI_MAX_RETRIES),
    )


def _choice(environment: dict[str, Any], key: str, choices: tuple[str, ...]) -> Any:
    """The setting's value among ``choices`` (the first is the default)."""
    value = str(environment.get(key) or "").strip().lower() or choices[0]
    if value not in choices:
        allowed = ", ".join(repr(c) for c in choices)
        raise ValueError(f"{key} must be one of {allowed}, got {environment.get(key)!r}")
    return value


def _check_environment(environment: Any) -> None:
    if not isinstance(environment, Mapping):
        raise ValueError(
            "environment must be a dict of settings (the environment in model.yaml), "
            f"got {type(environment).__name__}"
        )


def _endpoint(environment: Mapping[str, Any]) -> str:
    """The project endpoint, checked before any network call. The value is never echoed:
    its host names the customer's resource."""
    value = _required(environment, ENDPOINT_KEY).rstrip("/")
    try:
        parts = urllib.parse.urlsplit(value)
        problem = (
            "it has no http:// or https:// scheme"
            if parts.scheme.lower() not in ("http", "https")
            else "it has no host"
            if not parts.hostname
            else "it contains whitespace"
            if any(character.isspace() for character in value)
            else ""
        )
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        problem = "it does not parse as a URL"
    if problem:
        raise ValueError(
            f"{ENDPOINT_KEY} must be a URL like "
            f"https://<resource>.services.ai.azure.com/api/projects/<project>, but {problem}"
        )
    return value


def _required(environment: Mapping[str, Any], key: str) -> str:
    value = environment.get(key)
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{key} is missing from the environment (set it in model.yaml)")
    return value.strip()


def _turn_timeout(value: Any) -> float:
    if value is None or value == "":
        return DEFAULT_TURN_TIMEOUT_SECONDS
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        seconds = math.nan
    if not (math.isfinite(seconds) and seconds > 0):
        raise ValueError(f"{TURN_TIMEOUT_KEY} must be a number of seconds > 0, got {value!r}")
    return seconds


def _whole_number(environment: Mapping[str, Any], key: str, default: int) -> int:
    value = environment.get(key)
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = -1
    if number < 0:
        raise ValueError(f"{key} must be a whole number >= 0, got {value!r}")
    return number


def _conversation_memory(value: Any) -> int:
    default = DEFAULT_CONVERSATION_MEMORY
    return _whole_number({CONVERSATION_MEMORY_KEY: value}, CONVERSATION_MEMORY_KEY, default)


# --------------------------------------------------------------------------------------
# MCP approvals (FOUNDRY_MCP_APPROVAL)
# --------------------------------------------------------------------------------------


def parse_approval_policy(value: Any) -> ApprovalPolicy:
    """``approve`` (default) | ``deny`` | ``allow:<tool>,<tool>``."""
    text = str(value or "").strip()
    mode, _, tools = text.partition(":")
    mode = mode.strip().lower()
    if mode in ("", "approve") and not tools:
        return ApprovalPolicy(mode="approve")
    if mode == "deny" and not tools:
        return ApprovalPolicy(mode="deny")
    if mode == "allow":
        names = frozenset(name.strip() for name in tools.split(",") if name.strip())
        return ApprovalPolicy(mode="allow", allowed_tools=names)
    raise ValueError(
        f"{MCP_APPROVAL_KEY} must be 'approve', 'deny' or 'allow:<tool>,<tool>', got {text!r}"
    )


def pending_approval_requests(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [item for item in items if item.get("type") == "mcp_approval_request"]


def answer_approval_requests(
    requests: list[dict[str, Any]], policy: ApprovalPolicy
) -> list[dict[str, Any]]:
    return [
        {
            "type": "mcp_approval_response",
            "approve": policy.approves(str(request.get("name") or "")),
            "approval_request_id": request["id"],
        }
        for request in requests
    ]


# --------------------------------------------------------------------------------------
# Client function calls (FUNCTION_TOOLS, FOUNDRY_MAX_FUNCTION_ROUNDS)
# --------------------------------------------------------------------------------------


def pending_function_calls(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A response's client function calls: Foundry waits for an output for each."""
    return [item for item in items if item.get("type") == "function_call"]


def run_function_call(call: dict[str, Any], environment: dict[str, Any]) -> dict[str, Any]:
    """The registered function's answer to ``call`` as a ``function_call_output`` item; a
    failure (bad arguments, an exception) is an error output the agent reads, marked failed
    for the trace (``status: incomplete``)."""
    name = str(call.get("name") or "")
    try:
        arguments = json.loads(call.get("arguments") or "{}")
        if not isinstance(arguments, dict):
            raise ValueError("the arguments are not a JSON object")
        result = FUNCTION_TOOLS[name](arguments)
        output = result if isinstance(result, str) else json.dumps(result, default=str)
        status = "completed"
    except Exception as exc:  # the team's function: any failure is reported to the agent
        message = redact(f"{type(exc).__name__}: {exc}", environment)
        output, status = json.dumps({"error": f"{name} failed: {message}"}), "incomplete"
    return {
        "type": "function_call_output",
        "call_id": str(call.get("call_id") or ""),
        "output": output,
        "status": status,
    }


def _require_registered(
    client: openai.OpenAI, conversation_id: str, calls: list[dict[str, Any]]
) -> None:
    missing = sorted({str(c.get("name") or "") for c in calls} - FUNCTION_TOOLS.keys())
    if not missing:
        return
    _close_function_calls(client, conversation_id, calls, "the snippet does not implement it")
    names = ", ".join(repr(name) for name in missing)
    raise FoundryError(
        "function_not_registered",
        f"the agent called the client-side function {names}, which this snippet does not "
        "implement: add it to FUNCTION_TOOLS in run_inference.py (its name -> a callable "
        "that takes the parsed arguments as a dict and returns the output string)",
    )


def _close_function_calls(
    client: openai.OpenAI, conversation_id: str, calls: list[dict[str, Any]], why: str
) -> None:
    """Answer the calls with an error output, without asking the agent for another response,
    so the conversation is not left waiting: Foundry refuses every later message of a
    conversation with an unanswered call (400 "No tool output found for function call …").
    Best effort: the turn fails anyway, with the error that says why."""
    outputs = [
        {
            "type": "function_call_output",
            "call_id": str(call.get("call_id") or ""),
            "output": json.dumps({"error": f"{call.get('name')} was not run: {why}"}),
        }
        for call in calls
    ]
    with suppress(openai.OpenAIError):  # _DeadlineExceeded is one
        _add_items(client, conversation_id, outputs)


# --------------------------------------------------------------------------------------
# Content filter (FOUNDRY_CONTENT_FILTER): a blocked prompt or reply is a refusal
# --------------------------------------------------------------------------------------

# A filtered turn's reply. A blocked prompt's refusal is recognised in a rebuilt chat by it.
_REFUSAL = "I can't help with that. Azure AI Foundry's content filter blocked"
_BLOCKED_PROMPT_REFUSAL = f"{_REFUSAL} the request"


def _content_filter_block(exc: openai.BadRequestError) -> dict[str, Any] | None:
    """What Foundry said when its content filter rejected the input; None for other 400s.

    Azure OpenAI's documented prompt rejection: HTTP 400, error.code ``content_filter``,
    ``innererror`` with ``code`` (ResponsibleAIPolicyViolation) and ``content_filter_result``.
    """
    body = _object(exc.body)  # openai unwrapped {"error": ...}
    if body.get("code") != "content_filter":
        return None
    inner = _object(body.get("innererror"))
    results = inner.get("content_filter_result")
    blocked: dict[str, Any] = {
        "source_type": "prompt",
        "code": "content_filter",
        "inner_code": inner.get("code"),
        "message": body.get("message"),
        "request_id": _error_request_id(exc),
        "content_filter_results": results if isinstance(results, dict) else {},
    }
    return {k: v for k, v in blocked.items() if v is not None}


def refusal_text(source_type: str, content_filters: list[dict[str, Any]]) -> str:
    """What a filtered turn says instead of a reply: plainly a refusal, naming the filter."""
    flagged: list[str] = []
    for entry in content_filters:
        results = entry.get("content_filter_results")
        for category, result in (results if isinstance(results, dict) else {}).items():
            if not isinstance(result, dict) or not result.get("filtered"):
                continue
            severity = result.get("severity")
            label = f"{category}: {severity}" if isinstance(severity, str) else str(category)
            if label not in flagged:
                flagged.append(label)
    why = f" ({', '.join(flagged)})" if flagged else ""
    if source_type == "prompt":
        return f"{_BLOCKED_PROMPT_REFUSAL}{why}."
    return f"{_REFUSAL} the reply{why}."


# --------------------------------------------------------------------------------------
# Conversation memory and seeding: one Foundry conversation per chat
# --------------------------------------------------------------------------------------


class ConversationMemory:
    """The conversation this process created for a chat, to resume it when the echo is lost.

    AI GO! may rebuild a turn's request from the trace (latticeflow-core's
    trace_items_to_model_input): its assistant messages come back as text alone, without the
    conversation_id. So each answered turn is remembered under a digest of the chat exactly as
    the snippet returned it (system messages, then every user and assistant message in order)
    and of its scope (endpoint, agent, identity and, when AI GO! passes it, the sample); the
    next turn of that chat finds its conversation and sends only the new message.

    A remembered chat is taken by the first request that continues it (``claim``): a retried
    request, or another sample whose chat is word for word the same, finds it gone and seeds a
    conversation of its own instead of continuing one that has moved on, so no message is sent
    twice and no conversation holds another sample's turns. It cannot know the chats of another
    process (another worker, or this one after a restart): those are seeded, as before. Entries
    beyond the capacity (FOUNDRY_CONVERSATION_MEMORY) go, least recently used first.
    """

    def __init__(self) -> None:
        self._entries: OrderedDict[str, str] = OrderedDict()
        self._lock = threading.Lock()

    def claim(self, key: str) -> str | None:
        with self._lock:
            return self._entries.pop(key, None)

    def remember(self, key: str, conversation_id: str, capacity: int) -> None:
        if capacity <= 0 or not conversation_id:
            return
        with self._lock:
            self._entries[key] = conversation_id
            self._entries.move_to_end(key)
            while len(self._entries) > capacity:
                self._entries.popitem(last=False)

    def forget(self, key: str, conversation_id: str) -> None:
        with self._lock:
            if self._entries.get(key) == conversation_id:
                del self._entries[key]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


CONVERSATIONS = ConversationMemory()


def conversation_key(
    system_messages: list[str],
    chat: list[ChatTurn],
    environment: dict[str, Any],
    sample: Any = None,
) -> str:
    """A digest of the chat and its scope; it holds no secret (the identity is hashed)."""
    scope = [
        _endpoint(environment),
        _required(environment, AGENT_NAME_KEY),
        list(_identity(environment)),
        None if sample is None else json.dumps(sample, sort_keys=True, default=str),
    ]
    messages = [[turn.role, turn.text] for turn in chat]
    text = json.dumps([scope, system_messages, messages], ensure_ascii=False, default=str)
    return _sha256(text)


def remember_conversation(
    model_input: ModelInput,
    output: OpenResponsesModelOutput,
    conversation_id: str,
    environment: dict[str, Any],
    sample: Any = None,
) -> None:
    """Remember the conversation by the chat as AI GO! will send it next turn: the earlier
    messages, this user message and the assistant messages returned (their text only, which
    is all a chat rebuilt from the trace keeps)."""
    returned = [
        ChatTurn(role="assistant", text=text)
        for item in output.items
        if isinstance(item, Message) and item.role == MessageRole.assistant
        for text in [_returned_text(item)]
        if text.strip()
    ]
    chat = [*model_input.history, ChatTurn(role="user", text=model_input.user_message), *returned]
    key = conversation_key(model_input.system_messages, chat, environment, sample)
    capacity = _conversation_memory(environment.get(CONVERSATION_MEMORY_KEY))
    CONVERSATIONS.remember(key, conversation_id, capacity)


def _returned_text(message: Message) -> str:
    """An assistant message's text as latticeflow-core's converters rebuild it (text, else
    refusal, of each part, joined by newlines)."""
    parts = [getattr(p, "text", None) or getattr(p, "refusal", None) for p in message.content]
    return "\n".join(part for part in parts if isinstance(part, str))


def _seed_conversation(
    client: openai.OpenAI, raw: RawModelOutput, model_input: ModelInput, settings: FoundrySettings
) -> None:
    """A new conversation, seeded with the chat's earlier messages when there are any: a
    request rebuilt from a trace in another process (or one this process forgot) still
    reaches an agent that remembers what was said."""
    history = _without_blocked_prompts(model_input.history)
    raw.seeded_messages = len(history)
    raw.left_out_messages = len(model_input.history) - len(history)
    system = model_input.system_messages if settings.system_message == "include" else []
    raw.conversation_id = _create_conversation(client, _seed_items(system, history))


def _seed_items(system: list[str], history: list[ChatTurn]) -> list[dict[str, Any]]:
    """A new conversation's first items: the system message(s), then the earlier turns."""
    items = [{"type": "message", "role": "system", "content": text} for text in system]
    items += [{"type": "message", "role": turn.role, "content": turn.text} for turn in history]
    return items


def _without_blocked_prompts(history: list[ChatTurn]) -> list[ChatTurn]:
    """The history less each prompt the content filter blocked and the refusal that answered it.

    Seeded back into a new conversation, a blocked prompt would be filtered again with every
    later turn; left out, the conversation goes on as it did when the id was echoed.
    """
    kept: list[ChatTurn] = []
    for turn in history:
        if turn.role == "assistant" and turn.text.startswith(_BLOCKED_PROMPT_REFUSAL):
            if kept and kept[-1].role == "user":
                kept.pop()
            continue
        kept.append(turn)
    return kept


# ======================================================================================
# Part 3. Machinery: clients, the turn's deadline, retries, errors
# ======================================================================================


# --------------------------------------------------------------------------------------
# Clients: built once per (endpoint, identity), reused by every call and thread; one
# credential per identity, shared by every endpoint
# --------------------------------------------------------------------------------------


class _FoundryClients(NamedTuple):
    project_client: AIProjectClient
    openai_client: openai.OpenAI


class _Credential(NamedTuple):
    credential: Any
    owns_credential: bool  # False for AZURE_TOKEN_CREDENTIAL: the embedder closes it


# Keyed by (endpoint, identity).
_CLIENTS: dict[tuple[str, tuple[Any, ...]], _FoundryClients] = {}
# Keyed by identity: a Foundry token is for Foundry's audience (https://ai.azure.com), not
# for one project, so the projects an identity reaches share its credential and its token
# cache: one sign-in, not one per endpoint. The entry holds the credential object, so an
# id()-based identity cannot be reused by another object while it is cached.
_CREDENTIALS: dict[tuple[Any, ...], _Credential] = {}
_CLIENTS_LOCK = threading.Lock()
# One HTTP connection pool for the process, shared by every cached client: building an
# HTTP client loads a TLS trust store (~25 ms), which a new endpoint or identity need not
# pay again. Created with the first client, closed by reset_client_cache.
_HTTP_CLIENT: "_DeadlineHttpClient | None" = None


def get_foundry_client(environment: dict[str, Any]) -> openai.OpenAI:
    """The cached OpenAI client for this environment's endpoint and identity."""
    _check_environment(environment)
    endpoint = _endpoint(environment)
    identity = _identity(environment)
    with _CLIENTS_LOCK:  # held while building so concurrent first calls build once
        clients = _CLIENTS.get((endpoint, identity))
        if clients is None:
            credential = _CREDENTIALS.get(identity)
            if credential is None:
                credential = _CREDENTIALS[identity] = _Credential(*_build_credential(environment))
            clients = _build_clients(endpoint, credential.credential)
            _CLIENTS[(endpoint, identity)] = clients
    return clients.openai_client


def reset_client_cache() -> None:
    """Close and forget every cached client and remembered conversation (a credential
    rotation, or any caller that needs a fresh start)."""
    global _HTTP_CLIENT
    CONVERSATIONS.clear()
    with _CLIENTS_LOCK:
        entries, credentials = list(_CLIENTS.values()), list(_CREDENTIALS.values())
        _CLIENTS.clear()
        _CREDENTIALS.clear()
        http_client, _HTTP_CLIENT = _HTTP_CLIENT, None
    for clients in entries:
        clients.openai_client.close()
        clients.project_client.close()
    for credential in credentials:
        if credential.owns_credential:
            credential.credential.close()
    if http_client is not None:
        http_client.close()


def _identity(environment: dict[str, Any]) -> tuple[Any, ...]:
    token_credential = environment.get(TOKEN_CREDENTIAL_KEY)
    if token_credential is not None:
        return ("token_credential", id(token_credential))
    service_principal = _service_principal(environment)
    if service_principal is not None:
        tenant_id, client_id, secret = service_principal
        # A hash, so the secret itself is not kept as a dict key; where it signs in and what
        # it trusts are part of the identity (the same ids at another authority are another).
        sign_in = tuple(sorted(_sign_in_options(environment).items()))
        return ("service_principal", tenant_id, client_id, _sha256(secret), sign_in)
    return ("default",)


def _build_clients(endpoint: str, credential: Any) -> _FoundryClients:
    """Called with _CLIENTS_LOCK held."""
    global _HTTP_CLIENT
    project_client = AIProjectClient(endpoint=endpoint, credential=credential)
    if _HTTP_CLIENT is None:
        _HTTP_CLIENT = _DeadlineHttpClient()
    openai_client = project_client.get_openai_client(
        max_retries=OPENAI_MAX_RETRIES,
        timeout=openai.Timeout(OPENAI_TIMEOUT_SECONDS, connect=OPENAI_CONNECT_TIMEOUT_SECONDS),
        http_client=_HTTP_CLIENT,
    )
    return _FoundryClients(project_client, openai_client)


def _build_credential(environment: dict[str, Any]) -> tuple[Any, bool]:
    token_credential = environment.get(TOKEN_CREDENTIAL_KEY)
    if token_credential is not None:
        if not callable(getattr(token_credential, "get_token", None)):
            raise ValueError(
                f"{TOKEN_CREDENTIAL_KEY} must be an azure.core.credentials.TokenCredential"
            )
        return _CheckedCredential(token_credential), False
    service_principal = _service_principal(environment)
    if service_principal is not None:
        return ClientSecretCredential(*service_principal, **_sign_in_options(environment)), True
    return DefaultAzureCredential(), True


class _CheckedCredential:
    """An embedder's TokenCredential whose answer is checked: a failure or something that is
    not an access token becomes ClientAuthenticationError (so FoundryError
    authentication_failed), not an AttributeError deep inside the SDK."""

    def __init__(self, credential: Any) -> None:
        self.credential = credential

    def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        try:
            token = self.credential.get_token(*scopes, **kwargs)
        except ClientAuthenticationError:
            raise
        except Exception as exc:
            raise ClientAuthenticationError(
                f"{TOKEN_CREDENTIAL_KEY}'s get_token failed: {type(exc).__name__}: {exc}"
            ) from None
        if not (isinstance(getattr(token, "token", None), str) and token.token):
            raise ClientAuthenticationError(
                f"{TOKEN_CREDENTIAL_KEY}'s get_token returned {type(token).__name__}, "
                "not an azure.core.credentials.AccessToken with a token"
            )
        return token


def _sign_in_options(environment: dict[str, Any]) -> dict[str, Any]:
    """The service principal's authority and CA bundle, as credential keyword arguments."""
    options: dict[str, Any] = {}
    authority = _optional_setting(environment, AUTHORITY_HOST_KEY)
    if authority:
        if "://" in authority and not authority.lower().startswith("https://"):
            raise ValueError(
                f"{AUTHORITY_HOST_KEY} must be an https URL or a host name "
                "(e.g. login.microsoftonline.us)"
            )
        options["authority"] = authority
        # Instance discovery asks login.microsoftonline.com whether it knows the authority:
        # MSAL skips it for Microsoft's own clouds anyway, and a configured private authority
        # (Azure Stack, a local stand-in) is trusted as configured, as azure-identity advises.
        options["disable_instance_discovery"] = True
    ca_bundle = _optional_setting(environment, CA_BUNDLE_KEY)
    if ca_bundle:
        if not os.path.isfile(ca_bundle):
            raise ValueError(f"{CA_BUNDLE_KEY} names no file: {ca_bundle}")
        options["connection_verify"] = ca_bundle
    return options


def _optional_setting(environment: dict[str, Any], key: str) -> str:
    value = environment.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ValueError(f"{key} must be a string, got {type(value).__name__}")
    return value.strip()


def _service_principal(environment: dict[str, Any]) -> tuple[str, str, str] | None:
    tenant_id, client_id, secret = (
        environment.get(key) for key in (TENANT_ID_KEY, CLIENT_ID_KEY, CLIENT_SECRET_KEY)
    )
    if not all(isinstance(value, str) and value for value in (tenant_id, client_id, secret)):
        return None  # partial settings fall back to DefaultAzureCredential, as the tutorial
    return str(tenant_id), str(client_id), str(secret)


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# --------------------------------------------------------------------------------------
# The turn's deadline: one budget for every request, retry and approval round of a turn
# --------------------------------------------------------------------------------------


class _DeadlineExceeded(openai.APITimeoutError):
    """An OpenAIError, so openai raises it as it is instead of retrying."""

    def __init__(self, request: Any, detail: str) -> None:
        super().__init__(request=request)
        self.detail = detail


class _TurnDeadline:
    def __init__(self, seconds: float, max_retries: int) -> None:
        self.seconds = seconds
        self.max_retries = max_retries
        self.ends_at = time.monotonic() + seconds

    def remaining(self) -> float:
        return self.ends_at - time.monotonic()

    def exceeded(self, request: Any, when: str) -> _DeadlineExceeded:
        return _DeadlineExceeded(
            request,
            f"the turn's deadline of {self.seconds:g} s ({TURN_TIMEOUT_KEY}) passed {when}",
        )


# Per thread (and task): the cached HTTP client is shared by every concurrent turn.
_TURN_DEADLINE: ContextVar[_TurnDeadline | None] = ContextVar("turn_deadline", default=None)


@contextmanager
def _turn_deadline(settings: FoundrySettings) -> Iterator[None]:
    token = _TURN_DEADLINE.set(_TurnDeadline(settings.turn_timeout, settings.max_retries))
    try:
        yield
    finally:
        _TURN_DEADLINE.reset(token)


class _DeadlineHttpClient(openai.DefaultHttpxClient):
    """openai's HTTP client, held to the turn's deadline.

    httpx's timeouts bound each connect and each socket read, not a whole call: a server that
    drips a byte every few seconds never trips them. So each attempt's timeouts are lowered to
    the time the turn has left, the body is read here chunk by chunk with the deadline checked
    between chunks, no attempt starts after the deadline, and a retry whose wait would outlast
    it is not waited for. httpx's transport underneath is untouched: whatever wraps or
    patches it (a proxy, an HTTP mock) still sees every request.
    """

    def send(self, request: Any, **kwargs: Any) -> Any:
        deadline = _TURN_DEADLINE.get()
        if deadline is None:
            return super().send(request, **kwargs)
        remaining = deadline.remaining()
        if remaining <= 0:
            raise deadline.exceeded(request, "before the next request could start")
        timeout = request.extensions.get("timeout")
        if isinstance(timeout, dict):
            request.extensions["timeout"] = {
                name: remaining if value is None else min(value, remaining)
                for name, value in timeout.items()
            }
        streamed = kwargs.pop("stream", False)
        try:
            response = super().send(request, stream=True, **kwargs)
        except _DeadlineExceeded:
            raise
        except Exception as exc:
            if deadline.remaining() <= 0:
                raise deadline.exceeded(request, "while waiting for Foundry to answer") from exc
            wait = _backoff_seconds(_retries_taken(request))
            if _retries_taken(request) < deadline.max_retries and wait >= deadline.remaining():
                raise deadline.exceeded(
                    request,
                    f"before a retry: the request failed ({type(exc).__name__}) and openai "
                    f"would wait {wait:g} s before the next attempt",
                ) from exc
            raise
        if streamed:  # the snippet never streams; a caller that does reads the body itself
            return response
        body = self._read_body(response, deadline, request)
        answer = type(response)(
            status_code=response.status_code,
            headers=response.headers,
            content=body,
            request=request,
            extensions=response.extensions,
        )
        self._check_retry_fits(answer, deadline, request)
        return answer

    @staticmethod
    def _read_body(response: Any, deadline: _TurnDeadline, request: Any) -> bytes:
        chunks: list[bytes] = []
        arriving = "while Foundry's answer was still arriving"
        try:
            for chunk in response.iter_raw():
                chunks.append(chunk)
                if deadline.remaining() <= 0:
                    raise deadline.exceeded(request, arriving)
        except _DeadlineExceeded:
            raise
        except Exception as exc:
            if deadline.remaining() <= 0:
                raise deadline.exceeded(request, arriving) from exc
            raise
        finally:
            response.close()
        return b"".join(chunks)

    @staticmethod
    def _check_retry_fits(response: Any, deadline: _TurnDeadline, request: Any) -> None:
        status = response.status_code
        if status not in _RETRYABLE_STATUSES and status < 500:
            return
        if response.headers.get("x-should-retry") == "false":
            return
        retries_taken = _retries_taken(request)
        if retries_taken >= deadline.max_retries:
            return  # openai raises the status error itself, with Foundry's message
        wait = _retry_after_seconds(response.headers)
        if wait is not None and wait > _MAX_RETRY_AFTER_SECONDS:
            return  # openai will not retry either
        if wait is None or wait <= 0:
            wait = _backoff_seconds(retries_taken)
        if wait >= deadline.remaining():
            raise deadline.exceeded(
                request,
                f"before a retry: Foundry answered HTTP {status} and asked to wait {wait:g} s",
            )


# --------------------------------------------------------------------------------------
# openai's retries, as the deadline sees them
# --------------------------------------------------------------------------------------

# openai's retry rules (openai/_base_client.py, `_should_retry`, `_calculate_retry_timeout`),
# mirrored to tell in advance whether its next wait would outlast the deadline. Public options
# are not enough: httpx's timeouts bound each attempt, not openai's sleep between attempts, and
# nothing in openai stops a sleep it has decided on. Measured without these rules: a 429 asking
# for 30 s with 2 s of the turn left ended the turn after 30.3 s; a dropped connection with
# 0.4 s left, after 0.53 s (the backoff was slept, then the deadline seen).
_RETRYABLE_STATUSES = frozenset({408, 409, 429})
_MAX_RETRY_AFTER_SECONDS = 120.0
_MAX_BACKOFF_SECONDS = 8.0


def _retries_taken(request: Any) -> int:
    # openai numbers its attempts in this request header: the only place the HTTP client sees it.
    try:
        return int(request.headers.get("x-stainless-retry-count") or 0)
    except ValueError:
        return 0


def _backoff_seconds(retries_taken: int) -> float:
    """openai's longest backoff before the next attempt (its jitter only shortens it)."""
    return min(0.5 * 2.0 ** min(retries_taken, 10), _MAX_BACKOFF_SECONDS)


def _retry_after_seconds(headers: Any) -> float | None:
    for name, divisor in (("retry-after-ms", 1000), ("retry-after", 1)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            return float(value) / divisor
        except ValueError:
            continue
    return None


# --------------------------------------------------------------------------------------
# Errors: every failure of the Foundry call leaves as FoundryError, scrubbed of secrets
# --------------------------------------------------------------------------------------

_MAX_ERROR_MESSAGE = 500
# Settings whose values are masked wherever they appear in a message (PWD, a directory, is not).
_SECRET_SETTING = re.compile(
    r"SECRET|PASSWORD|PASSWD|TOKEN|CREDENTIAL|PRIVATE|SIGNATURE|CONNECTION_?STRING"
    r"|(?:^|_)(?:API_?|ACCESS_?|ACCOUNT_?)?KEY(?:_|$)|(?:^|_)SAS(?:_|$)",
    re.IGNORECASE,
)
_MIN_SECRET_LENGTH = 6  # a shorter setting ("true", "1") masked everywhere would garble text
_FIELDS = (
    r"access_token|refresh_token|id_token|client_secret|client_assertion|api[-_]?key"
    r"|password|passwd|pwd|secret|token|sig"
)
# Besides its settings' values, what the snippet itself holds that a message could echo: the
# Entra token it sends (a JWT, as a bearer or Authorization header), sign-in fields such as
# client_secret or access_token, and credentials written into a URL. Secrets of other services
# are not the snippet's to know; the harness that records its traffic scans for those. Order
# matters: a whole JWT before the field rules could cut it in two.
_SECRET_PATTERNS = (
    (re.compile(r"eyJ[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]*"), "***"),  # JWT
    (re.compile(r"(?i)\b(bearer)(?:\s+|%20|\+)[A-Za-z0-9._~+/=-]+"), r"\1 ***"),
    (re.compile(r"(?i)\b((?:proxy-)?authorization:\s*\w+\s+)\S+"), r"\1***"),
    # key=value in a query (a SAS sig= too), form body or log line
    (re.compile(rf"(?i)\b({_FIELDS})=[^&;\s\"']+"), r"\1=***"),
    # "key": "value" in JSON, also JSON-escaped inside another JSON string ("apiKey" too)
    (
        re.compile(
            rf'(?i)(\\*["\']\w*(?:{_FIELDS})\w*\\*["\']\s*:\s*\\*["\'])(?:[^"\'\\]|\\[^"\'])+'
        ),
        r"\1***",
    ),
    (re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/@\s\"']+@"), r"\1***@"),  # user:pass@host
)


@contextmanager
def _foundry_errors(environment: dict[str, Any]) -> Iterator[None]:
    # `from None`: the SDK exceptions hold the request, whose headers carry the token.
    try:
        yield
    except FoundryError as exc:
        raise FoundryError(
            exc.code,
            redact(exc.message, environment),
            status_code=exc.status_code,
            request_id=exc.request_id,
        ) from None
    except openai.APIStatusError as exc:
        code, message = _status_error_details(exc)
        raise FoundryError(
            code,
            redact(message, environment),
            status_code=exc.status_code,
            request_id=_error_request_id(exc),
        ) from None
    except _DeadlineExceeded as exc:
        raise FoundryError("timeout", exc.detail) from None
    except openai.APITimeoutError:
        raise FoundryError("timeout", "the request to Foundry timed out") from None
    except openai.APIConnectionError as exc:
        raise FoundryError("connection_error", _connection_failure(exc, environment)) from None
    except ClientAuthenticationError as exc:
        message = redact(str(exc.message or exc), environment)
        raise FoundryError("authentication_failed", message) from None
    except openai.OpenAIError as exc:
        raise FoundryError("client_error", redact(str(exc), environment)) from None
    except json.JSONDecodeError as exc:
        # A 200 whose body is not JSON is Foundry's fault, not bad input: not a ValueError.
        raise FoundryError(
            "invalid_response", f"Foundry returned a body that is not valid JSON ({exc.msg})"
        ) from None


def _connection_failure(exc: openai.APIConnectionError, environment: dict[str, Any]) -> str:
    """Where the connection went and why it failed (refused, DNS, TLS), read from the
    exception chain: "could not connect to Foundry" alone leaves nothing to act on."""
    import socket
    import ssl

    url = getattr(getattr(exc, "request", None), "url", None)
    host = getattr(url, "host", "") or "?"
    port = getattr(url, "port", None) or {"https": 443, "http": 80}.get(getattr(url, "scheme", ""))
    reason, cause, depth = "", exc.__cause__ or exc.__context__, 0
    while cause is not None and not reason and depth < 10:  # a chain could loop
        if isinstance(cause, ssl.SSLCertVerificationError):
            reason = f"TLS certificate verification failed ({cause.verify_message})"
        elif isinstance(cause, ssl.SSLError):
            reason = f"TLS handshake failed ({cause.reason or cause})"
        elif isinstance(cause, socket.gaierror):
            reason = f"DNS lookup of {host} failed ({cause.strerror or cause})"
        elif isinstance(cause, ConnectionRefusedError):
            reason = "connection refused"
        elif isinstance(cause, OSError) and cause.strerror:
            reason = cause.strerror
        elif cause.__cause__ is None and cause.__context__ is None:
            reason = f"{type(cause).__name__}: {cause}"
        cause, depth = cause.__cause__ or cause.__context__, depth + 1
    where = f"{host}:{port}" if port else host
    message = f"could not connect to Foundry at {where}: {reason or 'no reason given'}"
    return redact(message, environment)


def _status_error_details(exc: openai.APIStatusError) -> tuple[str, str]:
    body = exc.body  # openai already unwrapped Foundry's {"error": {...}}
    fallback_code = f"http_{exc.status_code}"
    if isinstance(body, dict):
        code = body.get("code") or body.get("type") or fallback_code
        message = body.get("message") or json.dumps(body)
        return str(code), str(message)
    if body:
        return fallback_code, str(body)
    return fallback_code, exc.response.reason_phrase or "no error details"


def redact(text: str, environment: dict[str, Any]) -> str:
    """Mask in ``text`` the values of the secret-looking settings (and the client and tenant
    ids), in their URL- and JSON-encoded forms too, then anything shaped like a secret."""
    if "%" in text:
        text = unquote(text)  # a URL-encoded secret is matched as itself
    for value in _secret_values(environment):
        for form in (value, quote(value, safe=""), json.dumps(value)[1:-1]):
            text = text.replace(form, "***")
    for pattern, replacement in _SECRET_PATTERNS:
        text = pattern.sub(replacement, text)
    if len(text) > _MAX_ERROR_MESSAGE:
        text = text[:_MAX_ERROR_MESSAGE] + "…"
    return text


def _secret_values(environment: dict[str, Any]) -> list[str]:
    values = [
        value.strip()
        for key, value in environment.items()
        if isinstance(value, str)
        and len(value.strip()) >= _MIN_SECRET_LENGTH
        and (
            key in (CLIENT_SECRET_KEY, CLIENT_ID_KEY, TENANT_ID_KEY) or _SECRET_SETTING.search(key)
        )
    ]
    return sorted(set(values), key=len, reverse=True)  # a secret holding another goes whole
