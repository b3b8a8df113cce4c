"""A small rule engine that plays one scripted agent turn.

An agent is data (see `agents.py`): slots it can pick out of user text, intents recognised by
patterns, the tool calls each intent makes once the slots it needs are known, and how each
tool's output is put into words. Per turn the engine:

1. fills slots from the user text (a slot the agent just asked for may take the whole reply);
2. picks the intents: those whose patterns match, else the ones still waiting for a slot, else
   one triggered by a newly given slot; small talk answers only when nothing else does;
3. runs each intent's calls whose slots are known (a tool that needs approval stops the turn
   with an approval request; a client-side function stops it with a function call, which the
   caller runs), renders their outputs, and asks for the first missing slot.

It returns abstract events; `payloads.py` turns them into Foundry items with ids.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

JsonObject = dict[str, Any]


# --- what an agent is made of ------------------------------------------------------------------


@dataclass(frozen=True)
class ToolResult:
    """What an MCP tool gave back: JSON output, or an MCP error object (then the call failed)."""

    output: Any = None
    error: JsonObject | None = None


@dataclass(frozen=True)
class ToolSpec:
    name: str
    description: str
    input_schema: JsonObject
    run: Callable[[Mapping[str, str]], ToolResult]
    render: Callable[[Mapping[str, str], ToolResult, Mapping[str, str]], str]
    """(arguments, result, conversation slots) -> the sentence the agent says about it."""
    read_only: bool = True
    denied: str = "Understood, I did not run {tool}."
    """Reply when an approval for this tool is denied; formatted with the arguments and `tool`."""


@dataclass(frozen=True)
class FunctionSpec:
    """A client-side function tool: the agent only calls it; the caller runs it and sends the
    output back (`function_call_output`), which the agent then puts into words."""

    name: str
    description: str
    parameters: JsonObject
    render: Callable[[Mapping[str, str], str], str]
    """(arguments, the output text the caller sent) -> the sentence the agent says about it."""


@dataclass(frozen=True)
class SlotSpec:
    name: str
    patterns: tuple[str, ...]
    """Regexes with one group; the first match wins. Add `(?i)` for case-insensitive."""
    question: str
    """Asked when an intent needs this slot and it is not known yet."""
    free_text: bool = False
    """When the agent has just asked for this slot, a reply no pattern matches is the value."""
    normalize: Callable[[str], str] = str.strip


@dataclass(frozen=True)
class Call:
    tool: str
    args: Mapping[str, str]
    """tool argument -> slot that supplies it."""
    when: tuple[str, ...] | None = None
    """Slots that must be known to make the call; None means all the intent needs."""
    unless: tuple[str, ...] = ()
    """Skip the call when any of these slots is known."""


@dataclass(frozen=True)
class Intent:
    name: str
    patterns: tuple[str, ...]
    needs: tuple[str, ...] = ()
    calls: tuple[Call, ...] = ()
    reply: str = ""
    """Said once the intent is complete; formatted with the slots."""
    small_talk: bool = False
    """Answers only alongside or instead of tasks, never waits for slots."""
    offer_help: bool = False
    """When this small talk is all the turn says, add the agent's help text."""
    triggered_by: tuple[str, ...] = ()
    """A newly given value of these slots starts this intent when nothing else was asked."""
    consumes: tuple[str, ...] = ()
    """Slots forgotten once the intent is complete (e.g. a return reason)."""
    search: str = ""
    """A query for the agent's file_search tool: the turn makes one `file_search_call`."""
    cites: tuple[str, ...] = ()
    """Knowledge-base files the reply cites (`file_citation` annotations at its end)."""
    reasoning: str = ""
    """A reasoning summary: the turn starts with a `reasoning` item (reasoning models)."""


@dataclass(frozen=True)
class Document:
    file_id: str
    filename: str
    text: str


@dataclass(frozen=True)
class KnowledgeBase:
    """The files behind an agent's file_search tool, in one vector store."""

    vector_store_id: str
    documents: tuple[Document, ...]

    def document(self, filename: str) -> Document:
        for document in self.documents:
            if document.filename == filename:
                return document
        raise KeyError(f"the knowledge base has no file {filename!r}")


