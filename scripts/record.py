"""Record golden dialogues into sanitized cassettes and snapshots.

python scripts/record.py --emulator              # against the built-in Foundry emulator
python scripts/record.py                         # live: AZURE_* settings from env or .env
python scripts/record.py --check                 # drift report; writes nothing
python scripts/record.py --check --format markdown >> "$GITHUB_STEP_SUMMARY"
python scripts/record.py --emulator --vary 1     # a live-like emulator (reworded, reordered)
python scripts/record.py --only greeting --only order_lookup --concurrency 8
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dotenv import dotenv_values
from rich.console import Console

from harness import check_report
from harness.classify import DEFAULT_USAGE_THRESHOLD_PERCENT
from harness.dialogues import DialogueError, load_dialogues
from harness.golden_diff import parse_threshold
from harness.paths import CASSETTE_DIR, DIALOGUE_DIR, PROJECT_ROOT, SNAPSHOT_DIR
from harness.progress import RichProgress, SilentProgress, summary_table
from harness.recorder import MAX_CONCURRENCY, RecordOptions, record_dialogues
from harness.targets import ConfigurationError, EmulatorTarget, choose_target


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument(
        "--emulator", action="store_true", help="record against the built-in emulator"
    )
    parser.add_argument(
        "--emulator-latency-ms", type=float, default=0.0, help="emulator latency per request"
    )
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="NAME",
        help="record only this dialogue (repeatable)",
    )
    parser.add_argument(
        "--concurrency", type=int, default=4, help=f"dialogues in parallel, 1..{MAX_CONCURRENCY}"
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="record into a temporary place, compare with the committed goldens, "
        "write nothing; exit 1 on drift",
    )
    parser.add_argument(
        "--strict",
        action="store_true",
        help="with --check: exit 1 on any change, wording and usage included "
        "(default: on behaviour changes and broken expectations only)",
    )
    parser.add_argument(
        "--format",
        choices=("text", "markdown"),
        default="text",
        help="with --check: the report as terminal text or as Markdown (a GitHub job summary; "
        "no progress bars, progress goes to stderr)",
    )
    parser.add_argument(
        "--usage-threshold",
        type=_threshold,
        default=DEFAULT_USAGE_THRESHOLD_PERCENT,
        metavar="PERCENT",
        help="with --check: token counts moving by at most this much are not reported "
        f"(default {DEFAULT_USAGE_THRESHOLD_PERCENT:g}%%)",
    )
    parser.add_argument(
        "--vary",
        type=int,
        default=None,
        metavar="SEED",
        help="with --emulator: the emulator's variation mode, a stand-in for a live model "
        "(reworded replies, usage moving a few percent, parallel tool calls in either order, "
        "fresh ids); off by default so goldens stay byte-stable",
    )
    parser.add_argument("--dialogues", type=Path, default=DIALOGUE_DIR)
    parser.add_argument("--cassettes", type=Path, default=CASSETTE_DIR)
    parser.add_argument("--snapshots", type=Path, default=SNAPSHOT_DIR)
    args = parser.parse_args(argv)
    if args.vary is not None and not args.emulator:
        parser.error("--vary needs --emulator: only the emulator has a variation mode")
    if not args.check and (args.strict or args.format != "text"):
        parser.error("--strict and --format apply to the drift report: add --check")
    return args


def _threshold(text: str) -> float:
    try:
        return parse_threshold(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    markdown = args.format == "markdown"
    # Markdown goes to stdout alone (a job summary); everything else to stderr then.
    console = Console(stderr=markdown)
    # The process environment wins over .env, as python-dotenv's load_dotenv does by default.
    settings = {**dotenv_values(PROJECT_ROOT / ".env"), **os.environ}
    try:
        target = choose_target(
            {k: v for k, v in settings.items() if v is not None},
            emulator=args.emulator,
            emulator_latency=args.emulator_latency_ms / 1000,
        )
        if args.vary is not None:
            target = EmulatorTarget(
                latency=args.emulator_latency_ms / 1000,
                description=f"local Foundry emulator (variation seed {args.vary})",
                variation_seed=args.vary,
            )
        dialogues = load_dialogues(args.dialogues, args.only)
    except (ConfigurationError, DialogueError) as exc:
        console.print(f"[red]error:[/] {exc}", highlight=False)
        return 2
    options = RecordOptions(
        cassette_dir=args.cassettes,
        snapshot_dir=args.snapshots,
        concurrency=args.concurrency,
        check=args.check,
        usage_threshold_percent=args.usage_threshold,
    )
    mode = "checking drift against" if args.check else "recording against"
    console.print(f"{mode} the {target.description}: {len(dialogues)} dialogue(s)")
    try:
        if markdown:
            outcomes = record_dialogues(dialogues, target, options, SilentProgress())
        else:
            with RichProgress(console) as progress:
                outcomes = record_dialogues(dialogues, target, options, progress)
    except ValueError as exc:
        console.print(f"[red]error:[/] {exc}", highlight=False)
        return 2
    except KeyboardInterrupt:
        console.print(
            "[red]interrupted:[/] nothing was written; the committed goldens are untouched"
        )
        return 130
    if args.check and markdown:
        sys.stdout.write(check_report.render_markdown(outcomes, target.description, args.strict))
        return check_report.exit_code(outcomes, args.strict)
    console.print(summary_table(outcomes, "drift check" if args.check else "recording"))
    for line in check_report.render_text(outcomes):
        console.print(line, highlight=False, markup=False)
    for outcome in outcomes:
        if outcome.status in ("failed", "cancelled"):
            console.print(f"[red]failed:[/] {outcome.name}: {outcome.detail}", highlight=False)
    if args.check:
        return check_report.exit_code(outcomes, args.strict)
    return 1 if any(not o.ok for o in outcomes) else 0


if __name__ == "__main__":
    sys.exit(main())
