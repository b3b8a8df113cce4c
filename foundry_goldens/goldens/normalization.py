"""Turns replayed outputs into the golden snapshot: random ids become stable aliases.

Only identifiers are replaced (item `id`, `call_id`, `conversation_id`); everything else the
integration returned stays as it was. Aliases are numbered in order of first appearance across
the whole dialogue, so a function_call and its output still share one `call-N`, and every
turn's message shows the same `conversation-1` when the conversation persisted.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable, Iterator
from enum import Enum
from typing import Any

from latticeflow.core.dtypes import OpenResponsesModelOutput
from pydantic import BaseModel

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


# latticeflow's json-mode serializers: each only writes a SecretStr's value out.
_LATTICEFLOW_JSON_SERIALIZERS = frozenset(
    {"LFBaseModel._serialize", "OpenResponsesBaseModel._serialize"}
)


def _own_serializers(schema: Any) -> Iterator[str]:
    """The function serializers anywhere in a pydantic core schema, by qualified name."""
    if isinstance(schema, dict):
        serialization = schema.get("serialization")
        if isinstance(serialization, dict) and str(serialization.get("type")).startswith(
            "function"
        ):
            yield str(getattr(serialization.get("function"), "__qualname__", "?"))
        for value in schema.values():
            yield from _own_serializers(value)
    elif isinstance(schema, list | tuple):
        for value in schema:
            yield from _own_serializers(value)


@functools.cache
def _python_dump_may_do(model: type[BaseModel]) -> bool:
    """Whether `model`'s python-mode dump is its json-mode dump wherever the former holds
    only JSON values (`_json_values`): no serializer in its schema but latticeflow's, which
    json mode alone runs, and which changes SecretStr values only (no JSON value)."""
    schema = getattr(model, "__pydantic_core_schema__", None)
    return set(_own_serializers(schema)) <= _LATTICEFLOW_JSON_SERIALIZERS


def _json_values(value: Any) -> bool:
    """Whether `value` holds JSON values only (str keys, finite floats), once its enum members
    are replaced, in place, by their values (what json mode writes for them)."""
    if type(value) is dict:
        pairs: Iterable[tuple[Any, Any]] = value.items()
    elif type(value) is list:
        pairs = enumerate(value)
    else:
        return False
    for key, item in pairs:
        if type(value) is dict and type(key) is not str:
            return False
        kind = type(item)
        if kind is str or kind is int or kind is bool or item is None:
            continue
        if kind is float:
            if not math.isfinite(item):  # json mode writes these as null
                return False
            continue
        if isinstance(item, Enum):
            plain = item.value
            if type(plain) not in (str, int, bool):
                return False
            value[key] = plain
            continue
        if not _json_values(item):
            return False
    return True


def _json_dump(model: BaseModel) -> dict[str, Any]:
    """`model.model_dump(mode="json")`: that exactly, for a fraction of the cost when the
    python-mode dump holds JSON values only (json mode runs a Python wrap serializer for
    every nested model: two thirds of normalizing a turn)."""
    if _python_dump_may_do(type(model)):
        data = model.model_dump()
        if _json_values(data):
            return data
    return model.model_dump(mode="json")


def item_to_dict(item: BaseModel) -> dict[str, Any]:
    data = _typed(item, _json_dump(item))
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
        normalized["usage"] = _json_dump(output.usage)
    return normalized
