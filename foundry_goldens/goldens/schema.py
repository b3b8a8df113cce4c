"""The JSON Schema of dialogue files, for editors: `foundry-goldens schema` prints it.

Generated from the pydantic models of goldens/dialogues.py and shipped in the wheel as
`dialogue.schema.json` beside this module (tests/test_schema.py keeps the two equal; after
changing a model, `python -m foundry_goldens.goldens.schema` rewrites the file). `init` writes it
into a new project as goldens/dialogue.schema.json, and each scaffolded dialogue's first line,
`# yaml-language-server: $schema=../dialogue.schema.json`, makes VS Code's YAML extension (and
any editor using yaml-language-server) complete and check the file offline.

The schema describes what the loader accepts; the loader stays the judge. Where a pydantic
validator checks more than a type (a name's characters, a non-blank user text, `system`
required by `request_mode: aigo`), the schema says the same where JSON Schema can, so an editor
flags it early. It never refuses a file the loader accepts (tests/test_schema.py).
"""

from __future__ import annotations

import argparse
import json
import sys
from importlib import resources
from pathlib import Path
from typing import Any

from foundry_goldens.goldens.dialogues import NAME_PATTERN, Dialogue

DESCRIPTION = """\
Print the JSON Schema of dialogue files (goldens/dialogues/<name>.yaml).

`foundry-goldens init` writes it into a new project as goldens/dialogue.schema.json, and each
dialogue's first line points to it:

    # yaml-language-server: $schema=../dialogue.schema.json

so that VS Code's YAML extension (or any editor using yaml-language-server) completes the keys,
shows what each one means and flags a wrong one, offline. After upgrading foundry-goldens,
refresh the copy:

    foundry-goldens schema --output goldens/dialogue.schema.json
"""

SCHEMA_FILE = "dialogue.schema.json"
# Where `init` puts it in a project, and what a dialogue in goldens/dialogues/ points to.
PROJECT_SCHEMA = "goldens/dialogue.schema.json"
MODELINE = "# yaml-language-server: $schema=../dialogue.schema.json"
DRAFT = "https://json-schema.org/draft/2020-12/schema"
NOT_BLANK = r"\S"  # ECMA-262 (editors) and Python alike


def generate() -> dict[str, Any]:
    """The schema as the models give it, with what their validators check added."""
    schema = Dialogue.model_json_schema()
    properties = schema["properties"]
    properties["name"]["pattern"] = f"^{NAME_PATTERN.pattern}$"
    properties["agent"]["anyOf"][0]["pattern"] = r"^\S+$"
    properties["system"]["anyOf"][0]["pattern"] = NOT_BLANK
    schema["$defs"]["Turn"]["properties"]["user"]["pattern"] = NOT_BLANK
    # request_mode aigo opens every request with the system message (Dialogue's validator).
    schema["if"] = {"properties": {"request_mode": {"const": "aigo"}}, "required": ["request_mode"]}
    schema["then"] = {"required": ["system"]}
    return {"$schema": DRAFT, "title": "foundry-goldens dialogue", **_without("title", schema)}


def render() -> str:
    """The file's text: the models' field order, two-space indent, a trailing newline."""
    return json.dumps(generate(), indent=2, ensure_ascii=False) + "\n"


def shipped_text() -> str:
    """The schema as the installed package ships it (what `foundry-goldens schema` prints)."""
    return resources.files(__package__).joinpath(SCHEMA_FILE).read_text(encoding="utf-8")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-o",
        "--output",
        type=Path,
        metavar="FILE",
        help="write it to FILE (UTF-8) instead of standard output",
    )


def run(args: argparse.Namespace) -> int:
    text = shipped_text()  # the shipped file as it is: what init writes
    if args.output is None:
        sys.stdout.write(text)
        return 0
    try:
        args.output.write_text(text, encoding="utf-8", newline="\n")
    except OSError as exc:
        print(f"error: cannot write {args.output}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    return 0


def _without(key: str, mapping: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in mapping.items() if k != key}


def main() -> int:
    """Rewrite the shipped file from the models (run from a source checkout)."""
    target = Path(__file__).with_name(SCHEMA_FILE)
    target.write_text(render(), encoding="utf-8", newline="\n")
    print(f"wrote {target}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
