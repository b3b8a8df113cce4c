"""Deterministic ids and timestamps: a hash of (seed, conversation number, turn, item index).

Never the clock, never randomness, so the same seed fed the same requests yields the same bytes.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

# An arbitrary fixed instant (2025-06-01T00:00:00Z); every timestamp is an offset from it.
BASE_EPOCH = 1_748_736_000
_HEX_LENGTH = 48  # like real ids: `resp_` + 48 hex characters


@dataclass(frozen=True)
class IdFactory:
    seed: str

    def make(self, prefix: str, conversation: int, turn: int = 0, index: int = 0) -> str:
        """An id such as `resp_…` for the given position; `prefix` also keeps kinds apart."""
        key = f"{self.seed}\x1f{prefix}\x1f{conversation}\x1f{turn}\x1f{index}"
        return f"{prefix}_{hashlib.sha256(key.encode()).hexdigest()[:_HEX_LENGTH]}"

    def timestamp(self, conversation: int, turn: int = 0) -> int:
        """Seconds since the epoch: a seed-dependent start, one hour per conversation and a
        minute per turn, so that order in time matches order in the conversation."""
        digest = hashlib.sha256(f"{self.seed}\x1fepoch".encode()).digest()
        start = BASE_EPOCH + int.from_bytes(digest[:4], "big") % 86_400
        return start + conversation * 3_600 + turn * 60
