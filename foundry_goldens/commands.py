"""Commands as hints print them: runnable as printed, virtual environment activated or not."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path


def command(name: str = "foundry-goldens") -> str:
    """`name` when PATH finds this environment's copy; else its path (relative to the current
    directory when inside it, e.g. `.venv/bin/foundry-goldens`)."""
    script = Path(sys.executable).parent / name
    if not script.exists():
        return name
    found = shutil.which(name)
    if found is not None and Path(found).resolve() == script.resolve():
        return name
    try:
        return (
            os.path.relpath(script, Path.cwd())
            if script.is_relative_to(Path.cwd())
            else str(script)
        )
    except ValueError:
        return str(script)
