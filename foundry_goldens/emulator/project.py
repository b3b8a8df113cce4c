"""The Foundry project the emulator pretends to be: conversations, agent responses, items.

HTTP-free: each operation takes the parsed request and returns the JSON payload, or raises
`ApiError`, which the server renders as a Foundry error body. One lock serialises state
changes; the agents' tools are pure, so holding it is brief.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from foundry_goldens.emulator import outcomes, payloads
from foundry_goldens.emulator.agents import AGENTS
from foundry_goldens.emulator.engine import (
    AgentSpec,
    ApprovalRequest,
    ConversationState,
    Event,
    FunctionCall,
    JsonObject,
    Reply,
    resume_approval,
    resume_functions,
    run_turn,
)
from foundry_goldens.emulator.errors import (
    bad_request,
    check_conversation_id,
    missing_tool_output,
    not_found,
    prompt_blocked,
    rejected_parameters,
    unknown_tool_call,
)
from foundry_goldens.emulator.ids import IdFactory
from foundry_goldens.emulator.limits import checked_items, checked_metadata
from foundry_goldens.emulator.outcomes import Trigger
from foundry_goldens.emulator.variation import BehaviourChange, Variation


@dataclass
class StoredConversation:
    number: int
    id: str
    created_at: int
    metadata: JsonObject
    items: list[JsonObject] = field(default_factory=list)
    state: ConversationState = field(default_factory=ConversationState)
    turns: int = 0
    # User messages given through the conversations API (at creation or by an items call), as
    # (item id, text): the agent reads them before its next turn, so a seeded conversation
    # keeps what they told it (the model reads the history), however many calls seeded it.
    unread: list[tuple[str, str]] = field(default_factory=list)
    added: int = 0  # items added through the conversations API so far: their ids' serial


@dataclass(frozen=True)
class FunctionOutput:
    call_id: str
    output: str


@dataclass(frozen=True)
class ApprovalAnswer:
    approval_request_id: str
    approve: bool
    reason: str | None


@dataclass(frozen=True)
class TurnInput:
    texts: tuple[str, ...]
    approvals: tuple[ApprovalAnswer, ...]
    outputs: tuple[FunctionOutput, ...] = ()


# --- reading requests --------------------------------------------------------------------------


def _message_text(item: Mapping[str, Any], where: str) -> str:
    content = item.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = []
        for part in content:
            if not isinstance(part, dict) or part.get("type") not in (
                "input_text",
                "output_text",
                "text",
            ):
                raise bad_request(f"{where}.content: only text parts are emulated", "input")
            if not isinstance(part.get("text"), str):
                raise bad_request(f"{where}.content: a text part needs a string `text`", "input")
            texts.append(part["text"])
        return "\n".join(texts)
    raise bad_request(f"{where}.content must be a string or a list of text parts", "input")


def _function_output(item: Mapping[str, Any], where: str) -> FunctionOutput:
    call_id, output = item.get("call_id"), item.get("output")
    if isinstance(output, list):  # openai also takes the output as text parts
        output = _message_text({"content": output}, where)
    if not isinstance(call_id, str) or not call_id or not isinstance(output, str):
        raise bad_request(f"{where} needs `call_id` and `output` (strings)", "input")
    return FunctionOutput(call_id, output)


def parse_input(value: Any) -> TurnInput:
    """`input` as the Responses API takes it: a string, or a list of input items."""
    if isinstance(value, str):
        if not value.strip():
            raise bad_request("input is empty", "input")
        return TurnInput((value,), ())
    if not isinstance(value, list) or not value:
        raise bad_request(
            "input must be a non-empty string or a non-empty list of input items", "input"
        )
    texts: list[str] = []
    approvals: list[ApprovalAnswer] = []
    outputs: list[FunctionOutput] = []
    for index, item in enumerate(value):
        where = f"input[{index}]"
        if not isinstance(item, dict):
            raise bad_request(f"{where} must be an object", "input")
        kind = item.get("type", "message")
        if kind == "message":
            role = item.get("role")
            if role == "user":
                texts.append(_message_text(item, where))
            elif role not in ("system", "developer"):
                raise bad_request(
                    f"{where}.role must be user, system or developer, got {role!r}", "input"
                )
        elif kind == "mcp_approval_response":
            request_id, approve = item.get("approval_request_id"), item.get("approve")
            if not isinstance(request_id, str) or not isinstance(approve, bool):
                raise bad_request(
                    f"{where} needs `approval_request_id` (string) and `approve` (boolean)", "input"
                )
            reason = item.get("reason")
            approvals.append(
                ApprovalAnswer(request_id, approve, reason if isinstance(reason, str) else None)
            )
        elif kind == "function_call_output":
            outputs.append(_function_output(item, where))
        else:
            raise bad_request(f"{where}.type {kind!r} is not emulated", "input")
    if not texts and not approvals and not outputs:
        raise bad_request(
            "input holds no user message, approval response or function output", "input"
        )
    return TurnInput(tuple(texts), tuple(approvals), tuple(outputs))


_SEEDED_ROLES = ("user", "assistant", "system", "developer")


@dataclass(frozen=True)
class AddedItem:
    """An item given through the conversations API: a message (role, text) or, by an items
    call, a function output (`role` "function_call_output", text the output)."""

    role: str
    text: str
    call_id: str | None = None


def parse_conversation_items(value: Any, *, outputs_allowed: bool = False) -> list[AddedItem]:
    """`items` of a conversation create (messages of any role) or of an items call (also
    `function_call_output`s, which answer pending function calls), in order."""
    added: list[AddedItem] = []
    for index, item in enumerate(checked_items(value)):
        where = f"items[{index}]"
        if not isinstance(item, dict):
            raise bad_request(f"{where} must be an object", "items")
        kind = item.get("type", "message")
        if kind == "function_call_output" and outputs_allowed:
            output = _function_output(item, where)
            added.append(AddedItem(kind, output.output, output.call_id))
            continue
        if kind != "message":
            raise bad_request(f"{where}.type {kind!r} is not emulated in items", "items")
        role = item.get("role")
        if role not in _SEEDED_ROLES:
            raise bad_request(
                f"{where}.role must be one of {', '.join(_SEEDED_ROLES)}, got {role!r}", "items"
            )
        added.append(AddedItem(str(role), _message_text(item, where)))
    return added


def _reference_id(value: Any, field_name: str) -> str | None:
    """A reference given as a string id or as `{"id": …}`."""
    if value is None:
        return None
    if isinstance(value, str) and value:
        return value
    if isinstance(value, dict) and isinstance(value.get("id"), str):
        return str(value["id"])
    raise bad_request(f"{field_name} must be an id string or an object with `id`", field_name)


# --- the project -------------------------------------------------------------------------------


class FoundryProject:
    def __init__(
        self,
        seed: str,
        agents: Mapping[str, AgentSpec] = AGENTS,
        variation: Variation | None = None,
        behaviour_change: BehaviourChange | None = None,
    ) -> None:
        self.seed = seed
        self.variation = variation
        self.behaviour_change = behaviour_change
        # Variation mode: fresh ids and timestamps per variation seed, as a live project gives.
        self._ids = IdFactory(seed if variation is None else f"{seed}/vary-{variation.seed}")
        self._agents = dict(agents)
        self._lock = threading.Lock()
        self._conversation_numbers = itertools.count(1)
        self._conversations: dict[str, StoredConversation] = {}
        self._deleted = 0  # still counted as created
        self._responses: dict[str, JsonObject] = {}

    @property
    def conversation_count(self) -> int:
        with self._lock:
            return len(self._conversations) + self._deleted

    def _new_conversation(self, metadata: JsonObject) -> StoredConversation:
        number = next(self._conversation_numbers)
        return StoredConversation(
            number=number,
            id=self._ids.conversation_id(number),
            created_at=self._ids.timestamp(number),
            metadata=metadata,
        )

    def _conversation(self, conversation_id: str) -> StoredConversation:
        check_conversation_id(conversation_id)
        found = self._conversations.get(conversation_id)
        if found is None:
            raise not_found(
                f"Conversation {conversation_id!r} not found.",
                param="conversation",
            )
        return found

    def _agent(self, body: Mapping[str, Any]) -> AgentSpec:
        rejected = rejected_parameters(body)
        if rejected is not None:
            raise rejected
        reference = body.get("agent_reference")
        if reference is None:
            raise bad_request(
                "name the agent: `agent_reference: {name, type: agent_reference}` "
                "(the emulator answers agents only)",
                "agent_reference",
            )
        name = reference.get("name") if isinstance(reference, dict) else None
        if not isinstance(name, str) or not name:
            raise bad_request("agent_reference needs a string `name`", "agent_reference")
        agent = self._agents.get(name)
        if agent is None:
            raise not_found(f"Agent '{name}' not found.", param="agent_reference")
        version = reference.get("version")
        if version is not None and str(version) != agent.version:
            raise not_found(
                f"Agent '{name}' has no version '{version}'.", param="agent_reference.version"
            )
        return agent

    # --- operations ---

    def create_conversation(self, body: Mapping[str, Any]) -> JsonObject:
        metadata = checked_metadata(body.get("metadata"))
        items = body.get("items")
        seeded = parse_conversation_items(items) if items is not None else []
        with self._lock:
            stored = self._new_conversation(metadata)
            self._add(stored, seeded)
            self._conversations[stored.id] = stored
            return payloads.conversation(stored.id, stored.created_at, stored.metadata)

    def get_conversation(self, conversation_id: str) -> JsonObject:
        with self._lock:
            stored = self._conversation(conversation_id)
            return payloads.conversation(stored.id, stored.created_at, stored.metadata)

    def update_conversation(self, conversation_id: str, body: Mapping[str, Any]) -> JsonObject:
        """`POST /conversations/{id}`: new metadata, replacing the old (openai's update takes
        the whole `metadata`; assumed to replace, not merge)."""
        if "metadata" not in body:
            raise bad_request("metadata is required", "metadata")
        metadata = checked_metadata(body.get("metadata"))
        with self._lock:
            stored = self._conversation(conversation_id)
            stored.metadata = metadata
            return payloads.conversation(stored.id, stored.created_at, stored.metadata)

    def delete_conversation(self, conversation_id: str) -> JsonObject:
        """Gone for good: every route naming it answers 404 afterwards."""
        with self._lock:
            stored = self._conversation(conversation_id)
            del self._conversations[stored.id]
            self._deleted += 1
        return payloads.deleted_conversation(conversation_id)

    def add_items(self, conversation_id: str, body: Mapping[str, Any]) -> JsonObject:
        """`POST /conversations/{id}/items`: messages (history the agent reads, as a create's
        `items`) and function outputs (answering pending calls without a new response)."""
        added = parse_conversation_items(body.get("items"), outputs_allowed=True)
        with self._lock:
            stored = self._conversation(conversation_id)
            pending = dict(stored.state.function_calls)
            for item in added:
                if item.call_id is not None and pending.pop(item.call_id, None) is None:
                    raise unknown_tool_call(item.call_id)
            return payloads.added_items(self._add(stored, added))

    def _add(self, stored: StoredConversation, added: list[AddedItem]) -> list[JsonObject]:
        """Store items given through the conversations API, in the form it shows them
        (tests/reference/v1/conversation_items_crud.json: conversation-form ids, no
        `partition_key`); user messages are read before the next turn."""
        items = []
        for item in added:
            prefix = "msg" if item.call_id is None else "fco"
            item_id = self._ids.added_item_id(prefix, stored.number, stored.added)
            stored.added += 1
            if item.call_id is not None:
                stored.state.function_calls.pop(item.call_id)  # answered: nothing waits
                items.append(payloads.function_call_output(item_id, item.call_id, item.text))
                continue
            items.append(payloads.message(item_id, item.role, item.text))
            if item.role == "user":
                stored.unread.append((item_id, item.text))
        stored.items += items
        return items

    def get_item(self, conversation_id: str, item_id: str) -> JsonObject:
        with self._lock:
            return self._item(self._conversation(conversation_id), item_id)

    def delete_item(self, conversation_id: str, item_id: str) -> JsonObject:
        """Returns the conversation, as openai types the answer (and the recording shows)."""
        with self._lock:
            stored = self._conversation(conversation_id)
            stored.items.remove(self._item(stored, item_id))
            stored.unread = [(i, text) for i, text in stored.unread if i != item_id]
            return payloads.conversation(stored.id, stored.created_at, stored.metadata)

    @staticmethod
    def _item(stored: StoredConversation, item_id: str) -> JsonObject:
        found = next((item for item in stored.items if item["id"] == item_id), None)
        if found is None:  # assumed body, as the other 404s
            raise not_found(f"Item {item_id!r} not found in this conversation.", "item_id")
        return found

    def list_items(self, conversation_id: str, query: Mapping[str, str]) -> JsonObject:
        try:
            limit = int(query.get("limit", "20"))
        except ValueError:
            raise bad_request("limit must be an integer", "limit") from None
        if not 1 <= limit <= 100:
            raise bad_request("limit must be between 1 and 100", "limit")
        order = query.get("order", "desc")
        if order not in ("asc", "desc"):
            raise bad_request("order must be asc or desc", "order")
        with self._lock:
            items = list(self._conversation(conversation_id).items)
        if order == "desc":
            items.reverse()
        after = query.get("after")
        if after:
            ids = [item["id"] for item in items]
            if after not in ids:
                raise bad_request(f"no item {after!r} in this conversation", "after")
            items = items[ids.index(after) + 1 :]
        return payloads.item_list(items[:limit], has_more=len(items) > limit)

    def get_response(self, response_id: str) -> JsonObject:
        with self._lock:
            found = self._responses.get(response_id)
        if found is None:
            raise not_found(f"Response {response_id!r} not found.", param="response_id")
        return found

    def create_response(self, body: Mapping[str, Any]) -> JsonObject:
        agent = self._agent(body)  # first: Foundry validates the payload before anything else
        if body.get("stream"):
            raise bad_request("streaming is not emulated; call without stream", "stream")
        if body.get("previous_response_id"):
            raise bad_request(
                "previous_response_id is not emulated; use conversation", "previous_response_id"
            )
        conversation_id = _reference_id(body.get("conversation"), "conversation")
        turn_input = parse_input(body.get("input"))
        triggers, texts = outcomes.find_triggers(turn_input.texts)
        turn_input = TurnInput(texts, turn_input.approvals, turn_input.outputs)
        metadata = checked_metadata(body.get("metadata"))
        with self._lock:
            if conversation_id is None:  # a one-off exchange: numbered, but not kept
                stored = self._new_conversation({})
            else:
                stored = self._conversation(conversation_id)
            for answer in turn_input.approvals:
                if answer.approval_request_id not in stored.state.approvals:
                    raise bad_request(
                        f"no pending approval request {answer.approval_request_id!r} "
                        "in this conversation",
                        "input",
                    )
            _check_function_outputs(stored.state, turn_input.outputs)
            if Trigger.BLOCKED_PROMPT in triggers:  # refused before the agent reads it
                raise prompt_blocked()
            return self._play_turn(agent, stored, turn_input, conversation_id, metadata, triggers)

    def _play_turn(
        self,
        agent: AgentSpec,
        stored: StoredConversation,
        turn_input: TurnInput,
        conversation_id: str | None,
        metadata: JsonObject,
        triggers: set[Trigger],
    ) -> JsonObject:
        stored.turns += 1
        number, turn = stored.number, stored.turns
        response_id = self._ids.make("resp", number, turn)
        if stored.unread:
            listed = stored.state.tools_listed
            for _, text in stored.unread:  # memory only: what it said then is in the items
                run_turn(agent, stored.state, text)
            stored.state.tools_listed, stored.unread = listed, []
        index = itertools.count()
        inputs: list[JsonObject] = []
        events: list[Event] = []
        answered: list[tuple[FunctionCall, str]] = []
        for given in turn_input.outputs:
            item_id = self._ids.make("fco", number, turn, next(index))
            inputs.append(payloads.function_call_output(item_id, given.call_id, given.output))
            answered.append((stored.state.function_calls.pop(given.call_id), given.output))
        if answered:
            events += resume_functions(agent, answered)
        for answer in turn_input.approvals:
            pending = stored.state.approvals.pop(answer.approval_request_id)
            item_id = self._ids.make("mcpa", number, turn, next(index))
            inputs.append(
                payloads.approval_response(
                    item_id, answer.approval_request_id, answer.approve, answer.reason
                )
            )
            events += resume_approval(
                agent, stored.state, pending, answer.approval_request_id, answer.approve
            )
        for text in turn_input.texts:
            inputs.append(
                payloads.user_message(self._ids.make("msg", number, turn, next(index)), text)
            )
        if turn_input.texts:
            events += run_turn(agent, stored.state, "\n".join(turn_input.texts))

        change = self.behaviour_change
        if change is not None and change.applies(turn):
            events = change.change_events(events)
        if self.variation is not None:
            events = self.variation.vary_events(events, self.seed, number, turn)
        output: list[JsonObject] = []
        for event in events:
            position = next(index)
            item_id = self._ids.make(payloads.ITEM_ID_PREFIXES[type(event)], number, turn, position)
            call_id = None
            if isinstance(event, ApprovalRequest):
                stored.state.approvals[item_id] = event
            elif isinstance(event, FunctionCall):
                call_id = self._ids.call_id(number, turn, position)
                stored.state.function_calls[call_id] = event
            fields = payloads.output_fields(item_id, agent, event, call_id)
            output.append(payloads.response_item(fields, agent, response_id))

        outcome = _Outcome()
        if Trigger.FAILED_RESPONSE in triggers or (
            change is not None and change.applies(turn) and change.fails_response
        ):
            output = [item for item in output if item["type"] != "message"]
            outcome = _Outcome("failed", error=dict(outcomes.FAILED_ERROR))
        elif Trigger.FILTERED_REPLY in triggers:
            output = outcomes.stop_first_message(output)
            outcome = _Outcome("incomplete", reason="content_filter")
        elif agent.max_output_tokens is not None:
            written = payloads.usage((), [i for i in output if i["type"] != "message"], agent)
            budget = agent.max_output_tokens - written["output_tokens"]
            cut = outcomes.fit_messages(output, 4 * budget)  # count_tokens: 4 characters a token
            if cut is not None:
                output = cut
                outcome = _Outcome("incomplete", reason="max_output_tokens")

        retrieved = [
            agent.knowledge.document(citation.filename).text
            for event in events
            if isinstance(event, Reply) and agent.knowledge is not None
            for citation in event.citations
        ]
        usage = payloads.usage([*stored.items, *inputs], output, agent, retrieved)
        if self.variation is not None:
            usage = self.variation.vary_usage(usage, self.seed, number, turn)
        partition = self._ids.partition(number)
        stored.items += [payloads.stored_item(item, None, partition) for item in inputs]
        stored.items += [payloads.stored_item(item, agent, partition) for item in output]
        created_at = self._ids.timestamp(number, turn)
        result = payloads.response(
            response_id=response_id,
            created_at=created_at,
            completed_at=(
                _completed_at(created_at, usage) if outcome.status == "completed" else None
            ),
            agent=agent,
            output=output,
            usage=usage,
            conversation_id=conversation_id,
            metadata=metadata,
            status=outcome.status,
            error=outcome.error,
            incomplete_reason=outcome.reason,
            content_filters=(
                outcomes.content_filters_annotation()
                if Trigger.FILTER_ANNOTATIONS in triggers
                else None
            ),
        )
        self._responses[result["id"]] = result
        return result


def _check_function_outputs(state: ConversationState, outputs: tuple[FunctionOutput, ...]) -> None:
    """Foundry's rule for client function calls: the next request in the conversation answers
    every pending call (a user message may follow the outputs), and answers no other call."""
    answered: set[str] = set()
    for output in outputs:  # a second output for one call answers no call
        if output.call_id not in state.function_calls or output.call_id in answered:
            raise unknown_tool_call(output.call_id)
        answered.add(output.call_id)
    for call_id in state.function_calls:
        if call_id not in answered:
            raise missing_tool_output(call_id)


def _completed_at(created_at: int, usage: JsonObject) -> int:
    """When the response completed: a few seconds after it started, longer for a longer
    answer (the recording's took 5 and 9 s); always before the conversation's next turn."""
    return created_at + min(1 + usage["output_tokens"] // 20, 59)


@dataclass(frozen=True)
class _Outcome:
    status: str = "completed"
    error: JsonObject | None = None
    reason: str | None = None
