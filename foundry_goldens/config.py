"""The project's configuration: `[tool.foundry-goldens]` in its pyproject.toml.

The project root is the directory of that pyproject.toml (found upward from the current
directory, or given as --root / --config); relative paths in it resolve against the root, never
against the installed package. Every key has a default matching the reference layout, and every
value can be overridden on the command line (`foundry-goldens --snippet ...`, pytest
`--goldens-snippet ...`). A bad value is an error naming the key and the file.

    [tool.foundry-goldens]
    snippet = "integration/run_inference.py"   # the AI GO! snippet, loaded by path
    dialogues = "goldens/dialogues"
    snapshots = "goldens/snapshots"
    cassettes = "cassettes"
    env-file = "integration/.env"               # live settings; the environment wins over it
    agent = "support"          # the agent when neither AZURE_FOUNDRY_AGENT_NAME, the dialogue
                               # nor (on replay) the cassette names one
    replay-env = { FOUNDRY_MCP_APPROVAL = "approve" }   # extra snippet settings on replay
"""

from __future__ import annotations

import dataclasses
import threading
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

TABLE = "foundry-goldens"
PYPROJECT = "pyproject.toml"

PATH_KEYS = ("snippet", "dialogues", "snapshots", "cassettes", "env-file")
DEFAULTS: dict[str, Any] = {
    "snippet": "integration/run_inference.py",
    "dialogues": "goldens/dialogues",
    "snapshots": "goldens/snapshots",
    "cassettes": "cassettes",
    "env-file": "integration/.env",
    "agent": None,
    "replay-env": {},
}
# Replay sets these itself: a placeholder endpoint, a static credential, no retries.
RESERVED_REPLAY_KEYS = frozenset(
    {"AZURE_AI_PROJECT_ENDPOINT", "AZURE_TOKEN_CREDENTIAL", "FOUNDRY_MAX_RETRIES"}
)


class ConfigError(ValueError):
    """A missing or bad configuration value; the message names the key and the file."""


@dataclass(frozen=True)
class Config:
    root: Path
    source: Path | None  # the pyproject.toml the values came from (None: defaults only)
    snippet: Path
    dialogues: Path
    snapshots: Path
    cassettes: Path
    env_file: Path
    agent: str | None
    replay_env: Mapping[str, str] = field(default_factory=dict)

    def where(self, key: str) -> str:
        """`[tool.foundry-goldens] snippet in /x/pyproject.toml`, for error messages."""
        origin = str(self.source) if self.source else f"the defaults (root {self.root})"
        return f"[tool.{TABLE}] {key} in {origin}"

    def require_snippet(self) -> Path:
        if not self.snippet.is_file():
            raise ConfigError(
                f"{self.where('snippet')}: no file at {self.snippet}; set it to your "
                "run_inference.py (relative to the project root) or pass --snippet"
            )
        return self.snippet

    def require_dialogues(self) -> Path:
        if not self.dialogues.is_dir():
            raise ConfigError(
                f"{self.where('dialogues')}: no directory at {self.dialogues}; create it or "
                "point the key at your dialogues"
            )
        return self.dialogues

    def settings(self, environ: Mapping[str, str]) -> dict[str, str]:
        """The live settings: env-file's values, the process environment winning (as
        python-dotenv's load_dotenv does), and the configured agent as a default."""
        from dotenv import dotenv_values

        values: dict[str, str] = {}
        if self.env_file.is_file():
            values.update({k: v for k, v in dotenv_values(self.env_file).items() if v is not None})
        values.update(environ)
        if self.agent:
            values.setdefault("AZURE_FOUNDRY_AGENT_NAME", self.agent)
        return values


def find_pyproject(start: Path) -> Path | None:
    """The nearest pyproject.toml with a [tool.foundry-goldens] table, from `start` upward."""
    for directory in (start, *start.parents):
        candidate = directory / PYPROJECT
        if candidate.is_file() and TABLE in _read(candidate).get("tool", {}):
            return candidate
    return None


