"""Turns replayed outputs into the golden snapshot: random ids become stable aliases.

Only identifiers are replaced (item `id`, `call_id`, `conversation_id`); everything else the
integration returned stays as it was. Aliases are numbered in order of first appearance across
the whole dialogue, so a function_call and its output still share one `call-N`, and every
turn's message shows the same `conversation-1` when the conversation persisted.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from latticeflow.core.dtypes import OpenResponsesModelOutput
from pydantic import BaseModel

from foundry_goldens.snippet.driver import TurnResult

# field name -> alias prefix
ALIASED_FIELDS = {"id": "item", "call_id": "call", "conversation_id": "conversation"}


class Aliases:
    """Stable names for random ids, one numbering per kind."""

    def __init__(self) -> None:
        self._names: dict[tuple[str, str], str] = {}
        self._counts: dict[str, int] = {}

    def __call__(self, kind: str, value: str) -> str:
        key = (kind, value)
        if key not in self._names:
            self._counts[kind] = self._counts.get(kind, 0) + 1
            self._names[key] = f"{kind}-{self._counts[kind]}"
        return self._names[key]


def _typed(model: Any, data: dict[str, Any]) -> dict[str, Any]:
    """`data` (the model as AI GO! serializes it) with its `type` first, so a reader sees what
    it is."""
    kind = getattr(model, "type", None)
    return data if kind is None else {"type": getattr(kind, "value", kind), **data}


def item_to_dict(item: BaseModel) -> dict[str, Any]:
    data = _typed(item, item.model_dump(mode="json"))
    parts = getattr(item, "content", None)
    if isinstance(data.get("content"), list) and isinstance(parts, list):
        # Content parts are typed too (output_text); the item's dump already holds each one.
        data["content"] = [
            _typed(part, dumped) if isinstance(part, BaseModel) else dumped
            for part, dumped in zip(parts, data["content"], strict=True)
        ]
    return data


def normalize_output(output: OpenResponsesModelOutput, aliases: Aliases) -> dict[str, Any]:
    items = []
    for item in output.items:
        data = item_to_dict(item)
        for field, kind in ALIASED_FIELDS.items():
            if isinstance(data.get(field), str) and data[field]:
                data[field] = aliases(kind, data[field])
        items.append(data)
    normalized: dict[str, Any] = {"items": items}
    if output.usage is not None:
        normalized["usage"] = output.usage.model_dump(mode="json")
    return normalized


def normalize_dialogue(name: str, turns: Iterable[TurnResult]) -> dict[str, Any]:
    """The snapshot document of docs/contracts.md."""
    aliases = Aliases()
    return {"dialogue": name, "turns": [_normalize_turn(t, aliases) for t in turns]}


def _normalize_turn(turn: TurnResult, aliases: Aliases) -> dict[str, Any]:
    if turn.error is not None:  # a turn that failed as its dialogue expects
        error = {"type": turn.error.type, "code": turn.error.code, "message": turn.error.message}
        return {"turn": turn.number, "user": turn.user, "error": error}
    return {
        "turn": turn.number,
        "user": turn.user,
        "output": normalize_output(turn.output, aliases),
    }
