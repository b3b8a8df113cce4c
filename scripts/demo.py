"""`make demo`: the whole tool on the local Foundry emulator, no Azure needed.

1. a multi-turn conversation with the support agent through integration/run_inference.py;
2. every golden dialogue re-recorded against the emulator (foundry-goldens record --emulator);
3. the offline replay tests on the fresh goldens;
4. git status of the goldens: the emulator and the sanitizer are deterministic, so it is clean.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rich.console import Console
from rich.rule import Rule

from foundry_goldens.config import activate, load_config
from foundry_goldens.goldens.dialogues import load_dialogue
from foundry_goldens.recording.targets import EmulatorTarget
from foundry_goldens.snippet.driver import drive_dialogue
from foundry_goldens.snippet.loader import load_integration
from foundry_goldens.snippet.transcript import print_transcript

PROJECT_ROOT = Path(__file__).resolve().parent.parent
CONFIG = activate(load_config(root=PROJECT_ROOT))  # [tool.foundry-goldens] of this repository
SHOWCASE = CONFIG.dialogues / "order_lookup.yaml"


def run(console: Console, title: str, command: list[str]) -> int:
    console.print(Rule(title))
    console.print(f"$ {' '.join(command)}", style="dim", highlight=False)
    return subprocess.run(command, cwd=PROJECT_ROOT, check=False).returncode


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

    python = sys.executable
    if run(
        console,
        "2. re-record every golden against the emulator",
        [python, "-m", "foundry_goldens", "record", "--emulator"],
    ):
        return 1
    if run(
        console,
        "3. replay the goldens offline",
        [python, "-m", "pytest", str(CONFIG.dialogues.relative_to(PROJECT_ROOT)), "-q"],
    ):
        return 1
    console.print(Rule("4. git status of the goldens"))
    status = subprocess.run(
        ["git", "status", "--porcelain", "--", "cassettes", "goldens"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if status.returncode != 0:
        console.print("(not a git checkout; skipped)")
    elif status.stdout.strip():
        console.print("[yellow]the goldens changed; review with .venv/bin/foundry-goldens diff[/]")
        console.print(status.stdout, highlight=False)
    else:
        console.print(
            "[green]clean: re-recording reproduced the committed goldens byte for byte[/]"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
