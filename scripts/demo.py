"""`make demo`: the whole tool on the local Foundry emulator, no Azure needed.

1. a multi-turn conversation with the support agent through integration/run_inference.py;
2. every golden dialogue re-recorded against the emulator (scripts/record.py --emulator) into a
   temporary directory, never into the working tree: an edited, uncommitted cassette or snapshot
   survives the demo;
3. the fresh recording replayed offline there;
4. the fresh goldens compared byte for byte with the committed ones (git HEAD): the emulator and
   the sanitizer are deterministic, so they match.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rich.console import Console
from rich.rule import Rule

from foundry_goldens.cassettes.format import cassette_path
from foundry_goldens.config import activate, load_config
from foundry_goldens.goldens.dialogues import load_dialogue, load_dialogues
from foundry_goldens.goldens.snapshots import render_snapshot
from foundry_goldens.recording.targets import EmulatorTarget
from foundry_goldens.replay.replayer import ReplayError, replay_dialogue
from foundry_goldens.snippet.driver import drive_dialogue
from foundry_goldens.snippet.loader import load_integration
from foundry_goldens.snippet.transcript import print_transcript

PROJECT_ROOT = Path(__file__).resolve().parent.parent
CONFIG = activate(load_config(root=PROJECT_ROOT))  # [tool.foundry-goldens] of this repository
DIALOGUE_DIR = CONFIG.dialogues
SHOWCASE = DIALOGUE_DIR / "order_lookup.yaml"
RECORD_SCRIPT = Path(__file__).resolve().parent / "record.py"
# Where each kind of golden lives in the project, and its name pattern.
GOLDEN_PLACES = (("cassettes", "cassettes", "*.json"), ("snapshots", "goldens/snapshots", "*.json"))


def run(console: Console, title: str, command: list[str], cwd: Path) -> int:
    console.print(Rule(title))
    console.print(f"$ {' '.join(command)}", style="dim", highlight=False)
    return subprocess.run(command, cwd=cwd, check=False).returncode


def record_fresh(console: Console, root: Path, workdir: Path, only: Sequence[str] = ()) -> int:
    """Re-record the project's dialogues into `workdir`; the project's goldens are only read."""
    dialogues = workdir / "dialogues"
    shutil.copytree(root / "goldens" / "dialogues", dialogues)
    # This repository's configuration (its snippet); the goldens' directories are the copies.
    command = [sys.executable, str(RECORD_SCRIPT), "--config", str(PROJECT_ROOT / "pyproject.toml")]
    command += ["--emulator", "--dialogues", str(dialogues)]
    command += [
        "--cassettes",
        str(workdir / "cassettes"),
        "--snapshots",
        str(workdir / "snapshots"),
    ]
    command += [f"--only={name}" for name in only]
    return run(
        console, f"2. re-record every golden against the emulator, into {workdir}", command, root
    )


def replay_fresh(workdir: Path, only: Sequence[str] = ()) -> list[str]:
    """Replay the fresh cassettes offline: a problem per dialogue not yielding its snapshot."""
    problems = []
    for dialogue in load_dialogues(workdir / "dialogues", only):
        try:
            result = replay_dialogue(dialogue, cassette_path(workdir / "cassettes", dialogue.name))
        except ReplayError as exc:
            problems.append(str(exc))
            continue
        snapshot = workdir / "snapshots" / f"{dialogue.name}.json"
        if render_snapshot(result.snapshot()) != snapshot.read_text(encoding="utf-8"):
            problems.append(f"{dialogue.name}: the replay does not yield {snapshot}")
    return problems


def committed(root: Path, relative: str) -> bytes | None:
    """The file as committed at HEAD (None if it is not), or on disk outside a git checkout."""
    inside = subprocess.run(
        ["git", "rev-parse", "--is-inside-work-tree"], cwd=root, capture_output=True, check=False
    )
    if inside.returncode != 0:
        path = root / relative
        return path.read_bytes() if path.is_file() else None
    shown = subprocess.run(
        ["git", "show", f"HEAD:./{relative}"], cwd=root, capture_output=True, check=False
    )
    return shown.stdout if shown.returncode == 0 else None


def compare_with_committed(root: Path, workdir: Path) -> dict[str, str]:
    """Each fresh golden's project path -> "same", "differs" or "not committed"."""
    states = {}
    for fresh_dir, project_dir, pattern in GOLDEN_PLACES:
        for fresh in sorted((workdir / fresh_dir).glob(pattern)):
            relative = f"{project_dir}/{fresh.name}"
            before = committed(root, relative)
            if before is None:
                states[relative] = "not committed"
            else:
                states[relative] = "same" if before == fresh.read_bytes() else "differs"
    return states


def uncommitted_goldens(root: Path) -> str:
    status = subprocess.run(
        ["git", "status", "--porcelain", "--", "cassettes", "goldens"],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    )
    return status.stdout if status.returncode == 0 else ""


def fresh_goldens(console: Console, root: Path, only: Sequence[str] = ()) -> int:
    """Steps 2-4. The working tree is never written; a differing recording is kept to inspect."""
    workdir = Path(tempfile.mkdtemp(prefix="foundry-goldens-demo-"))
    keep = False
    try:
        if record_fresh(console, root, workdir, only):
            keep = True
            console.print(f"[red]recording failed[/]; its files are in {workdir}", highlight=False)
            return 1
        console.print(Rule("3. replay the fresh goldens offline"))
        problems = replay_fresh(workdir, only)
        for problem in problems:
            console.print(f"[red]{problem}[/]", highlight=False)
        if problems:
            keep = True
            return 1
        console.print("every fresh cassette replays to its snapshot")
        console.print(Rule("4. the fresh goldens against the committed ones"))
        states = compare_with_committed(root, workdir)
        changed = {path: state for path, state in states.items() if state != "same"}
        if changed:
            keep = True
            console.print(f"[yellow]{len(changed)} of {len(states)} files differ from HEAD:[/]")
            for path, state in changed.items():
                console.print(f"  {path}: {state}", highlight=False)
            console.print(
                f"the fresh files are in {workdir}; to review the change, record into the "
                "project (python scripts/record.py --emulator) and run "
                "python scripts/golden_diff.py --base HEAD",
                highlight=False,
            )
        else:
            console.print(
                f"[green]clean: re-recording reproduced the {len(states)} committed golden "
                "files byte for byte[/]"
            )
        edits = uncommitted_goldens(root)
        if edits:
            console.print("your uncommitted changes to the goldens were not touched:")
            console.print(edits.rstrip(), highlight=False)
        return 0
    finally:
        if not keep:
            shutil.rmtree(workdir, ignore_errors=True)


def main() -> int:
    console = Console()
    console.print(Rule("1. a conversation with the support agent, through the integration"))
    dialogue = load_dialogue(SHOWCASE)
    with EmulatorTarget().session(dialogue) as session:
        console.print(
            f"emulator at {session.endpoint}, "
            f"agent {session.environment['AZURE_FOUNDRY_AGENT_NAME']}, signing in as a service "
            f"principal at {session.environment['AZURE_AUTHORITY_HOST']} (Entra ID stand-in)"
        )
        turns = drive_dialogue(dialogue, load_integration().run_inference, session.environment)
    print_transcript(console, turns)

    return fresh_goldens(console, PROJECT_ROOT)


if __name__ == "__main__":
    sys.exit(main())
