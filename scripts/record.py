"""Record golden dialogues into sanitized cassettes and snapshots.

python scripts/record.py --emulator              # against the built-in Foundry emulator
python scripts/record.py                         # live: AZURE_* settings from env or .env
python scripts/record.py --check                 # drift report; writes nothing
python scripts/record.py --only greeting --only order_lookup --concurrency 8
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dotenv import dotenv_values
from rich.console import Console

from harness.dialogues import DialogueError, load_dialogues
from harness.log_redaction import redacting_logs
from harness.paths import CASSETTE_DIR, DIALOGUE_DIR, PROJECT_ROOT, SNAPSHOT_DIR
from harness.progress import RichProgress, print_outcomes
from harness.recorder import (
    DEFAULT_DIALOGUE_TIMEOUT_SECONDS,
    MAX_CONCURRENCY,
    RecordOptions,
    record_dialogues,
)
from harness.redaction import Redactor
from harness.targets import ConfigurationError, choose_target


def _number(text: str, *, minimum: float, inclusive: bool) -> float:
    """A finite number >= (or >) minimum; argparse names the option in its error."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(value) or value < minimum or (value == minimum and not inclusive):
        bound = ">=" if inclusive else ">"
        raise argparse.ArgumentTypeError(f"must be a finite number {bound} {minimum:g}, got {text}")
    return value


def milliseconds(text: str) -> float:
    return _number(text, minimum=0, inclusive=True)


def seconds(text: str) -> float:
    return _number(text, minimum=0, inclusive=False)


def concurrency(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if not 1 <= value <= MAX_CONCURRENCY:
        raise argparse.ArgumentTypeError(
            f"must be between 1 and {MAX_CONCURRENCY} (the model's rate_limit), got {value}"
        )
    return value


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument(
        "--emulator", action="store_true", help="record against the built-in emulator"
    )
    parser.add_argument(
        "--emulator-latency-ms",
        type=milliseconds,
        default=0.0,
        help="emulator latency per request",
    )
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="NAME",
        help="record only this dialogue (repeatable)",
    )
    parser.add_argument(
        "--concurrency",
        type=concurrency,
        default=4,
        help=f"dialogues in parallel, 1..{MAX_CONCURRENCY}",
    )
    parser.add_argument(
        "--dialogue-timeout",
        type=seconds,
        default=DEFAULT_DIALOGUE_TIMEOUT_SECONDS,
        metavar="SECONDS",
        help="deadline for one whole dialogue, retries included "
        f"(default {DEFAULT_DIALOGUE_TIMEOUT_SECONDS:g})",
    )
    parser.add_argument(
        "--turn-timeout",
        type=seconds,
        metavar="SECONDS",
        help="deadline for one turn (default: the snippet's FOUNDRY_TURN_TIMEOUT_SECONDS "
        "default, 100)",
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="record into a temporary place, compare with the committed goldens, "
        "write nothing; exit 1 on drift",
    )
    parser.add_argument("--dialogues", type=Path, default=DIALOGUE_DIR)
    parser.add_argument("--cassettes", type=Path, default=CASSETTE_DIR)
    parser.add_argument("--snapshots", type=Path, default=SNAPSHOT_DIR)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    console = Console(stderr=False)
    # The process environment wins over .env, as python-dotenv's load_dotenv does by default.
    settings = {**dotenv_values(PROJECT_ROOT / ".env"), **os.environ}
    # Everything printed or logged from here on is masked: the --check report is published.
    redact = Redactor.from_settings({k: v for k, v in settings.items() if v is not None})
    with redacting_logs(redact):
        return _run(args, console, settings, redact)


def _run(
    args: argparse.Namespace,
    console: Console,
    settings: dict[str, str | None],
    redact: Redactor,
) -> int:
    try:
        target = choose_target(
            {k: v for k, v in settings.items() if v is not None},
            emulator=args.emulator,
            emulator_latency=args.emulator_latency_ms / 1000,
        )
        dialogues = load_dialogues(args.dialogues, args.only)
    except (ConfigurationError, DialogueError) as exc:
        console.print("[red]error:[/]", redact(str(exc)), highlight=False)
        return 2
    options = RecordOptions(
        cassette_dir=args.cassettes,
        snapshot_dir=args.snapshots,
        concurrency=args.concurrency,
        check=args.check,
        dialogue_timeout=args.dialogue_timeout,
        turn_timeout=args.turn_timeout,
    )
    mode = "checking drift against" if args.check else "recording against"
    console.print(f"{mode} the {target.description}: {len(dialogues)} dialogue(s)")
    try:
        with RichProgress(console) as progress:
            outcomes = record_dialogues(dialogues, target, options, progress)
    except ValueError as exc:
        console.print("[red]error:[/]", redact(str(exc)), highlight=False)
        return 2
    except KeyboardInterrupt:
        console.print(
            "[red]interrupted:[/] nothing was written; the committed goldens are untouched"
        )
        return 130
    print_outcomes(console, outcomes, check=args.check, redact=redact)
    failed = [o for o in outcomes if o.status in ("failed", "cancelled")]
    drifted = [o for o in outcomes if o.status in ("changed", "new")]
    if failed or drifted:
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
