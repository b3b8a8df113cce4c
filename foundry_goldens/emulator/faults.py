"""Which faults the emulator injects, and on which call.

Call numbers count `POST …/responses` requests (one per agent turn, plus any retries), from 1,
in the order the emulator receives them. Faults are decided before the request reaches the
agent, so a faulted call leaves the conversation untouched, as a gateway failure would.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass


class Fault(enum.Enum):
    RATE_LIMIT = "rate_limited"  # 429 with Retry-After
    SERVER_ERROR = "failed"  # 500 with a Foundry-shaped error body
    DROP = "dropped"  # the connection is closed without any response
    MALFORMED = "malformed"  # 200 whose JSON body is cut short
    STALL = "stalled"  # headers, then one byte of body every `stall_interval` seconds
    HANG = "hung"  # the request is read and never answered


@dataclass(frozen=True)
class FaultConfig:
    """Faults to inject. The default injects nothing.

    latency: seconds slept before answering every API request (not the admin route).
    rate_limit_every: answer every Nth responses call with 429 (0 = never).
    retry_after: the delay the 429 asks for, in seconds; sent as `retry-after-ms` and as
        `Retry-After` (whole seconds, rounded up), as Azure OpenAI does. openai prefers the
        former, so a small value keeps retrying tests fast.
    fail_call / drop_call / malformed_call: the responses call number that gets a 500 / a
        dropped connection / a malformed JSON body (None = never).
    stall_call: the responses call number answered with headers and then one byte of body
        every `stall_interval` seconds, never finishing (a client without a total deadline
        waits forever: each byte resets its read timeout).
    hang_call: the responses call number that is read and never answered.
    A stalled or hung call ends when the client disconnects or the emulator stops.
    """

    latency: float = 0.0
    rate_limit_every: int = 0
    retry_after: float = 0.05
    fail_call: int | None = None
    drop_call: int | None = None
    malformed_call: int | None = None
    stall_call: int | None = None
    stall_interval: float = 5.0
    hang_call: int | None = None

    def __post_init__(self) -> None:
        if not (math.isfinite(self.latency) and self.latency >= 0):
            raise ValueError(f"latency must be a finite number of seconds >= 0, got {self.latency}")
        if self.rate_limit_every < 0:
            raise ValueError(f"rate_limit_every must be >= 0, got {self.rate_limit_every}")
        if not (math.isfinite(self.retry_after) and self.retry_after >= 0):
            raise ValueError(
                f"retry_after must be a finite number of seconds >= 0, got {self.retry_after}"
            )
        if not (math.isfinite(self.stall_interval) and self.stall_interval > 0):
            raise ValueError(
                f"stall_interval must be a finite number of seconds > 0, got {self.stall_interval}"
            )
        for name in ("fail_call", "drop_call", "malformed_call", "stall_call", "hang_call"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name} counts responses calls from 1, got {value}")

    def fault_for(self, call: int) -> Fault | None:
        """The fault for the given responses call number (from 1), if any."""
        if call == self.drop_call:
            return Fault.DROP
        if call == self.fail_call:
            return Fault.SERVER_ERROR
        if call == self.malformed_call:
            return Fault.MALFORMED
        if call == self.stall_call:
            return Fault.STALL
        if call == self.hang_call:
            return Fault.HANG
        if self.rate_limit_every and call % self.rate_limit_every == 0:
            return Fault.RATE_LIMIT
        return None
