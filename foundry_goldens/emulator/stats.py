"""Counters the emulator keeps for tests and benchmarks (thread-safe)."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class EmulatorStats:
    """A snapshot. `requests` is keyed by route, e.g. `POST /responses`; routes that matched
    nothing count under `unrouted`. `connections` counts TCP connections accepted. `sign_in`
    counts the Entra ID stand-in's requests by route, and `tokens issued` (empty without it)."""

    requests: Mapping[str, int]
    statuses: Mapping[str, int]
    faults: Mapping[str, int]
    connections: int
    conversations: int
    sign_in: Mapping[str, int] = field(default_factory=dict)

    @property
    def responses_calls(self) -> int:
        return self.requests.get("POST /responses", 0)

    def __getitem__(self, key: str) -> Any:
        """`stats["connections"]`: the same as `stats.as_dict()[key]`."""
        return self.as_dict()[key]

    def as_dict(self) -> dict[str, Any]:
        return {
            "requests": dict(self.requests),
            "statuses": dict(self.statuses),
            "faults": dict(self.faults),
            "connections": self.connections,
            "conversations": self.conversations,
            "sign_in": dict(self.sign_in),
        }


class StatsRecorder:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: Counter[str] = Counter()
        self._statuses: Counter[str] = Counter()
        self._faults: Counter[str] = Counter()
        self._connections = 0

    def connection(self) -> None:
        with self._lock:
            self._connections += 1

    def request(self, route: str) -> int:
        """Count a request; returns how many requests this route has had, this one included."""
        with self._lock:
            self._requests[route] += 1
            return self._requests[route]

    def status(self, code: int) -> None:
        with self._lock:
            self._statuses[str(code)] += 1

    def fault(self, name: str) -> None:
        with self._lock:
            self._faults[name] += 1

    def snapshot(self, conversations: int) -> EmulatorStats:
        with self._lock:
            return EmulatorStats(
                requests=dict(sorted(self._requests.items())),
                statuses=dict(sorted(self._statuses.items())),
                faults=dict(sorted(self._faults.items())),
                connections=self._connections,
                conversations=conversations,
            )