@dataclass(frozen=True)
class AgentSpec:
    name: str
    version: str
    model: str
    instructions: str
    server_label: str
    server_url: str
    tools: tuple[ToolSpec, ...]
    slots: tuple[SlotSpec, ...]
    intents: tuple[Intent, ...]
    help_text: str
    fallback: str
    require_approval: frozenset[str] = frozenset()
    knowledge: KnowledgeBase | None = None
    """Files the agent's file_search tool searches; None: no file_search tool."""
    message_per_intent: bool = False
    """Answer each intent of a turn in its own message item (small talk joins the next)."""
    max_output_tokens: int | None = None
    """Output budget per response; a longer answer is cut (`incomplete`, `max_output_tokens`)."""
    functions: tuple[FunctionSpec, ...] = ()
    """Client-side function tools: a `Call` naming one ends the turn with a function call."""
    reasoning_effort: str = "none"
    """What a response's `reasoning.effort` says (a reasoning model thinks at some effort)."""

    def function(self, name: str) -> FunctionSpec | None:
        return next((f for f in self.functions if f.name == name), None)

    def tool(self, name: str) -> ToolSpec:
        for tool in self.tools:
            if tool.name == name:
                return tool
        raise KeyError(f"agent {self.name!r} has no tool {name!r}")

    def slot(self, name: str) -> SlotSpec:
        for slot in self.slots:
            if slot.name == name:
                return slot
        raise KeyError(f"agent {self.name!r} has no slot {name!r}")


# --- what a turn produces ----------------------------------------------------------------------


@dataclass(frozen=True)
class ListTools:
    pass


@dataclass(frozen=True)
class ToolCall:
    name: str
    arguments: Mapping[str, str]
    result: ToolResult
    approval_request_id: str | None = None
    intent: str = ""
    """The intent that made the call: calls of different intents are independent (parallel)."""


@dataclass(frozen=True)
class ApprovalRequest:
    name: str
    arguments: Mapping[str, str]
    said_before: tuple[str, ...] = ()
    """What the turn had said before it stopped to wait; said when it resumes."""


@dataclass(frozen=True)
class FunctionCall:
    """A call of a client-side function: the response ends with it and waits for its output."""

    name: str
    arguments: Mapping[str, str]
    said_before: tuple[str, ...] = ()
    """What the turn had said before it stopped to wait; said with the function's result."""


@dataclass(frozen=True)
class Citation:
    file_id: str
    filename: str
    index: int
    """Offset in the message text the citation belongs after."""


@dataclass(frozen=True)
class Reply:
    text: str
    citations: tuple[Citation, ...] = ()


@dataclass(frozen=True)
class Reasoning:
    summary: str


@dataclass(frozen=True)
class FileSearch:
    queries: tuple[str, ...]


Event = ListTools | ToolCall | ApprovalRequest | FunctionCall | Reply | Reasoning | FileSearch


@dataclass
class ConversationState:
    """What the agent remembers about one conversation."""

    slots: dict[str, str] = field(default_factory=dict)
    pending: list[str] = field(default_factory=list)
    awaiting: str | None = None
    approvals: dict[str, ApprovalRequest] = field(default_factory=dict)
    """Approval requests still unanswered, by their `mcpr_…` id."""
    function_calls: dict[str, FunctionCall] = field(default_factory=dict)
    """Client function calls still waiting for their output, by `call_id`, in call order."""
    tools_listed: bool = False


def arguments_json(arguments: Mapping[str, str]) -> str:
    """Tool arguments as a model would write them: compact JSON, non-ASCII kept."""
    return json.dumps(dict(arguments), ensure_ascii=False, separators=(",", ":"))


# --- the engine --------------------------------------------------------------------------------


def _search(pattern: str, text: str) -> re.Match[str] | None:
    return re.search(pattern, text)


def extract_slots(agent: AgentSpec, text: str, awaiting: str | None) -> tuple[dict[str, str], bool]:
    """Slot values found in `text`, and whether the awaited slot took the whole text."""
    found: dict[str, str] = {}
    for slot in agent.slots:
        for pattern in slot.patterns:
            match = _search(pattern, text)
            if match and match.group(1).strip():
                found[slot.name] = slot.normalize(match.group(1))
                break
    if awaiting and awaiting not in found and text.strip():
        slot = agent.slot(awaiting)
        if slot.free_text:
            found[awaiting] = slot.normalize(text.strip().rstrip(".!"))
            return found, True
    return found, False


def _choose_intents(
    agent: AgentSpec, state: ConversationState, text: str, new_slots: set[str], free_text: bool
) -> tuple[list[Intent], list[Intent]]:
    by_name = {intent.name: intent for intent in agent.intents}
    matched = (
        [] if free_text else [i for i in agent.intents if any(_search(p, text) for p in i.patterns)]
    )
    tasks = [i for i in matched if not i.small_talk]
    small_talk = [i for i in matched if i.small_talk]
    if not tasks:
        tasks = [by_name[name] for name in state.pending]
    if not tasks:
        tasks = [i for i in agent.intents if new_slots & set(i.triggered_by)][:1]
    return tasks, small_talk


@dataclass(frozen=True)
class _Part:
    """One thing the agent says: its text, the files it cites, whether it answers a task."""

    text: str
    cites: tuple[str, ...] = ()
    task: bool = False


