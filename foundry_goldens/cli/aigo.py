"""`foundry-goldens export aigo DIR` and `foundry-goldens import aigo PATH`: goldens ⇄ AI GO!.

    foundry-goldens export aigo build/aigo       # run.yaml (what `lf run -f` takes) + its files
    foundry-goldens import aigo task_result_log.json --only-failing dialogue_passed

Neither needs an AI GO! server: export writes files (`lf run -f DIR/run.yaml --validate`
checks them offline, `lf run -f DIR/run.yaml` uploads and runs them), import reads evidence
downloaded before (`lf export eval-run --id ID -o DIR`, or the SDK's
`Client().download_task_result_log(...)`).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from foundry_goldens.cli import options
from foundry_goldens.config import ConfigError, UnsafeGoldenPath
from foundry_goldens.goldens.dialogues import DialogueError

EXPORT_HELP = "export the goldens for another tool: `export aigo DIR` writes an AI GO! run config"
IMPORT_HELP = "import dialogues from another tool: `import aigo PATH` reads AI GO! evidence"


def add_parsers(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """`export aigo` and `import aigo` under the `foundry-goldens` command."""
    export = commands.add_parser(
        "export",
        help=EXPORT_HELP,
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    targets = export.add_subparsers(dest="target", required=True, metavar="TARGET")
    sub = targets.add_parser(
        "aigo",
        help="an AI GO! run config of the dialogues",
        description="Write DIR/run.yaml (what `lf run -f` takes) with the model (the snippet "
        "and model.yaml, one per agent), a dataset of the dialogues, the task (python solver "
        "and scorer) and the evaluation beside it. Dialogues that cannot run in AI GO! are "
        "left out and named with the reason.",
    )
    options.add_config_arguments(sub)
    sub.add_argument("directory", type=Path, metavar="DIR", help="where to write (made if missing)")
    sub.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="NAME",
        help="export only this dialogue (repeatable)",
    )
    sub.add_argument(
        "--key-prefix",
        metavar="TEXT",
        help="prefix of the AI GO! keys (default: the project's name)",
    )
    sub.set_defaults(run=run_export)

    imports = commands.add_parser(
        "import",
        help=IMPORT_HELP,
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sources = imports.add_subparsers(dest="source", required=True, metavar="SOURCE")
    sub = sources.add_parser(
        "aigo",
        help="dialogues from AI GO! evaluation evidence",
        description="Read a task result log, its evidence alone (JSON), or an `lf export "
        "eval-run` directory into the dialogue directory: an exported sample gives back its "
        "dialogue; any other sample its trace's user turns with the tool calls pinned.",
    )
    options.add_config_arguments(sub)
    sub.add_argument("path", type=Path, metavar="PATH", help="the evidence file or directory")
    sub.add_argument(
        "--only-failing",
        metavar="METRIC",
        help="only samples failing this score (e.g. dialogue_passed) or erroring",
    )
    sub.add_argument("--force", action="store_true", help="replace dialogues of the same name")
    sub.add_argument(
        "--prefix", default="", metavar="TEXT", help="put TEXT before every new dialogue's name"
    )
    sub.add_argument(
        "--skip-invalid",
        action="store_true",
        help="import the good samples and list the bad ones instead of failing",
    )
    sub.set_defaults(run=run_import)


def run_export(args: argparse.Namespace) -> int:
    from foundry_goldens.aigo.export import ExportError, export_aigo
    from foundry_goldens.aigo.inline import InlineError

    try:
        config = options.config_from_args(args)
        result = export_aigo(config, args.directory, prefix=args.key_prefix, only=args.only)
    except (ConfigError, DialogueError, ExportError, InlineError, UnsafeGoldenPath) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {result.directory}/")
    for relative in result.files:
        print(f"  {relative}")
    for agent, names in result.agents.items():
        print(f"agent {agent}: {len(names)} dialogues: {', '.join(names)}")
    for left in result.left_out:
        print(f"left out {left.name}: {left.reason}")
    print(
        f"validate offline: lf run -f {result.directory / 'run.yaml'} --validate; "
        "run in AI GO! (a server and an AI app): lf run -f "
        f"{result.directory / 'run.yaml'}"
    )
    return 0


def run_import(args: argparse.Namespace) -> int:
    from foundry_goldens.aigo.evidence_import import EvidenceError, import_aigo

    try:
        config = options.config_from_args(args)
        result = import_aigo(
            config,
            args.path,
            only_failing=args.only_failing,
            force=args.force,
            prefix=args.prefix,
            skip_invalid=args.skip_invalid,
        )
    except (ConfigError, EvidenceError, UnsafeGoldenPath, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for problem in result.skipped:
        print(f"skipped: {problem}", file=sys.stderr)
    if args.only_failing:
        print(f"{result.passing} samples pass {args.only_failing}: not imported")
    for _name, path, origin in result.written:
        how = "its exported dialogue" if origin == "export" else "user turns and tool calls"
        print(f"wrote {path} ({how})")
    if not result.written:
        print("nothing to import")
    else:
        print("record them: foundry-goldens record --emulator --only NAME (or live); then pytest")
    return 0
