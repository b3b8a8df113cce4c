"""Loads `integration/run_inference.py` by path.

The snippet is not a package: AI GO! inlines that one file, so the harness imports it the
same way a user would read it, from its path, and never the other way round.
"""

from __future__ import annotations

import importlib.util
import sys
import threading
from pathlib import Path
from types import ModuleType

from foundry_goldens.config import active

MODULE_NAME = "foundry_run_inference"

_lock = threading.Lock()


def load_integration(path: Path | None = None) -> ModuleType:
    """The snippet module (default: the configured `snippet`), loaded once per process (its
    client cache lives in it)."""
    path = path or active().require_snippet()
    with _lock:
        module = sys.modules.get(MODULE_NAME)
        if module is not None and Path(module.__file__ or "") == path:
            return module
        spec = importlib.util.spec_from_file_location(MODULE_NAME, path)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot load the integration snippet from {path}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[MODULE_NAME] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            sys.modules.pop(MODULE_NAME, None)
            raise
        return module
