"""How a turn can end other than `completed`: the content filter, an output budget, a failure.

The content filter and the failure are reached by clearly marked phrases in the user text (no
real text is offensive enough to trip a filter in a test, and none should be in a repository);
the marker is removed before the agent reads the text. The output budget is the agent's own
`max_output_tokens` (see `agents.py`). Shapes: tests/reference/content-filters.md.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterable

from foundry_goldens.emulator.engine import JsonObject


class Trigger(enum.Enum):
    BLOCKED_PROMPT = "[emulate: blocked-prompt]"
    """HTTP 400 `content_filter` before the agent runs (content-filters.md, shape 3)."""
    FILTERED_REPLY = "[emulate: filtered-reply]"
    """The reply is cut: `incomplete`, reason `content_filter` (content-filters.md, shape 2)."""
    FILTER_ANNOTATIONS = "[emulate: filter-annotations]"
    """A completed reply with a `content_filters` array (content-filters.md, shape 1)."""
    FAILED_RESPONSE = "[emulate: failed-response]"
    """`status: failed` with an `error` and no reply."""


def find_triggers(texts: Iterable[str]) -> tuple[set[Trigger], tuple[str, ...]]:
    """The triggers in the user's texts, and the texts without them."""
    found: set[Trigger] = set()
    cleaned = []
    for text in texts:
        for trigger in Trigger:
            if trigger.value in text:
                found.add(trigger)
                text = " ".join(text.replace(trigger.value, " ").split())
        cleaned.append(text)
    return found, tuple(cleaned)


# --- content filter shapes (tests/reference/content-filters.md) ---------------------------------

CATEGORIES = ("hate", "sexual", "violence", "self_harm")


def filter_results(flagged: str | None = None, severity: str = "safe") -> JsonObject:
    """Per-category `{filtered, severity}`; `flagged` gets `severity` (filtered unless `low`)."""
    return {
        category: (
            {"filtered": severity not in ("safe", "low"), "severity": severity}
            if category == flagged
            else {"filtered": False, "severity": "safe"}
        )
        for category in CATEGORIES
    }


BLOCKED_PROMPT_MESSAGE = (
    "The response was filtered due to the prompt triggering Azure OpenAI's content management "
    "policy. Please modify your prompt and retry. To learn more about our content filtering "
    "policies please read our documentation: https://go.microsoft.com/fwlink/?linkid=2198766"
)


def blocked_prompt_innererror() -> JsonObject:
    """The `innererror` of a prompt the filter rejects (shape 3): the emulator flags violence."""
    return {
        "innererror": {
            "code": "ResponsibleAIPolicyViolation",
            "content_filter_result": {
                **filter_results("violence", "medium"),
                "jailbreak": {"filtered": False, "detected": False},
            },
        }
    }


def content_filters_annotation() -> list[JsonObject]:
    """Shape 1: one entry for the prompt, one for the completion; nothing blocked, the
    completion's violence rated `low` so that a reader sees a non-trivial annotation."""
    return [
        {"blocked": False, "source_type": "prompt", "content_filter_results": filter_results()},
        {
            "blocked": False,
            "source_type": "completion",
            "content_filter_results": filter_results("violence", "low"),
        },
    ]


# Assumed: the public evidence (content-filters.md) names a failed response's status but no
# error body from Foundry; `server_error` is a code openai's `ResponseError` declares.
FAILED_ERROR: JsonObject = {
    "code": "server_error",
    "message": "The agent run failed: the model deployment did not respond. Try again later.",
}


# --- cutting a reply short ---------------------------------------------------------------------


def cut_text(text: str, max_chars: int) -> str:
    """At most `max_chars` characters of `text`, ending at a word boundary."""
    if len(text) <= max_chars:
        return text
    cut = text[:max_chars]
    return cut[: cut.rfind(" ")] if " " in cut else cut


def half_text(text: str) -> str:
    """The first half of the words: what was written before the filter stopped the reply."""
    words = text.split(" ")
    return " ".join(words[: max(1, math.ceil(len(words) / 2))])


def _cut(item: JsonObject, text: str) -> JsonObject:
    """The message `item` stopped after `text`: `incomplete`, citations past the cut dropped."""
    part = item["content"][0]
    annotations = [a for a in part["annotations"] if a.get("index", 0) <= len(text)]
    return {
        **item,
        "status": "incomplete",
        "content": [{**part, "text": text, "annotations": annotations}],
    }


def stop_first_message(output: list[JsonObject]) -> list[JsonObject]:
    """The content filter stops the reply halfway through its first message."""
    for position, item in enumerate(output):
        if item["type"] == "message":
            return [*output[:position], _cut(item, half_text(item["content"][0]["text"]))]
    return output


def fit_messages(output: list[JsonObject], max_chars: int) -> list[JsonObject] | None:
    """The output with its messages' text cut to `max_chars` in all, or None when it fits."""
    left = max_chars
    for position, item in enumerate(output):
        if item["type"] != "message":
            continue
        text = item["content"][0]["text"]
        if len(text) > left:
            return [*output[:position], _cut(item, cut_text(text, max(left, 0)))]
        left -= len(text)
    return None
