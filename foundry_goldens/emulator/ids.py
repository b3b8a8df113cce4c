"""Deterministic ids and timestamps: a hash of (seed, conversation number, turn, item index).

Never the clock, never randomness, so the same seed fed the same requests yields the same bytes.

The shapes are those of real ids (tests/reference/README.md, and every id in
tests/reference/responses/*.json): `resp_`/`msg_`/`mcp_`/… + 50 hex characters, of which the
first 18 are shared by a conversation's responses and items (the conversation's partition),
the next 8 are the creation time in hex, then 4 more and `8190`; a conversation id is
`conv_` + the same 18 hex + 32 letters and digits. Items added through the conversations API
(not written by a response) have the conversation's form: `msg_` + the 18 hex + 32 letters and
digits (tests/reference/v1/conversation_items_crud.json); a client function call's `call_id` is
`call_` + 24 letters and digits (tests/reference/v1/function_tool_conversation_v1.json).
"""

from __future__ import annotations

import hashlib
import re
import string
from dataclasses import dataclass

# An arbitrary fixed instant (2025-06-01T00:00:00Z); every timestamp is an offset from it.
BASE_EPOCH = 1_748_736_000
PARTITION_LENGTH = 18
_ALPHANUMERIC = string.digits + string.ascii_uppercase + string.ascii_lowercase
# Real ids carry this constant after the creation time (all ten in tests/reference/responses/).
_FIXED_INFIX = "8190"

ITEM_ID = re.compile(r"^(?P<prefix>[a-z]+)_(?P<partition>[0-9a-f]{18})[0-9a-f]{32}$")
CONVERSATION_ID = re.compile(r"^conv_(?P<partition>[0-9a-f]{18})[0-9A-Za-z]{32}$")
ADDED_ITEM_ID = re.compile(r"^(?P<prefix>[a-z]+)_(?P<partition>[0-9a-f]{18})[0-9A-Za-z]{32}$")
CALL_ID = re.compile(r"^call_[0-9A-Za-z]{24}$")
REQUEST_ID = re.compile(r"^[0-9a-f]{32}$")
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def _digest(*parts: object) -> bytes:
    return hashlib.sha256("\x1f".join(str(part) for part in parts).encode()).digest()


def _alphanumeric(digest: bytes, length: int) -> str:
    return "".join(_ALPHANUMERIC[byte % len(_ALPHANUMERIC)] for byte in digest[:length])


@dataclass(frozen=True)
class IdFactory:
    seed: str

    def partition(self, conversation: int) -> str:
        """The 18 hex characters every id of one conversation starts with."""
        return _digest(self.seed, "partition", conversation).hex()[:PARTITION_LENGTH]

    def conversation_id(self, conversation: int) -> str:
        tail = _alphanumeric(_digest(self.seed, "conv", conversation), 32)
        return f"conv_{self.partition(conversation)}{tail}"

    def added_item_id(self, prefix: str, conversation: int, serial: int) -> str:
        """The id of the conversation's `serial`-th item added through the conversations API
        (at creation or by an items call): the conversation's form, not a response item's."""
        tail = _alphanumeric(_digest(self.seed, "added", prefix, conversation, serial), 32)
        return f"{prefix}_{self.partition(conversation)}{tail}"

    def call_id(self, conversation: int, turn: int, index: int) -> str:
        """A client function call's `call_id`, which the caller's output answers."""
        return "call_" + _alphanumeric(_digest(self.seed, "call", conversation, turn, index), 24)

    def make(self, prefix: str, conversation: int, turn: int = 0, index: int = 0) -> str:
        """An id such as `resp_…` for the given position; `prefix` also keeps kinds apart."""
        created = self.timestamp(conversation, turn) + index  # items follow their response
        noise = _digest(self.seed, prefix, conversation, turn, index).hex()
        return (
            f"{prefix}_{self.partition(conversation)}{created:08x}"
            f"{noise[:4]}{_FIXED_INFIX}{noise[4:20]}"
        )  # 18 + 8 + 4 + 4 + 16 = 50 hex

    def timestamp(self, conversation: int, turn: int = 0) -> int:
        """Seconds since the epoch: a seed-dependent start, one hour per conversation and a
        minute per turn, so that order in time matches order in the conversation."""
        digest = _digest(self.seed, "epoch")
        start = BASE_EPOCH + int.from_bytes(digest[:4], "big") % 86_400
        return start + conversation * 3_600 + turn * 60

    def request_id(self, number: int) -> str:
        """The request id of the emulator's n-th request: 32 hex, as in the real
        `additionalInfo.request_id` values in tests/reference/errors.json (the server writes
        it as a UUID in the `X-Request-ID` of /responses calls, see `as_uuid`)."""
        return _digest(self.seed, "request", number).hex()[:32]

    def apim_request_id(self, number: int) -> str:
        """The gateway's own id of the n-th request (`apim-request-id`): a UUID of its own,
        not the `X-Request-ID` (tests/reference/v1/*.json: the two always differ)."""
        return as_uuid(_digest(self.seed, "apim", number).hex()[:32])


def as_uuid(hex32: str) -> str:
    """32 hex in the 8-4-4-4-12 form of a UUID."""
    return f"{hex32[:8]}-{hex32[8:12]}-{hex32[12:16]}-{hex32[16:20]}-{hex32[20:]}"
