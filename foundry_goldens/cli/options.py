"""The configuration options every subcommand takes: where the project is, and each
[tool.foundry-goldens] value, overridable (foundry_goldens/config.py)."""

from __future__ import annotations

import argparse
from pathlib import Path

from foundry_goldens.config import Config, activate, load_config

# (option, config key, help)
OVERRIDES = (
    ("--snippet", "snippet", "the run_inference.py to load"),
    ("--dialogues", "dialogues", "the dialogue directory"),
    ("--snapshots", "snapshots", "the snapshot directory"),
    ("--cassettes", "cassettes", "the cassette directory"),
    ("--env-file", "env-file", "the .env file with the live settings"),
)


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "configuration", "override [tool.foundry-goldens] in the project's pyproject.toml"
    )
    group.add_argument(
        "--root",
        type=Path,
        metavar="DIR",
        help="the project root (default: the nearest "
        "pyproject.toml with a [tool.foundry-goldens] table, from the current directory up)",
    )
    group.add_argument("--config", type=Path, metavar="FILE", help="that pyproject.toml")
    for option, _key, text in OVERRIDES:
        group.add_argument(option, type=Path, metavar="PATH", help=text)
    group.add_argument("--agent", metavar="NAME", help="the default agent name")


def config_from_args(args: argparse.Namespace) -> Config:
    """Load, apply the command line's overrides, and make it the process's configuration."""
    overrides: dict[str, object] = {
        key: getattr(args, key.replace("-", "_")) for _option, key, _text in OVERRIDES
    }
    overrides["agent"] = args.agent
    return activate(load_config(root=args.root, config_file=args.config, overrides=overrides))
