"""`make demo` never writes the project's goldens: it records into a temporary directory and
compares with HEAD, so an edited, uncommitted cassette and snapshot survive it."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
from pathlib import Path
from types import ModuleType

import pytest
from rich.console import Console

from tests.paths import PROJECT_ROOT

NAME = "greeting"
FILES = (
    f"goldens/dialogues/{NAME}.yaml",
    f"cassettes/{NAME}.json",
    f"goldens/snapshots/{NAME}.json",
)


@pytest.fixture(scope="module")
def demo() -> ModuleType:
    spec = importlib.util.spec_from_file_location("demo", PROJECT_ROOT / "scripts" / "demo.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def git(root: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=root, check=True, capture_output=True)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A checkout holding one committed golden, as a user's clone would."""
    root = tmp_path / "project"
    for relative in FILES:
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(PROJECT_ROOT / relative, root / relative)
    git(root, "init", "-q")
    git(root, "add", ".")
    git(root, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "goldens")
    return root


def test_uncommitted_edits_survive_the_demo(demo: ModuleType, project: Path) -> None:
    cassette, snapshot = project / FILES[1], project / FILES[2]
    edited_cassette = cassette.read_text(encoding="utf-8") + "# reviewed by hand\n"
    edited_snapshot = snapshot.read_text(encoding="utf-8").replace("\n", "\n ", 1)
    cassette.write_text(edited_cassette, encoding="utf-8")
    snapshot.write_text(edited_snapshot, encoding="utf-8")
    console = Console(record=True, width=200)

    assert demo.fresh_goldens(console, project, only=[NAME]) == 0

    assert cassette.read_text(encoding="utf-8") == edited_cassette
    assert snapshot.read_text(encoding="utf-8") == edited_snapshot
    output = console.export_text()
    # The fresh recording equals HEAD, not the edited working tree; the edits are named.
    assert "reproduced the 2 committed golden files byte for byte" in output
    assert f"M cassettes/{NAME}.json" in output and f"M goldens/snapshots/{NAME}.json" in output
    assert not list(project.glob("cassettes/.record*")), "nothing staged in the project either"


def test_a_recording_that_differs_from_head_is_reported(
    demo: ModuleType, project: Path, tmp_path: Path
) -> None:
    cassette = project / FILES[1]
    cassette.write_text(cassette.read_text(encoding="utf-8") + "# committed edit\n", "utf-8")
    git(project, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qam", "edit")
    console = Console(record=True, width=400)

    assert demo.fresh_goldens(console, project, only=[NAME]) == 0

    output = console.export_text()
    assert f"1 of 2 files differ from HEAD:\n  cassettes/{NAME}.json: differs" in output
    kept = output.split("the fresh files are in ", 1)[1].split(";", 1)[0]
    try:
        assert "# committed edit" not in Path(kept, "cassettes", f"{NAME}.json").read_text("utf-8")
    finally:
        shutil.rmtree(kept)
