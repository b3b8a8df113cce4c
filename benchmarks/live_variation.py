"""Does the change classifier tell a live agent's variation from a real behaviour change?

In a temporary copy of the goldens (never the repository's), for each of three seeds:

1. re-record every golden on the emulator's variation mode (`--vary SEED`: reworded replies,
   usage moving, parallel calls in either order, fresh ids);
2. run the drift check on another seed: every behaviour change reported is a false positive;
3. inject each kind of behaviour change (a tool dropped, an argument changed, the order swapped
   where the dialogue requires it, a refusal, a failed response) into one dialogue turn and run
   the drift check on another seed: the change must be reported as behaviour at that dialogue
   and turn (else a false negative); a swap of parallel calls, which the dialogue allows in any
   order, must not be (else a false positive).

    python benchmarks/live_variation.py [--seeds 1 2 3] [--samples DIR]

`--samples DIR` writes a `--check --format markdown` report and a golden diff of one
variation-mode re-recording with one injected behaviour change. Exit 1 on any false positive
or false negative.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from foundry_goldens.emulator.variation import BehaviourChange
from foundry_goldens.goldens.dialogues import load_dialogues
from foundry_goldens.recording import check_report
from foundry_goldens.recording.progress import DialogueOutcome, SilentProgress
from foundry_goldens.recording.recorder import RecordOptions, record_dialogues
from foundry_goldens.recording.targets import EmulatorTarget
from foundry_goldens.review import diff_goldens, render_markdown
from tests.paths import DIALOGUE_DIR


@dataclass(frozen=True)
class Injection:
    label: str
    dialogue: str
    turn: int
    change: BehaviourChange
    behaviour: bool = True  # False: a control that must not be reported as behaviour


INJECTIONS = (
    Injection(
        "tool dropped",
        "multi_tool_turn",
        2,
        BehaviourChange("drop_tool", tool="search_products", turn=2),
    ),
    Injection(
        "argument changed",
        "order_lookup",
        3,
        BehaviourChange("change_argument", tool="get_order", turn=3),
    ),
    Injection(
        "order swapped where required",
        "failing_tool",
        1,
        BehaviourChange("swap_order", turn=1),
    ),
    Injection("refusal", "greeting", 2, BehaviourChange("refuse", turn=2)),
    Injection("error (failed response)", "order_lookup", 2, BehaviourChange("error", turn=2)),
    Injection(
        "control: parallel calls swapped (any order allowed)",
        "multi_tool_turn",
        2,
        BehaviourChange("swap_order", turn=2),
        behaviour=False,
    ),
)


class Workspace:
    """A git repository in a temporary directory with the goldens' layout."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.dialogues = root / "goldens" / "dialogues"
        self.snapshots = root / "goldens" / "snapshots"
        self.cassettes = root / "cassettes"
        shutil.copytree(DIALOGUE_DIR, self.dialogues)
        self.snapshots.mkdir(parents=True)
        self.cassettes.mkdir()
        self.git("init", "--quiet", "--initial-branch", "main")

    def git(self, *args: str) -> None:
        subprocess.run(
            ["git", "-c", "user.name=bench", "-c", "user.email=bench@example.invalid", *args],
            cwd=self.root,
            check=True,
            capture_output=True,
        )

    def commit(self, message: str) -> None:
        self.git("add", "-A")
        self.git("commit", "--quiet", "--allow-empty", "-m", message)

    def run(
        self,
        seed: int,
        *,
        check: bool,
        change: BehaviourChange | None = None,
        only: tuple[str, ...] = (),
    ) -> list[DialogueOutcome]:
        target = EmulatorTarget(
            description=f"local Foundry emulator (variation seed {seed})",
            variation_seed=seed,
            behaviour_change=change,
        )
        options = RecordOptions(self.cassettes, self.snapshots, concurrency=4, check=check)
        dialogues = load_dialogues(self.dialogues, only)
        return record_dialogues(dialogues, target, options, SilentProgress())


def behaviour_turns(outcome: DialogueOutcome, *, by_diff_only: bool = False) -> list[int | None]:
    """Turns with a behaviour change; `by_diff_only`: found by comparing the snapshots alone,
    without the dialogue's expectations."""
    classification = outcome.classification
    if classification is None:
        return []
    return sorted(
        {
            change.turn
            for change in classification.of("behaviour")
            if not (by_diff_only and change.kind == "expectation_broken")
        },
        key=lambda turn: turn or 0,
    )