def _replies(agent: AgentSpec, parts: list[_Part]) -> list[Reply]:
    """The turn's message items: one, or one per answered task (`message_per_intent`)."""
    groups: list[list[_Part]] = [[]]
    for part in parts:
        if agent.message_per_intent and part.task and any(p.task for p in groups[-1]):
            groups.append([])
        groups[-1].append(part)
    replies = []
    for group in groups:
        text, citations = "", []
        for part in group:
            text = f"{text} {part.text}" if text else part.text
            for filename in part.cites:
                if agent.knowledge is None:
                    raise ValueError(f"{agent.name} cites {filename} without a knowledge base")
                document = agent.knowledge.document(filename)
                citations.append(Citation(document.file_id, document.filename, len(text)))
        replies.append(Reply(text, tuple(citations)))
    return replies


def run_turn(agent: AgentSpec, state: ConversationState, text: str) -> list[Event]:
    """Play one user turn; updates `state` and returns the turn's events."""
    events: list[Event] = []
    if agent.tools and not state.tools_listed:
        events.append(ListTools())
        state.tools_listed = True

    found, free_text = extract_slots(agent, text, state.awaiting)
    new_slots = {name for name, value in found.items() if state.slots.get(name) != value}
    state.slots.update(found)
    tasks, small_talk = _choose_intents(agent, state, text, new_slots, free_text)

    # A reasoning model thinks first, then searches its files, then answers.
    reasoning = " ".join(i.reasoning for i in (*small_talk, *tasks) if i.reasoning)
    if reasoning:
        events.append(Reasoning(reasoning))
    queries = tuple(i.search for i in tasks if i.search)
    if queries:
        events.append(FileSearch(queries))

    said = [_Part(intent.reply.format_map(state.slots)) for intent in small_talk]
    state.pending = []
    missing_slot: str | None = None
    done: set[tuple[str, str]] = set()
    function_calls: list[FunctionCall] = []
    for intent in tasks:
        for call in intent.calls:
            required = intent.needs if call.when is None else call.when
            if any(s not in state.slots for s in required) or any(
                s in state.slots for s in call.unless
            ):
                continue
            arguments = {arg: state.slots[slot] for arg, slot in call.args.items()}
            key = (call.tool, arguments_json(arguments))
            if key in done:
                continue
            done.add(key)
            function = agent.function(call.tool)
            if function is not None:  # the caller runs it: the answer waits for its output
                function_calls.append(FunctionCall(function.name, arguments))
                continue
            tool = agent.tool(call.tool)
            if tool.name in agent.require_approval:
                # The turn waits for the approval: no message until it is answered.
                events.append(
                    ApprovalRequest(tool.name, arguments, tuple(part.text for part in said))
                )
                for slot in intent.consumes:
                    state.slots.pop(slot, None)
                state.awaiting = None
                return events
            result = tool.run(arguments)
            events.append(ToolCall(tool.name, arguments, result, intent=intent.name))
            said.append(_Part(tool.render(arguments, result, state.slots), task=True))
        missing = [slot for slot in intent.needs if slot not in state.slots]
        if missing:
            state.pending.append(intent.name)
            missing_slot = missing_slot or missing[0]
        else:
            if intent.reply:
                said.append(_Part(intent.reply.format_map(state.slots), intent.cites, task=True))
            for slot in intent.consumes:
                state.slots.pop(slot, None)

    state.awaiting = missing_slot
    if missing_slot:
        said.append(_Part(agent.slot(missing_slot).question))
    if function_calls:  # the response ends with the calls; what it would say waits for them
        said_before = tuple(part.text for part in said)
        return events + [replace(call, said_before=said_before) for call in function_calls]
    if not tasks:
        if not small_talk:
            said += [_Part(agent.fallback), _Part(agent.help_text)]
        elif any(intent.offer_help for intent in small_talk):
            said.append(_Part(agent.help_text))
    events += _replies(agent, said)
    return events


def resume_approval(
    agent: AgentSpec,
    state: ConversationState,
    pending: ApprovalRequest,
    approval_request_id: str,
    approve: bool,
) -> list[Event]:
    """Continue a turn that waited for approval: run the tool or say it was not run."""
    tool = agent.tool(pending.name)
    said = [_Part(text) for text in pending.said_before]
    events: list[Event] = []
    if approve:
        result = tool.run(pending.arguments)
        events.append(ToolCall(tool.name, pending.arguments, result, approval_request_id))
        said.append(_Part(tool.render(pending.arguments, result, state.slots), task=True))
    else:
        said.append(_Part(tool.denied.format_map({**pending.arguments, "tool": tool.name})))
    events += _replies(agent, said)
    return events


def resume_functions(agent: AgentSpec, answered: Sequence[tuple[FunctionCall, str]]) -> list[Event]:
    """Continue a turn that waited for its function calls: each output, put into words."""
    said = [_Part(text) for text in (answered[0][0].said_before if answered else ())]
    for call, output in answered:
        function = agent.function(call.name)
        if function is None:
            raise ValueError(f"{agent.name} has no function {call.name!r}")
        said.append(_Part(function.render(call.arguments, output), task=True))
    return [*_replies(agent, said)]
