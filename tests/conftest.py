"""Shared fixtures."""

from __future__ import annotations

from types import ModuleType

import pytest

from harness.integration_loader import load_integration


@pytest.fixture(scope="session")
def snippet() -> ModuleType:
    """integration/run_inference.py, loaded by path (it is not a package), once per run."""
    return load_integration()
