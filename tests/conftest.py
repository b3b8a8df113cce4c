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


@pytest.fixture(autouse=True)
def output_as_ci_sees_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """The developer's terminal settings are not the product's behaviour under test: output goes
    to a pipe, 80 columns, as in CI. 80 is what rich and argparse assume for a pipe anyway, so
    pinning it hides no wrapping bug (a wide COLUMNS exported by a shell would); it only makes a
    local run and CI's agree. FORCE_COLOR and TTY_COMPATIBLE make rich treat the pipe as a
    terminal (colour codes, wrapping at COLUMNS); FORCE_COLOR and PY_COLORS colour a pytest run
    in a subprocess ("test_golden[greeting] FAILED" no longer matches). Tests of those settings
    set them themselves; subprocesses inherit this environment."""
    monkeypatch.setenv("COLUMNS", "80")
    for key in ("FORCE_COLOR", "PY_COLORS", "TTY_COMPATIBLE", "TTY_INTERACTIVE"):
        monkeypatch.delenv(key, raising=False)


@pytest.fixture(scope="session")
def snippet() -> ModuleType:
    """integration/run_inference.py, loaded by path (it is not a package), once per run."""
    return load_integration(INTEGRATION_PATH)


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """No Azure settings and no sockets: replay must need neither, even when it fails."""
    block_network(monkeypatch)
