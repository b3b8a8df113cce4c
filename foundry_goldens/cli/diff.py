"""Show what changed in the goldens (snapshots, dialogues, cassettes) between two revisions.

    foundry-goldens diff                       # merge base with the default branch -> working tree
    foundry-goldens diff --base origin/main --format json
    foundry-goldens diff --base HEAD --fail-on-change

Exit codes: 0 compared (and, with --fail-on-change, nothing changed); 1 something changed and
--fail-on-change was given; 2 the comparison could not be made (bad ref, missing or unparsable
golden). The default base is the merge base with the remote's default branch (origin/HEAD),
else with main, else master. The logic lives in foundry_goldens.review.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from foundry_goldens.cli.options import add_config_arguments, config_from_args
from foundry_goldens.config import Config, ConfigError, activate, find_pyproject, load_config
from foundry_goldens.redaction.redactor import Redactor, redact_strings
from foundry_goldens.review import (
    DEFAULT_USAGE_THRESHOLD_PERCENT,
    GoldenDiffError,
    diff_goldens,
    parse_threshold,
    render_json,
    render_markdown,
)
from foundry_goldens.review.report import GoldenDiffReport

# Errors are prefixed with the command's name, as argparse prefixes its own usage errors:
# scripts/golden_diff.py forwards to this command, so it says the same.
PROG = "foundry-goldens diff"


def _threshold(text: str) -> float:
    try:
        return parse_threshold(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a percentage like 10% or 2.5, got {text!r}"
        ) from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Report, turn by turn, what changed in the golden conversations.",
    )
    add_config_arguments(parser)
    add_arguments(parser)
    return run(parser.parse_args(argv))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--base",
        metavar="REF",
        help="base revision (default: the merge base with the remote's default branch, "
        "origin/HEAD; without one, with main, else master)",
    )
    parser.add_argument("--head", metavar="REF", help="head revision (default: the working tree)")
    parser.add_argument("--format", choices=("markdown", "json"), default="markdown")
    parser.add_argument(
        "--fail-on-change", action="store_true", help="exit 1 when anything changed"
    )
    parser.add_argument(
        "--usage-threshold",
        type=_threshold,
        default=DEFAULT_USAGE_THRESHOLD_PERCENT,
        metavar="PERCENT",
        help="report a token count only when it moved by more than this (default: %(default)g%%)",
    )
    parser.add_argument("--repo", type=Path, default=None, metavar="DIR", help="default: cwd")


def _config(args: argparse.Namespace, repo: Path) -> Config | None:
    """Given options, else the table found from the repository, else None: the default layout
    at the repository's root (any repository can be compared)."""
    options = ("root", "config", "snippet", "dialogues", "snapshots", "cassettes", "env_file")
    if any(getattr(args, name) is not None for name in (*options, "agent")):
        return config_from_args(args)
    source = find_pyproject(repo.resolve())
    return activate(load_config(config_file=source)) if source else None


def _error(message: str) -> None:
    print(f"{PROG}: error: {message}", file=sys.stderr)


def run(args: argparse.Namespace) -> int:
    repo = args.repo or Path.cwd()
    try:
        config = _config(args, repo)
    except ConfigError as error:
        _error(str(error))
        return 2
    # The report becomes a pull-request comment: a secret in a dialogue, a reply or an old
    # golden is masked here, by the same redaction as the recordings.
    try:
        settings = config.settings(os.environ) if config else dict(os.environ)
    except (ConfigError, OSError) as error:
        _error(str(error))
        return 2
    redact = Redactor.from_settings(settings)
    dirs = (config.dialogues, config.snapshots, config.cassettes) if config else None
    try:
        report = diff_goldens(repo, args.base, args.head, args.usage_threshold, dirs)
    except GoldenDiffError as error:
        _error(redact(str(error)))
        return 2
    # Before rendering (Markdown escapes and shortens text), and the rendered text once more.
    report = GoldenDiffReport.model_validate(redact_strings(report.model_dump(), redact))
    text = render_json(report) if args.format == "json" else render_markdown(report)
    sys.stdout.write(redact(text))
    return 1 if args.fail_on_change and report.changed else 0


if __name__ == "__main__":
    sys.exit(main())
