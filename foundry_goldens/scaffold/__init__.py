"""`foundry-goldens init DIR`: a new project for a team's own agent, in a new or empty DIR.

It writes the reference snippet (integration/run_inference.py) with its model.yaml, app.yaml
and .env.example, one dialogue, the dialogue files' JSON Schema (for editors), the
GitHub workflows, a README and pyproject.toml with the [tool.foundry-goldens] configuration; the
workflows install this version of foundry-goldens. Then, inside DIR:
`foundry-goldens record --emulator` and `pytest`.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from importlib import metadata, resources
from importlib.resources.abc import Traversable
from pathlib import Path

import foundry_goldens
from foundry_goldens.commands import command
from foundry_goldens.goldens import schema

TEMPLATES = "templates"
# The snippet and its settings have one source, this repository's integration/: a built wheel
# carries a copy in templates/integration (setup.py makes it), a checkout or an editable
# install reads integration/ itself. Named one by one: a developer's integration/.env is not
# part of any project.
INTEGRATION = "integration"
INTEGRATION_FILES = ("run_inference.py", "model.yaml", "app.yaml", ".env.example")
# Names a package-data directory cannot carry as they are (dot files are easily dropped).
RENAMES = {"dot-github": ".github", "gitignore": ".gitignore"}
RENDERED = {"pyproject.toml", "README.md", "goldens.yml", "goldens-drift.yml"}
# pyproject.toml's [project.urls] Repository, used when the package's metadata names no other
# (an install of an older version has none); OWNER marks it as not a real place.
REPOSITORY_PLACEHOLDER = "https://github.com/OWNER/foundry-goldens"


class InitError(ValueError):
    pass


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("directory", type=Path, metavar="DIR", help="a new or empty directory")


def run(args: argparse.Namespace) -> int:
    try:
        written = init_project(args.directory)
    except InitError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # read-only, disk full, ...: one line, not a traceback
        reason = exc.strerror or str(exc)
        where = f" ({exc.filename})" if exc.filename else ""
        print(
            f"error: cannot write the project into {args.directory}: {reason}{where}",
            file=sys.stderr,
        )
        return 1
    print(f"created {len(written)} files in {args.directory}")
    # Absolute commands when this environment is not on PATH: they must run as printed.
    fg, pytest = _absolute(command()), _absolute(command("pytest"))
    print(f"next: cd {args.directory} && {fg} record --emulator && {pytest}")
    return 0


def _absolute(command_text: str) -> str:
    return str(Path(command_text).resolve()) if "/" in command_text else command_text


def init_project(directory: Path) -> list[Path]:
    """Write the scaffold into `directory` (created if missing); refuse a non-empty one."""
    if directory.is_symlink() and not directory.exists():
        raise InitError(
            f"{directory} is a symbolic link to {os.readlink(directory)}, which does not exist; "
            "pass a new or empty directory (or create the link's target first)"
        )
    if directory.exists():
        if not directory.is_dir():
            raise InitError(f"{directory} exists and is not a directory")
        present = sorted(p.name for p in directory.iterdir())
        if present:
            raise InitError(
                f"{directory} is not empty ({', '.join(present[:5])}"
                f"{', ...' if len(present) > 5 else ''}); init writes only into a new or empty "
                "directory, so that nothing of yours is overwritten"
            )
    integration = integration_root()  # before anything is written: a broken install writes nothing
    directory.mkdir(parents=True, exist_ok=True)
    values = {
        "{name}": _project_name(directory),
        "{version}": _version(),
        "{requirement}": requirement(),
    }
    written: list[Path] = []
    _copy(template_root(), directory, values, written, skip=frozenset({INTEGRATION}))
    (directory / INTEGRATION).mkdir(exist_ok=True)
    for name in INTEGRATION_FILES:
        target = directory / INTEGRATION / name
        target.write_bytes(integration.joinpath(name).read_bytes())
        written.append(target)
    # Not a template copy: the shipped schema itself, which the dialogues' first line points to.
    target = directory / schema.PROJECT_SCHEMA
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(schema.shipped_text().encode("utf-8"))
    written.append(target)
    return written


def requirement() -> str:
    """What a scaffolded project installs: this version, from its tag in the repository.

    Not `foundry-goldens==<version>`: until a release is on PyPI that name resolves to nothing,
    or to someone else's package. A tag of the repository is what every release is built from.
    """
    return f"foundry-goldens @ git+{_repository()}@v{_version()}"


def _repository() -> str:
    try:
        urls = metadata.metadata("foundry-goldens").get_all("Project-URL") or []
    except metadata.PackageNotFoundError:  # run from a source tree that was never installed
        urls = []
    for entry in urls:
        label, _, url = entry.partition(",")
        if label.strip().lower() == "repository" and url.strip():
            return url.strip().removesuffix("/").removesuffix(".git")
    return REPOSITORY_PLACEHOLDER


def template_root() -> Traversable:
    return resources.files(__package__).joinpath(TEMPLATES)


def integration_root() -> Traversable:
    """Where the snippet and its settings come from: the repository's integration/ when this
    package runs from a checkout, else the copy the wheel was built with."""
    checkout = Path(__file__).resolve().parents[2]
    if (checkout / "pyproject.toml").is_file() and all(
        (checkout / INTEGRATION / name).is_file() for name in INTEGRATION_FILES
    ):
        return checkout / INTEGRATION
    packaged = template_root().joinpath(INTEGRATION)
    if all(packaged.joinpath(name).is_file() for name in INTEGRATION_FILES):
        return packaged
    raise InitError(
        "this installation of foundry-goldens lacks the integration snippet "
        f"(templates/{INTEGRATION}/run_inference.py): reinstall it from a wheel or a checkout"
    )


def _copy(
    source: Traversable,
    target: Path,
    values: dict[str, str],
    written: list[Path],
    skip: frozenset[str] = frozenset(),
) -> None:
    for entry in sorted(source.iterdir(), key=lambda e: e.name):
        if entry.name == "__pycache__" or entry.name in skip:
            continue
        destination = target / RENAMES.get(entry.name, entry.name)
        if entry.is_dir():
            destination.mkdir(exist_ok=True)
            _copy(entry, destination, values, written)
            continue
        data = entry.read_bytes()
        if entry.name in RENDERED:
            text = data.decode("utf-8")
            for key, value in values.items():
                text = text.replace(key, value)
            data = text.encode("utf-8")
        destination.write_bytes(data)
        written.append(destination)


def _project_name(directory: Path) -> str:
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", directory.resolve().name).strip("-")
    return name or "agent-goldens"


def _version() -> str:
    return foundry_goldens.__version__