def behaviour_kinds(outcome: DialogueOutcome) -> list[str]:
    classification = outcome.classification
    if classification is None:
        return []
    return sorted({change.kind for change in classification.of("behaviour")})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--samples", type=Path, help="write a sample report and golden diff here")
    args = parser.parse_args(argv)

    false_positives: list[str] = []
    false_negatives: list[str] = []
    checks = injected = 0
    without_expectations = 0  # injected changes the snapshot comparison alone reports
    with tempfile.TemporaryDirectory(prefix="live-variation-") as temp:
        workspace = Workspace(Path(temp))
        for index, seed in enumerate(args.seeds):
            other = args.seeds[(index + 1) % len(args.seeds)] + 100 * (len(args.seeds) == 1)
            recorded = workspace.run(seed, check=False)
            failed = [f"{o.name}: {o.detail}" for o in recorded if not o.ok]
            if failed:
                print(f"seed {seed}: recording failed: {failed}")
                return 1
            workspace.commit(f"goldens recorded on variation seed {seed}")

            outcomes = workspace.run(other, check=True)
            checks += len(outcomes)
            counts = {s: sum(o.status == s for o in outcomes) for s in ("changed", "reworded")}
            for outcome in outcomes:
                if outcome.status in ("failed", "cancelled", "new"):
                    false_positives.append(f"seed {seed}->{other} {outcome.name}: {outcome.detail}")
                for turn in behaviour_turns(outcome):
                    false_positives.append(f"seed {seed}->{other} {outcome.name} turn {turn}")
            print(
                f"seed {seed} goldens, checked on seed {other}: {len(outcomes)} dialogues, "
                f"{counts['changed']} with behaviour changes, {counts['reworded']} reworded only"
            )

            for injection in INJECTIONS:
                [outcome] = workspace.run(
                    other, check=True, change=injection.change, only=(injection.dialogue,)
                )
                injected += 1
                turns = behaviour_turns(outcome)
                if injection.behaviour and injection.turn in behaviour_turns(
                    outcome, by_diff_only=True
                ):
                    without_expectations += 1
                where = f"seed {seed}->{other} {injection.label} ({injection.dialogue})"
                if injection.behaviour and injection.turn not in turns:
                    false_negatives.append(f"{where}: behaviour at turns {turns}")
                if not injection.behaviour and turns:
                    false_positives.append(f"{where}: behaviour at turns {turns}")
                print(
                    f"  {injection.label:<52} {injection.dialogue} turn {injection.turn}: "
                    f"behaviour at turn(s) {turns or 'none'} "
                    f"({', '.join(behaviour_kinds(outcome)) or '-'})"
                )

        if args.samples is not None:
            write_samples(workspace, args.seeds, args.samples)

    print(
        f"\n{checks} dialogue checks on variation seeds and {injected} injected changes: "
        f"{len(false_positives)} false positive(s), {len(false_negatives)} false negative(s)"
    )
    expected = injected * sum(i.behaviour for i in INJECTIONS) // len(INJECTIONS)
    print(
        f"injected behaviour changes found by the snapshot comparison alone (without the "
        f"dialogues' expectations): {without_expectations}/{expected}"
    )
    for line in false_positives:
        print(f"  false positive: {line}")
    for line in false_negatives:
        print(f"  false negative: {line}")
    return 1 if false_positives or false_negatives else 0


def write_samples(workspace: Workspace, seeds: list[int], out: Path) -> None:
    """A --check report and a golden diff: the goldens of the last seed re-recorded on the first
    seed with one argument changed (long_conversation turn 2: its expectations name the tool
    but not the argument, so the recording goes through and the diff is what shows it)."""
    out.mkdir(parents=True, exist_ok=True)
    change = BehaviourChange("change_argument", tool="get_order", turn=2)
    # Only long_conversation calls get_order in its second turn: the change lands there alone.
    outcomes = workspace.run(seeds[0], check=True, change=change)
    target = f"local Foundry emulator (variation seed {seeds[0]}, get_order argument changed)"
    (out / "check.md").write_text(
        check_report.render_markdown(outcomes, target, strict=False), encoding="utf-8"
    )
    workspace.run(seeds[0], check=False, change=change)  # the re-recording itself
    report = diff_goldens(workspace.root, base="HEAD")
    (out / "golden_diff.md").write_text(render_markdown(report), encoding="utf-8")
    print(f"samples: {out / 'check.md'}, {out / 'golden_diff.md'}")


if __name__ == "__main__":
    sys.exit(main())
