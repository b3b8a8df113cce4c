"""Loads `integration/run_inference.py` by path.

The snippet is not a package: AI GO! inlines that one file, so the harness imports it the
same way a user would read it, from its path, and never the other way round. A snippet that
cannot be loaded (not valid Python, or raising while it is imported) is a `SnippetError`
naming the file, never a traceback: the command exits 2 with it, a golden test fails with it.
"""

from __future__ import annotations

import importlib.util
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

from foundry_goldens.config import active

MODULE_NAME = "foundry_run_inference"
ENTRY_POINT = "run_inference"

_lock = threading.Lock()


class SnippetError(ValueError):
    """The snippet cannot be loaded or has no `run_inference`; the message names the file."""


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
            raise SnippetError(f"{path}: cannot be loaded as a Python file (snippet, --snippet)")
        module = importlib.util.module_from_spec(spec)
        sys.modules[MODULE_NAME] = module
        try:
            spec.loader.exec_module(module)
        except SyntaxError as error:  # IndentationError and a source that is not UTF-8 too
            sys.modules.pop(MODULE_NAME, None)
            where = f"{error.filename or path}" + (f":{error.lineno}" if error.lineno else "")
            raise SnippetError(
                f"{where}: the snippet is not valid Python: {error.msg} (snippet, --snippet)"
            ) from None
        except OSError as error:
            sys.modules.pop(MODULE_NAME, None)
            raise SnippetError(
                f"{path}: the snippet cannot be read: {error.strerror or error} "
                "(snippet, --snippet)"
            ) from None
        except Exception as error:
            sys.modules.pop(MODULE_NAME, None)
            raise SnippetError(
                f"{path}: the snippet raised while loading: {type(error).__name__}: {error}"
            ) from error
        except BaseException:
            sys.modules.pop(MODULE_NAME, None)
            raise
        return module


def run_inference_of(module: ModuleType) -> Callable[..., Any]:
    """The snippet's `run_inference`, or a SnippetError naming the file: the one name of the
    snippet the harness relies on (its other names are the snippet's own business)."""
    entry = getattr(module, ENTRY_POINT, None)
    if not callable(entry):
        raise SnippetError(
            f"{module.__file__}: defines no {ENTRY_POINT}(body, environment) function, "
            "which AI GO! calls (snippet, --snippet)"
        )
    return entry
