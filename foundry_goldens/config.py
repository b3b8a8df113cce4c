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

import contextlib
import dataclasses
import errno
import io
import os
import re
import secrets
import shutil
import stat
import threading
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

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
# Replay owns these: a placeholder endpoint, no retries, and the identity (no credential
# setting: snippet/identity.py answers for whatever credential the snippet builds).
RESERVED_REPLAY_KEYS = frozenset(
    {"AZURE_AI_PROJECT_ENDPOINT", "AZURE_TOKEN_CREDENTIAL", "FOUNDRY_MAX_RETRIES"}
)
# The directories the recorder writes into; none may be another or lie inside another.
GOLDEN_DIRECTORY_KEYS = ("dialogues", "snapshots", "cassettes")


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
    # The keys whose values came from the command line (named as options in errors).
    overridden: frozenset[str] = frozenset()

    def where(self, key: str) -> str:
        """`[tool.foundry-goldens] snippet in /x/pyproject.toml`, for error messages."""
        origin = str(self.source) if self.source else f"the defaults (root {self.root})"
        return f"[tool.{TABLE}] {key} in {origin}"

    def named(self, key: str) -> str:
        """Where the value in effect came from: `--cassettes`, or the key and its file."""
        return f"--{key}" if key in self.overridden else self.where(key)

    def require_separate_directories(self) -> None:
        """Refuse golden directories that are the same or nest: the recorder cleans the
        cassettes directory (its staging, `<cassettes>/.record`, and older cassette files) and
        replaces snapshots, so an overlap would delete or overwrite another kind of golden."""
        for index, first in enumerate(GOLDEN_DIRECTORY_KEYS):
            for second in GOLDEN_DIRECTORY_KEYS[index + 1 :]:
                relation = _overlap(
                    getattr(self, first), getattr(self, second), f"{first} directory"
                )
                if relation:
                    raise ConfigError(
                        f"{self.named(first)} and {self.named(second)} overlap: {relation}. "
                        "Dialogues, snapshots and cassettes (with its staging directory "
                        f"{self.cassettes / '.record'}) each need a directory of their own, "
                        "none inside another: point one of them elsewhere"
                    )

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
        values = self.env_file_values()
        values.update(environ)
        if self.agent:
            values.setdefault("AZURE_FOUNDRY_AGENT_NAME", self.agent)
        return values

    def origin(self, key: str, environ: Mapping[str, str]) -> str:
        """Where the live setting `key` in effect comes from, for messages (never its value):
        the process environment wins over the env-file (settings())."""
        if key in environ:
            return "the process environment"
        if key in self.env_file_values():
            return f"the env-file {self.env_file}"
        return "nowhere (not set)"

    def shadowed(self, environ: Mapping[str, str], keys: tuple[str, ...]) -> list[str]:
        """Those of `keys` that the env-file sets to a value the process environment
        overrides with another: the env-file's is silently not used."""
        in_file = self.env_file_values()
        return [
            key
            for key in keys
            if key in environ and key in in_file and environ[key].strip() != in_file[key].strip()
        ]

    def env_file_values(self) -> dict[str, str]:
        """The env-file's settings alone ({} without one)."""
        from dotenv import dotenv_values

        values: dict[str, str] = {}
        if self.env_file.is_file():
            try:
                found = dotenv_values(self.env_file)
            except UnicodeDecodeError as exc:
                raise ConfigError(
                    f"{self.env_file} (env-file, --env-file): not UTF-8 text (byte "
                    f"{exc.start}: {exc.reason}); save it as UTF-8"
                ) from None
            except OSError as exc:
                raise ConfigError(
                    f"{self.env_file} (env-file, --env-file): cannot be read "
                    f"({exc.strerror or exc})"
                ) from None
            values.update({k: v for k, v in found.items() if v is not None})
        return values


PROJECT_ENDPOINT_KEY = "AZURE_AI_PROJECT_ENDPOINT"
PROJECT_ENDPOINT_SHAPE = "https://<resource>.services.ai.azure.com/api/projects/<project>"
_PROJECT_PATH = re.compile(r"/api/projects/[^/]+/?")


