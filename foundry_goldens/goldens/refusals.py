"""Is a reply a refusal? One answer for expectations and for the change classifier.

The snippet turns a `refusal` content part into reply text, so a refusal reaches the harness as
words; these are the openings models (and Foundry's content filter messages) use.
"""

from __future__ import annotations

import re

# At the start of a sentence: "Of course. I'm sorry, but I can't help with that." is a refusal,
# "I found 2 orders; I can't help with returns of final-sale items" is not flagged mid-sentence.
REFUSAL = re.compile(
    r"(?i)(?:^|[.!?]\s+)\s*(?:i'?m sorry,?\s+(?:but\s+)?)?"
    r"(?:i\s+(?:can(?:no|')t|cannot|am not able to|won'?t|am unable to)\s+"
    r"(?:help|assist|comply|provide|do that|answer)"
    r"|(?:this|your) (?:request|prompt|message) (?:was|has been) (?:blocked|filtered)"
    r"|[\w' ]*content filter (?:blocked|filtered))"
)


def is_refusal(reply: str) -> bool:
    return bool(REFUSAL.search(reply))
