"""Record golden dialogues into sanitized cassettes and snapshots.

foundry-goldens record --emulator              # against the built-in Foundry emulator
foundry-goldens record --emulator --missing    # only the dialogues without a golden yet
foundry-goldens record                         # live: AZURE_* settings from env or env-file
foundry-goldens record --check                 # drift report; writes nothing
foundry-goldens record --check --format markdown >> "$GITHUB_STEP_SUMMARY"
foundry-goldens record --emulator --vary 1     # a live-like emulator (reworded, reordered)
foundry-goldens record --only greeting --only order_lookup --concurrency 8
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import sys
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from foundry_goldens.cassettes import format as cassette_format
from foundry_goldens.cli.options import add_config_arguments, config_from_args
from foundry_goldens.config import (
    PROJECT_ENDPOINT_KEY,
    Config,
    ConfigError,
    GoldenDirectory,
    UnsafeGoldenPath,
    check_project_endpoint,
)
from foundry_goldens.goldens.dialogues import Dialogue, DialogueError, load_dialogues
from foundry_goldens.goldens.publishing import PublishError, refuse_linked_goldens
from foundry_goldens.recording import check_report
from foundry_goldens.recording.progress import (
    DialogueOutcome,
    RichProgress,
    SilentProgress,
    make_console,
    print_outcomes,
)
from foundry_goldens.recording.recorder import (
    DEFAULT_DIALOGUE_TIMEOUT_SECONDS,
    MAX_CONCURRENCY,
    RecordOptions,
    record_dialogues,
)
from foundry_goldens.recording.targets import (
    ConfigurationError,
    EmulatorTarget,
    LiveTarget,
    choose_target,
)
from foundry_goldens.redaction.logs import redacting_logs
from foundry_goldens.redaction.redactor import Redactor
from foundry_goldens.review import parse_threshold
from foundry_goldens.review.classify import DEFAULT_USAGE_THRESHOLD_PERCENT


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
        prog="foundry-goldens record",
        description=__doc__,
        formatter_class=argparse.RawTextHelpFormatter,
    )
    add_config_arguments(parser)
    add_arguments(parser)
    args = parser.parse_args(argv)
    validate(parser, args)
    return args


def add_arguments(parser: argparse.ArgumentParser) -> None:
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
        "--missing",
        action="store_true",
        help="record only the dialogues that have no golden yet (no cassette or no snapshot), "
        "as vcrpy's `once` mode records only missing cassettes; the others are left as they are",
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


def validate(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if args.vary is not None and not args.emulator:
        parser.error("--vary needs --emulator: only the emulator has a variation mode")
    if not args.check and (args.strict or args.format != "text"):
        parser.error("--strict and --format apply to the drift report: add --check")
    if args.missing and args.check:
        parser.error(
            "--missing records what has no golden yet, and --check compares with the goldens "
            "there are: use one of them"
        )


def refuse_linked_dialogues(directory: Path) -> None:
    """A dialogue file that is a symbolic link is refused before it is read (it could show
    any file of this machine in an error message)."""
    with GoldenDirectory.open(directory) as opened:
        for name in opened.names():
            if name.endswith((".yaml", ".yml")):
                opened.refuse_link(name, "dialogue file")


def _one_line(exc: OSError) -> str:
    if isinstance(exc, PublishError) or exc.strerror is None:
        return str(exc)
    where = f": {exc.filename}" if exc.filename else ""
    return f"{exc.strerror}{where}"


def _threshold(text: str) -> float:
    try:
        return parse_threshold(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def main(argv: list[str] | None = None) -> int:
    return run(parse_args(argv))


# The CA bundles of a live recording: requests' (the service principal's sign-in, which the
# snippet passes as connection_verify) and OpenSSL's (openai's HTTP client to Foundry, read from
# the process environment).
CA_BUNDLE_KEYS = ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE", "SSL_CERT_DIR")
TLS_VERIFY_FAILED = ("CERTIFICATE_VERIFY_FAILED", "certificate verification failed")


def run(args: argparse.Namespace) -> int:
    markdown = args.format == "markdown"
    # The report on stdout (a Markdown job summary: alone there, everything else on stderr);
    # errors and warnings on stderr.
    out = make_console(stderr=markdown)
    err = make_console(stderr=True)
    try:
        config = config_from_args(args)
        # Before anything is read or written: recording cleans and replaces files there.
        config.require_separate_directories()
        # The env-file's values, the process environment winning (as load_dotenv does).
        settings: dict[str, str | None] = dict(config.settings(os.environ))
    except ConfigError as exc:
        err.print("[red]error:[/]", escape(str(exc)), highlight=False)
        return 2
    stray = config.root / ".env"
    if stray.is_file() and stray.resolve() != config.env_file.resolve():
        # One .env location: say so rather than silently ignore a file a user expects read.
        err.print(
            "[yellow]note:[/]",
            escape(
                f"{stray} is not read; live settings come from {config.env_file} "
                f"({config.where('env-file')})"
            ),
            highlight=False,
        )
    # Everything printed or logged from here on is masked: the --check report is published.
    redact = Redactor.from_settings({k: v for k, v in settings.items() if v is not None})
    with redacting_logs(redact):
        return _run(args, config, (out, err), settings, redact)


def _run(
    args: argparse.Namespace,
    config: Config,
    consoles: tuple[Console, Console],
    settings: dict[str, str | None],
    redact: Redactor,
) -> int:
    out, err = consoles
    markdown = args.format == "markdown"
    # Where each setting came from, before _use_ca_settings adds the env-file's TLS settings.
    environ = dict(os.environ)
    try:
        target = choose_target(
            {k: v for k, v in settings.items() if v is not None},
            emulator=args.emulator,
            emulator_latency=args.emulator_latency_ms / 1000,
        )
        if isinstance(target, LiveTarget):
            check_project_endpoint(target.endpoint, config.origin(PROJECT_ENDPOINT_KEY, environ))
            _use_ca_settings(config, settings, err, redact)
        if args.vary is not None and isinstance(target, EmulatorTarget):
            target = dataclasses.replace(
                target,
                description=f"local Foundry emulator (variation seed {args.vary})",
                variation_seed=args.vary,
            )
        config.require_snippet()
        refuse_linked_dialogues(config.require_dialogues())
        dialogues = load_dialogues(config.dialogues, args.only)
        names = [dialogue.name for dialogue in dialogues]
        refuse_linked_goldens(config.cassettes, config.snapshots, names)
    except (ConfigurationError, DialogueError, ConfigError, UnsafeGoldenPath) as exc:
        err.print("[red]error:[/]", escape(redact(str(exc))), highlight=False)
        return 2
    if args.missing:
        dialogues = _without_goldens(dialogues, config, out, redact)
        if not dialogues:
            return 0
    options = RecordOptions(
        cassette_dir=config.cassettes,
        snapshot_dir=config.snapshots,
        concurrency=args.concurrency,
        check=args.check,
        dialogue_timeout=args.dialogue_timeout,
        turn_timeout=args.turn_timeout,
        usage_threshold_percent=args.usage_threshold,
    )
    mode = "checking drift against" if args.check else "recording against"
    out.print(f"{mode} the {target.description}: {len(dialogues)} dialogue(s)")
    try:
        if markdown:
            outcomes = record_dialogues(dialogues, target, options, SilentProgress())
        else:
            with RichProgress(out) as progress:
                outcomes = record_dialogues(dialogues, target, options, progress)
    except ValueError as exc:  # a linked golden, another recorder at work, ...
        err.print("[red]error:[/]", escape(redact(str(exc))), highlight=False)
        return 2
    except OSError as exc:  # disk full, read-only: the message says what was left as it was
        err.print("[red]error:[/]", escape(redact(_one_line(exc))), highlight=False)
        return 1
    except KeyboardInterrupt:
        err.print("[red]interrupted:[/] nothing was written; the committed goldens are untouched")
        return 130
    if isinstance(target, LiveTarget):
        _explain_tls_failures(outcomes, config, settings, environ)
    if args.check and markdown:
        summary = check_report.render_markdown(outcomes, target.description, args.strict)
        sys.stdout.write(redact(summary))
        return check_report.exit_code(outcomes, args.strict)
    report = check_report.render_text(outcomes)
    print_outcomes(out, outcomes, check=args.check, redact=redact, report=report, errors=err)
    if args.check:
        return check_report.exit_code(outcomes, args.strict)
    return 1 if any(not o.ok for o in outcomes) else 0


def _without_goldens(
    dialogues: list[Dialogue], config: Config, out: Console, redact: Redactor
) -> list[Dialogue]:
    """--missing: the dialogues lacking a cassette or a snapshot (a cassette in the older YAML
    format counts: replay reads it); one line says which were skipped and why."""
    missing: list[Dialogue] = []
    reasons: list[str] = []
    for dialogue in dialogues:
        lacks = [
            kind
            for kind, present in (
                ("cassette", cassette_format.find_cassette(config.cassettes, dialogue.name)),
                ("snapshot", config.snapshots / f"{dialogue.name}.json"),
            )
            if not present.is_file()
        ]
        if lacks:
            missing.append(dialogue)
            reasons.append(f"{dialogue.name} (no {' and no '.join(lacks)})")
    recording = {dialogue.name for dialogue in missing}
    have = [dialogue.name for dialogue in dialogues if dialogue.name not in recording]
    if not missing:
        line = (
            f"--missing: nothing to record: all {len(dialogues)} dialogue(s) already have a "
            "cassette and a snapshot"
        )
    else:
        line = f"--missing: recording {len(missing)} without a golden: {', '.join(reasons)}"
        if have:
            line += (
                f"; skipped {len(have)} that already have a cassette and a snapshot: "
                + ", ".join(have)
            )
    out.print(escape(redact(line)), highlight=False)
    return missing


def _use_ca_settings(
    config: Config, settings: dict[str, str | None], err: Console, redact: Redactor
) -> None:
    """A live recording's CA bundles, with the documented precedence made visible: the
    process environment wins over the env-file (settings()); a bundle set in both, to
    different files, is named with both sources, so a machine-wide REQUESTS_CA_BUNDLE does not
    silently replace the project's. An env-file's SSL_CERT_FILE or SSL_CERT_DIR is applied as
    load_dotenv would (openai's HTTP client reads them from the process environment only)."""
    for key in config.shadowed(os.environ, CA_BUNDLE_KEYS):
        err.print(
            "[yellow]warning:[/]",
            escape(
                redact(
                    f"{key} is set in the process environment ({os.environ[key]}) and in the "
                    f"env-file {config.env_file} to another file; the process environment's is "
                    "used (it wins over the env-file): unset it to use the env-file's"
                )
            ),
            highlight=False,
        )
    for key in ("SSL_CERT_FILE", "SSL_CERT_DIR"):
        value = settings.get(key)
        if value and key not in os.environ:
            os.environ[key] = value


def _explain_tls_failures(
    outcomes: list[DialogueOutcome],
    config: Config,
    settings: dict[str, str | None],
    environ: dict[str, str],
) -> None:
    """A failed TLS verification says which CA bundle was used and where that setting came
    from: CERTIFICATE_VERIFY_FAILED alone does not tell a machine-wide bundle from the
    project's."""

    def used(key: str, default: str) -> str:
        value = settings.get(key)
        if not value:
            return default
        return f"{key}={value} (from {config.origin(key, environ)})"

    for outcome in outcomes:
        if outcome.ok or not any(s.lower() in outcome.detail.lower() for s in TLS_VERIFY_FAILED):
            continue
        foundry = used(
            "SSL_CERT_FILE",
            used(
                "SSL_CERT_DIR",
                "the system's CA certificates (neither SSL_CERT_FILE nor SSL_CERT_DIR is set)",
            ),
        )
        sign_in = used(
            "REQUESTS_CA_BUNDLE",
            "requests' bundled CA certificates (REQUESTS_CA_BUNDLE is not set)",
        )
        if "connection_error" in outcome.detail:
            note = f"the connection to Foundry verified TLS against {foundry}"
        elif "authentication_failed" in outcome.detail:
            note = f"the sign-in verified TLS against {sign_in}"
        else:
            note = f"TLS was verified against {foundry} for Foundry and {sign_in} for the sign-in"
        outcome.detail = f"{outcome.detail.rstrip()}; {note}"


if __name__ == "__main__":
    sys.exit(main())