def check_project_endpoint(endpoint: str, origin: str) -> None:
    """A project endpoint's shape, on any host (sovereign clouds, a private link, the emulator
    over http on loopback); else ConfigError naming the setting and `origin`. The message
    never shows the host (it names the customer's resource and must not reach a log): only
    what is wrong, and the path with the project name masked."""
    problem = _endpoint_problem(endpoint.strip())
    if problem:
        raise ConfigError(
            f"{PROJECT_ENDPOINT_KEY} (from {origin}) is not a Foundry project endpoint: "
            f"{problem}. Expected {PROJECT_ENDPOINT_SHAPE}, the project endpoint shown on the "
            "project's overview page in the Foundry portal"
        )


def _endpoint_problem(endpoint: str) -> str:
    from foundry_goldens.redaction.redactor import is_local_host

    parts = urlsplit(endpoint)
    scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
    try:
        parts.port  # noqa: B018 - a port that is not a number raises here
    except ValueError:
        return "its port is not a number"
    if scheme not in ("https", "http") or not host:
        return "it is not an https:// URL with a host"
    if parts.username is not None or parts.password is not None:
        return "it holds credentials (user:password@): sign in with the AZURE_* settings"
    if scheme == "http" and not is_local_host(host):
        return "it is plain http, which only a local emulator (a loopback host) may use"
    if parts.query or parts.fragment:
        return "it has a query or a fragment"
    if parts.path in ("", "/"):
        return "it has no path (the resource's endpoint, not a project's)"
    if not _PROJECT_PATH.fullmatch(parts.path):
        shown = re.sub(r"(/api/projects/)[^/]+", r"\1<project>", parts.path)
        return f"its path is {shown!r}, not /api/projects/<project>"
    return ""


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
    overridden: set[str] = set()
    for key, value in (overrides or {}).items():
        if value is None:
            continue
        value = _checked(key, value, None, from_command_line=True)
        overridden.add(key)
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
        overridden=frozenset(overridden),
    )


def _overlap(first: Path, second: Path, first_name: str) -> str | None:
    """How two directories overlap (the same, or one inside the other), as they are written
    and as their symbolic links resolve; None if they do not."""
    for a, b in ((_normal(first), _normal(second)), (first.resolve(), second.resolve())):
        if a == b:
            return f"both are {a}"
        if b.is_relative_to(a):
            return f"{b} is inside the {first_name} {a}"
        if a.is_relative_to(b):
            return f"the {first_name} {a} is inside {b}"
    return None


def _normal(path: Path) -> Path:
    """Absolute, with `.` and `..` taken lexically (no symbolic link followed)."""
    return Path(os.path.normpath(os.path.abspath(path)))


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


# -- golden files, never read or written through a symbolic link -----------------------------
#
# Goldens arrive in pull requests from strangers: a committed link must never make the
# recorder or syrupy read or write a file outside the project. A golden directory is reached
# from a trusted start (the project root, or a directory configured outside the project as it
# is named) one component at a time with O_NOFOLLOW, and its files are opened relative to that
# descriptor, so no link can be swapped in between a check and a write.

FILE_MODE = 0o666  # what open() asks for: the umask decides, for every file the recorder writes
_DIRECTORY = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_READ = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC  # a FIFO must not hang us
_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
# What opening a link with O_NOFOLLOW fails with (EMLINK on the BSDs).
_LINK_ERRNOS = frozenset({errno.ELOOP, errno.EMLINK, errno.ENOTDIR})


class UnsafeGoldenPath(ValueError):
    """A golden file, or a directory on its way, is a symbolic link or not what it must be."""


def trusted_start(directory: Path) -> Path:
    """Where reaching `directory` starts refusing links: the active project's root when the
    directory lies inside it, else the directory itself (configured outside the project)."""
    return Path(_trusted_start(_normal_text(directory)))


# GoldenDirectory works on path strings: pathlib's joins and comparisons would be most of
# opening one (every replayed golden opens three); dir_fd and O_NOFOLLOW make it POSIX-only.


