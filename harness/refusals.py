"""Is a reply a refusal? One answer for expectations and for the change classifier.

The snippet turns a `refusal` content part into reply text, so a refusal reaches the harness as
words; these are the openings models (and Foundry's content filter messages) use.
"""

from __future__ import annotations

import re

REFUSAL = re.compile(
    r"(?i)^\s*(?:i'?m sorry,?\s+(?:but\s+)?)?"
    r"(?:i\s+(?:can(?:no|')t|cannot|am not able to|won'?t|am unable to)\s+"
    r"(?:help|assist|comply|provide|do that|answer)"
    r"|(?:this|your) (?:request|prompt|message) (?:was|has been) (?:blocked|filtered))"
)


def is_refusal(reply: str) -> bool:
    return bool(REFUSAL.search(reply))
