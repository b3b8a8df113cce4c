"""`foundry-goldens`: one command, a subcommand per job.

    foundry-goldens init DIR                     # a new project for your agent
    foundry-goldens record --emulator            # (re-)record the goldens on the local emulator
    foundry-goldens record --check               # drift against the live agent; writes nothing
    foundry-goldens diff --base origin/main      # what changed in the goldens, turn by turn
    foundry-goldens emulator --port 0            # serve the local Foundry emulator
    foundry-goldens config                       # the configuration in effect, resolved
    foundry-goldens export aigo DIR              # an AI GO! run config of the goldens (lf run -f)
    foundry-goldens import aigo PATH             # dialogues from AI GO! evaluation evidence
    foundry-goldens schema                       # the JSON Schema of dialogue files (editors)

The replay tests need no command: `pytest` in the project (the plugin collects the dialogues).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Callable, Mapping

from foundry_goldens import scaffold
from foundry_goldens.cli import aigo, diff, options, record
from foundry_goldens.config import ConfigError
from foundry_goldens.emulator import __main__ as emulator
from foundry_goldens.goldens import schema


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="foundry-goldens",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    sub = commands.add_parser(
        "record",
        help="record the dialogues into cassettes and snapshots (live or --emulator)",
        description=record.__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    options.add_config_arguments(sub)
    record.add_arguments(sub)
    sub.set_defaults(run=record.run, validate=record.validate)

    sub = commands.add_parser(
        "diff",
        help="what changed in the goldens between two revisions",
        description=diff.__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    options.add_config_arguments(sub)
    diff.add_arguments(sub)
    sub.set_defaults(run=diff.run)

    sub = commands.add_parser(
        "emulator", help="serve the local Foundry emulator", description=emulator.DESCRIPTION
    )
    emulator.add_arguments(sub)
    sub.set_defaults(run=emulator.run)

    sub = commands.add_parser(
        "init",
        help="a new project for your agent in DIR",
        description=scaffold.__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    scaffold.add_arguments(sub)
    sub.set_defaults(run=scaffold.run)

    sub = commands.add_parser(
        "schema",
        help="print the JSON Schema of dialogue files, for editors",
        description=schema.DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    schema.add_arguments(sub)
    sub.set_defaults(run=schema.run)

    sub = commands.add_parser("config", help="print the configuration in effect")
    options.add_config_arguments(sub)
    sub.set_defaults(run=show_config)

    aigo.add_parsers(commands)
    return parser


def show_config(args: argparse.Namespace) -> int:
    try:
        config = options.config_from_args(args)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    from foundry_goldens.redaction.redactor import Redactor

    # What is printed goes through the redaction of a run: the settings' secrets (environment
    # and env-file) and replay-env's own; a secret-named replay-env value is never shown.
    replay_env = {str(k): str(v) for k, v in config.replay_env.items()}
    redact = Redactor.from_settings({**config.settings(os.environ), **replay_env})
    lines = [
        f"source     {config.source or '(defaults)'}",
        f"root       {config.root}",
        *(
            f"{key.replace('_', '-'):<10} {getattr(config, key)}"
            for key in ("snippet", "dialogues", "snapshots", "cassettes", "env_file")
        ),
        f"agent      {config.agent or '(none)'}",
        f"replay-env {_masked_settings(replay_env)}",
    ]
    for line in lines:
        print(redact(line))
    return 0


def _masked_settings(values: Mapping[str, str]) -> dict[str, str]:
    """``values`` with the value of every secret-looking name (any length) as ``<NAME>``."""
    from foundry_goldens.redaction.redactor import SECRET_ENVIRONMENT_KEYS, SECRET_NAME

    return {
        key: "<" + re.sub(r"[^A-Z0-9_]", "_", key.upper()) + ">"
        if key in SECRET_ENVIRONMENT_KEYS or SECRET_NAME.search(key)
        else value
        for key, value in values.items()
    }


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    validate = getattr(args, "validate", None)
    if validate is not None:
        validate(parser, args)
    run: Callable[[argparse.Namespace], int] = args.run
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