def _normal_text(path: str | os.PathLike[str]) -> str:
    return os.path.normpath(os.path.abspath(path))


def _trusted_start(directory: str) -> str:
    """trusted_start, of and to a _normal_text path."""
    root = _active.root if _active is not None else None
    if root is not None:
        start = _normal_text(root)
        if _parts_below(directory, start) is not None:
            return start
    return directory


def _parts_below(path: str, start: str) -> list[str] | None:
    """The names leading from `start` down to `path` (both _normal_text), as
    `Path(path).relative_to(start).parts` has them; None when `path` is not inside `start`."""
    if path == start:
        return []
    prefix = start if start.endswith(os.sep) else start + os.sep
    if not path.startswith(prefix):
        return None
    parts = path[len(prefix) :].split(os.sep)
    return parts if all(parts) else None  # "//x" is not below "/" (POSIX keeps a leading //)


class GoldenDirectory:
    """An open directory reached without following a link; names in it are opened, replaced
    and removed relative to its descriptor. Use it as a context manager (closes it)."""

    def __init__(self, fd: int, path: str | os.PathLike[str]) -> None:
        self.fd = fd
        self._where = os.fspath(path)

    @property
    def path(self) -> Path:
        return Path(self._where)

    @classmethod
    def open(
        cls, directory: Path, anchor: Path | None = None, *, create: bool = False
    ) -> GoldenDirectory:
        """`directory`, inside the golden directory `anchor` (default: itself), reached from
        the anchor's trusted start; missing components are made when `create`."""
        target = _normal_text(directory)
        start = _trusted_start(_normal_text(anchor) if anchor is not None else target)
        parts = _parts_below(target, start)
        if parts is None:
            raise UnsafeGoldenPath(f"{target} lies outside the golden directory {start}")
        if create:
            os.makedirs(start, exist_ok=True)  # the project root, or as configured
        current = cls(os.open(start, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC), start)
        try:
            for part in parts:
                deeper = current.subdirectory(part, create=create)
                current.close()
                current = deeper
        except BaseException:
            current.close()
            raise
        return current

    def __enter__(self) -> GoldenDirectory:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def subdirectory(self, name: str, *, create: bool = False) -> GoldenDirectory:
        try:
            return GoldenDirectory(
                self._open_directory(name, create), os.path.join(self._where, name)
            )
        except OSError as exc:
            if exc.errno in _LINK_ERRNOS:
                self.refuse_link(name, "directory")
            raise

    def _open_directory(self, name: str, create: bool) -> int:
        try:
            return os.open(name, _DIRECTORY, dir_fd=self.fd)
        except FileNotFoundError:
            if not create:
                raise
        with contextlib.suppress(FileExistsError):  # made meanwhile by another process
            os.mkdir(name, dir_fd=self.fd)
        return os.open(name, _DIRECTORY, dir_fd=self.fd)

    def mode(self, name: str) -> int | None:
        """The st_mode of `name` itself (a link is not followed); None if it does not exist."""
        try:
            return os.stat(name, dir_fd=self.fd, follow_symlinks=False).st_mode
        except FileNotFoundError:
            return None

    def refuse_link(self, name: str, kind: str = "file") -> None:
        """Raise UnsafeGoldenPath naming `name` if it is a symbolic link; else return."""
        mode = self.mode(name)
        if mode is None or not stat.S_ISLNK(mode):
            return
        target = os.readlink(name, dir_fd=self.fd)
        raise UnsafeGoldenPath(
            f"{self.path / name} is a symbolic link (to {target}); goldens are never read or "
            f"written through a link, which may point outside the project: replace it with "
            f"the {kind} itself (or remove it)"
        )

    def refuse_replacing(self, name: str) -> None:
        """`name` may be replaced by a file: it is missing or a regular file."""
        self.refuse_link(name)
        mode = self.mode(name)
        if mode is not None and not stat.S_ISREG(mode):
            raise UnsafeGoldenPath(
                f"{self.path / name} is not a regular file; remove it, a golden file goes there"
            )

    def read(self, name: str) -> bytes:
        """The bytes of the regular file `name`; a link is refused."""
        try:
            fd = os.open(name, _READ, dir_fd=self.fd)
        except OSError as exc:
            if exc.errno in _LINK_ERRNOS:
                self.refuse_link(name)
            raise
        try:
            status = os.fstat(fd)
            if stat.S_ISDIR(status.st_mode):
                raise IsADirectoryError(
                    errno.EISDIR, os.strerror(errno.EISDIR), str(self.path / name)
                )
            if not stat.S_ISREG(status.st_mode):
                raise UnsafeGoldenPath(f"{self.path / name} is not a regular file; remove it")
            return _read_all(fd, status.st_size)
        finally:
            os.close(fd)

    def read_text(self, name: str) -> str:
        """As open(name, encoding="utf-8").read() reads it: universal newlines."""
        return io.TextIOWrapper(io.BytesIO(self.read(name)), encoding="utf-8").read()

    def write(self, name: str, data: bytes) -> None:
        """Replace `name` with `data` atomically: a new file made exclusively beside it (mode
        FILE_MODE less the umask), renamed over it. A link there is refused; one swapped in
        meanwhile is replaced, never written through."""
        self.refuse_replacing(name)
        temporary = self.temporary(name, data)
        try:
            os.replace(temporary, name, src_dir_fd=self.fd, dst_dir_fd=self.fd)
        except BaseException:
            self.unlink(temporary, missing_ok=True)
            raise

    def temporary(self, name: str, data: bytes) -> str:
        """A new file holding `data`, named after `name` and hidden; its name."""
        temporary = f".{name}.{secrets.token_hex(6)}.tmp"
        fd = os.open(temporary, _CREATE, FILE_MODE, dir_fd=self.fd)
        try:
            try:
                _write_all(fd, data)
            finally:
                os.close(fd)
        except BaseException:
            self.unlink(temporary, missing_ok=True)
            raise
        return temporary

    def move_in(self, source: GoldenDirectory, source_name: str, name: str) -> None:
        """Rename the regular file `source_name` of `source` over `name` here (one atomic
        rename, so the same filesystem); links on either side are refused."""
        source.refuse_replacing(source_name)
        self.refuse_replacing(name)
        os.replace(source_name, name, src_dir_fd=source.fd, dst_dir_fd=self.fd)

    def unlink(self, name: str, *, missing_ok: bool = False) -> None:
        """Remove `name` (a link itself, never what it points to)."""
        try:
            os.unlink(name, dir_fd=self.fd)
        except FileNotFoundError:
            if not missing_ok:
                raise

    def names(self) -> list[str]:
        return sorted(os.listdir(self.fd))

    def remove_tree(self, name: str) -> None:
        """Remove the directory `name` and everything in it, best effort (rmtree by
        descriptor: a link inside is removed, never followed)."""
        shutil.rmtree(name, ignore_errors=True, dir_fd=self.fd)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _read_all(fd: int, size: int) -> bytes:
    """Every byte left in `fd`: one read when the file is still `size` bytes long (a file
    object's buffering cost a tenth of reading a cassette), more if it grew meanwhile."""
    chunks = [os.read(fd, size + 1)]
    while chunks[-1]:
        chunks.append(os.read(fd, max(size, 65536)))
    return b"".join(chunks)


def read_golden(path: Path, anchor: Path | None = None) -> bytes:
    """The bytes of a golden file inside `anchor` (default: its directory), never through a
    link: FileNotFoundError if missing, UnsafeGoldenPath naming a link."""
    with GoldenDirectory.open(path.parent, anchor) as directory:
        return directory.read(path.name)


def write_golden(path: Path, data: bytes, anchor: Path | None = None) -> None:
    """Replace a golden file inside `anchor` (default: its directory) atomically, never
    through a link; missing directories are made."""
    with GoldenDirectory.open(path.parent, anchor, create=True) as directory:
        directory.write(path.name, data)
