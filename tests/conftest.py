"""Shared fixtures. The golden replay tests themselves come from the foundry-goldens pytest
plugin (foundry_goldens/plugin.py), as in any project that installs the package."""

from __future__ import annotations

from types import ModuleType

import pytest

from foundry_goldens.plugin import NetworkBlocked, block_network
from foundry_goldens.snippet.loader import load_integration
from tests.paths import INTEGRATION_PATH
from tests.scripted_foundry import foundry

__all__ = ["NetworkBlocked", "foundry"]  # foundry: the scripted Foundry fixture


@pytest.fixture(scope="session")
def snippet() -> ModuleType:
    """integration/run_inference.py, loaded by path (it is not a package), once per run."""
    return load_integration(INTEGRATION_PATH)


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """No Azure settings and no sockets: replay must need neither, even when it fails."""
    block_network(monkeypatch)
