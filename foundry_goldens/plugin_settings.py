"""What the pytest plugin (plugin.py, imported by every pytest run) and its golden machinery
(pytest_goldens.py, imported only for a project with goldens) share: the option names, the
`FOUNDRY_GOLDENS_MODE` switch, the network block. Its own module so that the machinery imports
nothing from the plugin that imports it: pytest and the standard library only, as plugin.py.
"""

from __future__ import annotations

import os
from typing import Any

import pytest

# option dest -> config key
PATH_OPTIONS = {
    "goldens_snippet": "snippet",
    "goldens_dialogues": "dialogues",
    "goldens_snapshots": "snapshots",
    "goldens_cassettes": "cassettes",
}
MODE_VARIABLE = "FOUNDRY_GOLDENS_MODE"
# replay: the cassettes, offline; live: the agent AZURE_AI_PROJECT_ENDPOINT names; emulator: the
# local emulator. The last two drive each dialogue anew and write nothing.
MODES = ("replay", "live", "emulator")
MACHINERY = "foundry-goldens-machinery"


class NetworkBlocked(RuntimeError):
    pass


def block_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """No Azure settings and no sockets: replay must need neither, even when it fails."""
    import socket  # here: only a golden test (or a test of ours) needs it

    for key in list(os.environ):
        if key.startswith(("AZURE_", "FOUNDRY_")):
            monkeypatch.delenv(key)

    def refuse(self: socket.socket, address: Any) -> None:
        raise NetworkBlocked(f"replay tried to reach {address!r}; the network is blocked")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)


def golden_mode(environ: Any = None) -> str:
    """The mode `FOUNDRY_GOLDENS_MODE` asks for; a usage error naming the allowed values."""
    value = (os.environ if environ is None else environ).get(MODE_VARIABLE, "").strip()
    if not value:
        return "replay"
    if value.lower() not in MODES:
        raise pytest.UsageError(
            f"{MODE_VARIABLE}={value!r}: unknown mode; allowed: {', '.join(MODES)} (unset: replay)"
        )
    return value.lower()
