"""Shared fixtures."""

from __future__ import annotations

import os
import socket
from types import ModuleType
from typing import Any

import pytest

from foundry_goldens.snippet.loader import load_integration


@pytest.fixture(scope="session")
def snippet() -> ModuleType:
    """integration/run_inference.py, loaded by path (it is not a package), once per run."""
    return load_integration()


class NetworkBlocked(RuntimeError):
    pass


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """No Azure settings and no sockets: replay must need neither, even when it fails."""
    for key in list(os.environ):
        if key.startswith(("AZURE_", "FOUNDRY_")):
            monkeypatch.delenv(key)

    def refuse(self: socket.socket, address: Any) -> None:
        raise NetworkBlocked(f"replay tried to reach {address!r}; the network is blocked")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
