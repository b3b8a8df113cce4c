"""The size limits of Foundry's conversations API, checked before anything is stored.

No public body shows Foundry refusing a limit; the answer is assumed to be the closest one on
record, its single-parameter `invalid_payload` (tests/reference/errors-v1.json: the message
says what is wrong, `param` names the parameter, `details` is empty).
"""

from __future__ import annotations

from typing import Any

from foundry_goldens.emulator.engine import JsonObject
from foundry_goldens.emulator.errors import refused_parameter

# At most 20 items per conversation create or items call: Azure/azure-rest-api-specs,
# specification/ai-foundry/data-plane/Foundry/src/conversations/routes.tsp
# (createConversationItems: `@maxItems(20) items`); openai's conversations.create and
# conversations.items.create ("You may add up to 20 items at a time").
MAX_ITEMS_PER_CALL = 20
# OpenAI's `Metadata`: Foundry's conversation routes take OpenAI's own bodies (the same
# routes.tsp: `OpenAI.CreateConversationBody`, `OpenAI.UpdateConversationBody`), whose
# `metadata` openai 3.x documents (conversations.create / update, and a response's
# `metadata`): "Set of 16 key-value pairs … Keys are strings with a maximum length of 64
# characters. Values are strings with a maximum length of 512 characters."
MAX_METADATA_PAIRS = 16
MAX_METADATA_KEY_CHARS = 64
MAX_METADATA_VALUE_CHARS = 512


def checked_items(value: Any, param: str = "items") -> list[Any]:
    """A create's or items call's `items`: a list of at most MAX_ITEMS_PER_CALL."""
    if not isinstance(value, list):
        raise refused_parameter(f"Invalid '{param}': expected an array of items.", param)
    if len(value) > MAX_ITEMS_PER_CALL:
        raise refused_parameter(
            f"Invalid '{param}': at most {MAX_ITEMS_PER_CALL} items can be added at a time, "
            f"got {len(value)}.",
            param,
        )
    return value


def checked_metadata(value: Any, param: str = "metadata") -> JsonObject:
    """`metadata`: at most 16 string pairs, keys of at most 64 and values of at most 512
    characters. None stands for none."""
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise refused_parameter(f"Invalid '{param}': expected an object of strings.", param)
    if len(value) > MAX_METADATA_PAIRS:
        raise refused_parameter(
            f"Invalid '{param}': at most {MAX_METADATA_PAIRS} key-value pairs, got {len(value)}.",
            param,
        )
    for key, text in value.items():
        if len(key) > MAX_METADATA_KEY_CHARS:
            raise refused_parameter(
                f"Invalid '{param}': key '{key[:20]}…' has {len(key)} characters, "
                f"at most {MAX_METADATA_KEY_CHARS} are allowed.",
                param,
            )
        if len(text) > MAX_METADATA_VALUE_CHARS:
            raise refused_parameter(
                f"Invalid '{param}': the value of '{key}' has {len(text)} characters, "
                f"at most {MAX_METADATA_VALUE_CHARS} are allowed.",
                param,
            )
    return dict(value)
