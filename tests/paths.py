"""Where this repository, the reference project, keeps its goldens (its [tool.foundry-goldens]
table uses the defaults); tests that read the committed files use these."""

from __future__ import annotations

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
INTEGRATION_PATH = PROJECT_ROOT / "integration" / "run_inference.py"
DIALOGUE_DIR = PROJECT_ROOT / "goldens" / "dialogues"
SNAPSHOT_DIR = PROJECT_ROOT / "goldens" / "snapshots"
CASSETTE_DIR = PROJECT_ROOT / "cassettes"