def load_config(
    *,
    root: Path | None = None,
    config_file: Path | None = None,
    overrides: Mapping[str, Any] | None = None,
    cwd: Path | None = None,
) -> Config:
    """The configuration: `config_file`, else `root`/pyproject.toml, else the nearest one with
    a [tool.foundry-goldens] table from `cwd` upward. `overrides` (command-line values, keyed
    like the table) win; their relative paths resolve against `cwd`."""
    cwd = (cwd or Path.cwd()).resolve()
    source: Path | None
    if config_file is not None:
        source = config_file.resolve()
        if not source.is_file():
            raise ConfigError(f"--config {config_file}: no such file")
    elif root is not None:
        source = root.resolve() / PYPROJECT
        if not source.is_file():
            source = None
            if not root.is_dir():
                raise ConfigError(f"--root {root}: no such directory")
    else:
        source = find_pyproject(cwd)
        if source is None:
            raise ConfigError(
                f"no pyproject.toml with a [tool.{TABLE}] table in {cwd} or above; "
                "run `foundry-goldens init DIR` for a new project, add the table, "
                "or pass --root DIR"
            )
    project_root = source.parent if source else (root or cwd).resolve()
    table = _table(source) if source else {}
    values: dict[str, Any] = {}
    for key, default in DEFAULTS.items():
        values[key] = _checked(key, table.get(key, default), source)
    paths = {key: project_root / values[key] for key in PATH_KEYS}
    for key, value in (overrides or {}).items():
        if value is None:
            continue
        value = _checked(key, value, None, from_command_line=True)
        if key in PATH_KEYS:
            paths[key] = cwd / value
        else:
            values[key] = value
    return Config(
        root=project_root,
        source=source,
        snippet=paths["snippet"],
        dialogues=paths["dialogues"],
        snapshots=paths["snapshots"],
        cassettes=paths["cassettes"],
        env_file=paths["env-file"],
        agent=values["agent"],
        replay_env=dict(values["replay-env"]),
    )


def _read(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None


def _table(source: Path) -> dict[str, Any]:
    table = _read(source).get("tool", {}).get(TABLE, {})
    if not isinstance(table, dict):
        raise ConfigError(f"[tool.{TABLE}] in {source}: expected a table")
    unknown = sorted(set(table) - set(DEFAULTS))
    if unknown:
        raise ConfigError(
            f"[tool.{TABLE}] {unknown[0]} in {source}: unknown key; "
            f"known keys: {', '.join(DEFAULTS)}"
        )
    return table


def _checked(key: str, value: Any, source: Path | None, from_command_line: bool = False) -> Any:
    where = f"--{key}" if from_command_line else f"[tool.{TABLE}] {key} in {source}"
    if key in PATH_KEYS:
        if isinstance(value, Path):
            return value
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(f"{where}: expected a path (a non-empty string), got {value!r}")
        return Path(value)
    if key == "agent":
        if value is None and not from_command_line:
            return None
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(f"{where}: expected an agent name, got {value!r}")
        return value.strip()
    if key == "replay-env":
        if not isinstance(value, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in value.items()
        ):
            raise ConfigError(f"{where}: expected a table of strings, got {value!r}")
        reserved = sorted(RESERVED_REPLAY_KEYS & set(value))
        if reserved:
            raise ConfigError(f"{where}: {reserved[0]} is set by replay itself; remove it")
        return dict(value)
    raise ConfigError(f"{where}: unknown key")


_active: Config | None = None
_lock = threading.Lock()


def activate(config: Config) -> Config:
    """Make `config` the process's configuration (the command line and the plugin do)."""
    global _active
    with _lock:
        _active = config
    return config


def active() -> Config:
    """The activated configuration, else the one found from the current directory."""
    global _active
    with _lock:
        if _active is None:
            _active = load_config()
        return _active


def replace(config: Config, **changes: Any) -> Config:
    return dataclasses.replace(config, **changes)
