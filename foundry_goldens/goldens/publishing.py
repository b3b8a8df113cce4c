"""Where a recording stages its files, and how a dialogue's cassette and snapshot are published
together or not at all, even if the recorder is killed (SIGKILL) between two renames.

Everything lives in one hidden work directory beside the cassettes, ``<cassettes>/.record/``
(gitignored): on the same filesystem as the cassettes, so a rename there is atomic, and out of
the repository root and out of the cassettes' way.

- the directory itself is locked (flock) by the one recording that uses these goldens; a
  second one is refused. No lock file: after a run only empty directories remain.
- ``run-*/``: a run's staging directory. Any found at the start of a run is a dead run's
  leftover (the lock says no other run is alive) and is removed, as are the ``.record-*/``
  staging directories earlier versions left beside the cassettes.
- ``pending/<name>/``: a publish journal. A dialogue's new cassette and snapshot are first put
  together in a directory inside the run's staging, with ``targets.json`` naming where they go;
  renaming that directory to ``pending/<name>`` is the commit point. Then each file is moved
  to its target and the journal removed. A kill before the commit point changes nothing; a
  kill after it leaves the journal, which the next run completes (``complete_pending``) and
  which replay reports as a half-published pair until then.

Goldens come from strangers' pull requests, so nothing here follows a symbolic link
(config.GoldenDirectory): every directory is opened component by component with O_NOFOLLOW and
every file is created exclusively and renamed into place by descriptor. A linked golden, a
linked directory on the way, or a journal whose targets are not this dialogue's golden files is
refused, naming it. A write that fails (disk full, read-only) before the commit point leaves the
committed pair as it was; one after it leaves the journal for the next run.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import secrets
import shutil
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from foundry_goldens.cassettes import format as cassette_format
from foundry_goldens.config import (
    ConfigError,
    GoldenDirectory,
    UnsafeGoldenPath,
    active,
    write_golden,
)

WORK_DIR_NAME = ".record"
_TARGETS = "targets.json"
# The journal's file names, in the order they are moved (the snapshot last: a reader that
# sees the new snapshot sees the new cassette too).
_CASSETTE, _SNAPSHOT = "cassette.json", "snapshot.json"


class RecorderBusy(ValueError):
    """Another recording holds the lock on these goldens."""


class PublishError(OSError):
    """A write of the recorder failed (disk full, read-only, ...); the message says which and
    what was left as it was."""


def work_dir(cassette_dir: Path) -> Path:
    return cassette_dir / WORK_DIR_NAME


def pending_dir(cassette_dir: Path, name: str) -> Path:
    return work_dir(cassette_dir) / "pending" / name


@dataclass(frozen=True)
class Staging:
    """One run's staging directory: ``cassettes/`` and ``snapshots/`` written by the recorder."""

    root: Path
    cassette_dir: Path  # where published cassettes go

    def cassette(self, name: str) -> Path:
        return cassette_format.cassette_path(self.root / "cassettes", name)

    def snapshot(self, name: str) -> Path:
        return self.root / "snapshots" / f"{name}.json"

    def write(self, path: Path, data: bytes) -> None:
        """Write a staged file (the finisher does), never through a link."""
        write_golden(path, data, anchor=self.cassette_dir)

    def publish(self, name: str, cassette_target: Path, snapshot_target: Path) -> None:
        """Commit the staged pair to the journal (one atomic rename), then move it in place."""
        # Absolute (the next run, which may complete this, can start elsewhere) but not
        # resolved: a link must be refused where it is, not followed to where it points.
        targets = {
            _CASSETTE: str(_absolute(cassette_target)),
            _SNAPSHOT: str(_absolute(snapshot_target)),
        }
        _refuse_unsafe_targets(targets)  # before anything is committed
        try:
            self._commit(name, targets)
        except OSError as exc:
            raise PublishError(
                f"could not publish {name}: {_reason(exc)}; its committed cassette and snapshot "
                "are unchanged"
            ) from exc
        _complete_committed(pending_dir(self.cassette_dir, name), snapshot_target.parent)

    def _commit(self, name: str, targets: dict[str, str]) -> None:
        """Gather the pair and its targets in an entry of the run, then rename that entry to
        ``pending/<name>``: the commit point."""
        staged = {_CASSETTE: self.cassette(name), _SNAPSHOT: self.snapshot(name)}
        with contextlib.ExitStack() as stack:
            run = stack.enter_context(GoldenDirectory.open(self.root, self.cassette_dir))
            publish = stack.enter_context(run.subdirectory("publish", create=True))
            entry = stack.enter_context(publish.subdirectory(name, create=True))
            for file_name, path in staged.items():
                with run.subdirectory(path.parent.name) as origin:
                    entry.move_in(origin, path.name, file_name)
            entry.write(_TARGETS, json.dumps(targets, indent=2).encode("utf-8"))
            work = stack.enter_context(
                GoldenDirectory.open(work_dir(self.cassette_dir), self.cassette_dir)
            )
            pending = stack.enter_context(work.subdirectory("pending", create=True))
            os.rename(name, name, src_dir_fd=publish.fd, dst_dir_fd=pending.fd)  # commit point


def _refuse_unsafe_targets(targets: dict[str, str]) -> None:
    """Each target is a regular file or missing, in a directory reached without a link."""
    for target in map(Path, targets.values()):
        with GoldenDirectory.open(target.parent, create=True) as directory:
            directory.refuse_replacing(target.name)


def _complete_committed(entry: Path, snapshot_dir: Path) -> None:
    """Complete a publish just committed; if it fails before the first file moved, undo the
    commit, so the committed pair stays whole and nothing is left pending."""
    try:
        complete_entry(entry, snapshot_dir)
    except (OSError, UnsafeGoldenPath) as exc:
        undone = _uncommit(entry)
        if isinstance(exc, UnsafeGoldenPath):
            raise
        if undone:
            raise PublishError(
                f"could not publish {entry.name}: {_reason(exc)}; its committed cassette and "
                "snapshot are unchanged"
            ) from exc
        raise PublishError(
            f"publishing {entry.name} was cut short: {_reason(exc)}. Its journal {entry} keeps "
            "the new files; the next foundry-goldens record run completes it (until then replay "
            "names the pair half-published)"
        ) from exc


def _uncommit(entry: Path) -> bool:
    """Move an entry whose files are all still in it out of ``pending``; whether it did."""
    with contextlib.suppress(OSError), GoldenDirectory.open(entry) as journal:
        if journal.mode(_CASSETTE) is None or journal.mode(_SNAPSHOT) is None:
            return False
        with GoldenDirectory.open(entry.parent) as pending:
            os.rename(
                entry.name, f".undone-{entry.name}", src_dir_fd=pending.fd, dst_dir_fd=pending.fd
            )
            pending.remove_tree(f".undone-{entry.name}")
        return True
    return False


@contextlib.contextmanager
def staging(cassette_dir: Path, snapshot_dir: Path | None = None) -> Iterator[Staging]:
    """Lock the goldens, clean up after dead runs, and yield a fresh staging directory.

    Pending publishes of a killed run are completed first, so every pair is whole again
    (their snapshots must go to `snapshot_dir`, default the configured one: journal
    entries arrive in pull requests too).
    """
    try:
        work = GoldenDirectory.open(work_dir(cassette_dir), cassette_dir, create=True)
    except OSError as exc:
        raise PublishError(
            f"cannot make the staging directory {work_dir(cassette_dir)}: {_reason(exc)}; "
            f"the recorder writes there before it replaces anything in {cassette_dir}"
        ) from exc
    with work, _locked(work):
        complete_pending(cassette_dir, snapshot_dir)
        _remove_leftovers(work, cassette_dir)
        run = _new_run(work)
        try:
            yield Staging(work.path / run, cassette_dir)
        finally:
            work.remove_tree(run)


def _remove_leftovers(work: GoldenDirectory, cassette_dir: Path) -> None:
    """Dead runs' staging directories (and links committed in their place)."""
    for name in work.names():
        if name.startswith("run-"):
            if stat.S_ISLNK(work.mode(name) or 0):
                work.unlink(name, missing_ok=True)
            else:
                work.remove_tree(name)
    for leftover in _legacy_staging(cassette_dir):
        shutil.rmtree(leftover, ignore_errors=True)


def _new_run(work: GoldenDirectory) -> str:
    name = f"run-{secrets.token_hex(6)}"
    try:
        os.mkdir(name, 0o700, dir_fd=work.fd)
        with work.subdirectory(name) as run:
            os.mkdir("cassettes", dir_fd=run.fd)
            os.mkdir("snapshots", dir_fd=run.fd)
    except OSError as exc:
        work.remove_tree(name)
        raise PublishError(
            f"cannot stage the recording in {work.path}: {_reason(exc)}; nothing was changed"
        ) from exc
    return name


def _legacy_staging(cassette_dir: Path) -> list[Path]:
    """Staging directories earlier versions left beside the cassettes (the repository root)."""
    return [
        path
        for path in cassette_dir.parent.glob(".record-*")
        if not path.is_symlink()
        and path.is_dir()
        and {p.name for p in path.iterdir()} <= {"cassettes", "snapshots"}
    ]


@contextlib.contextmanager
def _locked(directory: GoldenDirectory) -> Iterator[None]:
    try:
        fcntl.flock(directory.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise RecorderBusy(
            f"another foundry-goldens record run is recording into {directory.path.parent} (it "
            f"locks {directory.path}); wait for it to finish"
        ) from None
    yield  # the lock goes with the descriptor, closed by the caller


def complete_pending(cassette_dir: Path, snapshot_dir: Path | None = None) -> list[str]:
    """Finish every publish a killed run committed but did not complete; their names."""
    try:
        with GoldenDirectory.open(work_dir(cassette_dir) / "pending", cassette_dir) as pending:
            names = [name for name in pending.names() if not name.startswith(".")]
    except (FileNotFoundError, NotADirectoryError):
        return []
    for name in names:
        complete_entry(pending_dir(cassette_dir, name), snapshot_dir)
    return names


def complete_entry(entry: Path, snapshot_dir: Path | None = None) -> None:
    """Move what is left of a journal entry to its targets (idempotent), then remove it.

    The entry is checked first: its targets must be this dialogue's cassette and snapshot
    (a journal committed by a stranger must not write anywhere else)."""
    cassette_dir = entry.parent.parent.parent
    with GoldenDirectory.open(entry, cassette_dir) as journal:
        targets = _read_targets(journal)
        _check_journal(targets, journal.path, cassette_dir, snapshot_dir)
        # In the order written (the cassette first); keys as the run that wrote them named them.
        for file_name, target in targets.items():
            if journal.mode(file_name) is not None:
                _move(journal.path / file_name, Path(target))
            if file_name == _CASSETTE:
                # The YAML cassette an older version wrote would otherwise linger as an orphan.
                legacy = Path(target).with_suffix(cassette_format.LEGACY_SUFFIX)
                with GoldenDirectory.open(legacy.parent) as directory:
                    directory.unlink(legacy.name, missing_ok=True)
        journal.unlink(_TARGETS)
    with GoldenDirectory.open(entry.parent, cassette_dir) as pending:
        os.rmdir(entry.name, dir_fd=pending.fd)


def _read_targets(journal: GoldenDirectory) -> dict[str, str]:
    try:
        targets = json.loads(journal.read(_TARGETS))
    except ValueError:
        targets = None
    if (
        not isinstance(targets, dict)
        or list(targets) != [_CASSETTE, _SNAPSHOT]
        or not all(isinstance(value, str) for value in targets.values())
    ):
        raise UnsafeGoldenPath(
            f"{journal.path / _TARGETS}: not a publish journal this recorder wrote; remove "
            f"{journal.path}"
        )
    return targets


def _check_journal(
    targets: dict[str, str], entry: Path, cassette_dir: Path, snapshot_dir: Path | None
) -> None:
    name = entry.name
    cassette, snapshot = Path(targets[_CASSETTE]), Path(targets[_SNAPSHOT])
    snapshots = snapshot_dir or _configured_snapshots(cassette_dir)
    wrong = [
        str(path)
        for path, ok in (
            (cassette, _same(cassette, cassette_format.cassette_path(cassette_dir, name))),
            (
                snapshot,
                snapshot.name == f"{name}.json"
                and (snapshots is None or _same(snapshot.parent, snapshots)),
            ),
        )
        if not ok
    ]
    if wrong:
        raise UnsafeGoldenPath(
            f"{entry / _TARGETS} names {', '.join(wrong)}, not the golden files of {name}: this "
            f"publish journal was not written by a recording of these goldens; remove {entry}"
        )


def _configured_snapshots(cassette_dir: Path) -> Path | None:
    """The configured snapshot directory, if the configuration's cassettes are these."""
    try:
        config = active()
    except ConfigError:
        return None
    return config.snapshots if _same(config.cassettes, cassette_dir) else None


def _move(source: Path, target: Path) -> None:
    """An atomic replace of target, never through a link; across filesystems via a temporary
    file beside it."""
    with (
        GoldenDirectory.open(source.parent) as origin,
        GoldenDirectory.open(target.parent, create=True) as destination,
    ):
        try:
            destination.move_in(origin, source.name, target.name)
        except OSError as exc:
            if exc.errno != errno.EXDEV:
                raise
            destination.write(target.name, origin.read(source.name))
            origin.unlink(source.name)


def half_published(cassette_dir: Path, name: str) -> str | None:
    """Why the dialogue's committed pair is not whole (a publish was cut short), or None."""
    entry = pending_dir(cassette_dir, name)
    try:
        # Almost always nothing is there: one lstat says so (a link on the way is followed
        # here, but nothing is read; whatever answers is opened without following any below).
        os.lstat(entry)
    except FileNotFoundError:
        return None
    except OSError:
        pass
    try:
        with GoldenDirectory.open(entry, cassette_dir) as journal:
            present = {key for key in (_CASSETTE, _SNAPSHOT) if journal.mode(key) is not None}
            try:
                targets = _read_targets(journal)
            except (OSError, ValueError):
                targets = {}
    except UnsafeGoldenPath as exc:
        return f"its publish journal {entry} cannot be used: {exc}"
    except OSError:
        return None
    cassette = targets.get(_CASSETTE, str(cassette_format.cassette_path(cassette_dir, name)))
    snapshot = targets.get(_SNAPSHOT, f"the snapshot of {name}")
    files = ((_CASSETTE, cassette), (_SNAPSHOT, snapshot))
    replaced = [path for key, path in files if key not in present]
    waiting = [path for key, path in files if key in present]
    if not waiting:
        state = f"both files are new ({', '.join(replaced)}); only its journal entry is left"
    else:
        state = (
            f"already new: {', '.join(replaced) or 'none'}; still old: {', '.join(waiting)} "
            "(their new versions wait there)"
        )
    return f"a recording of {name} was interrupted while it replaced its files in {entry}: {state}"


def _absolute(path: Path) -> Path:
    """Absolute, `.` and `..` taken lexically: no link followed."""
    return Path(os.path.normpath(os.path.abspath(path)))


def _same(first: Path, second: Path) -> bool:
    """The same path as written, or as it resolves (journals of older versions hold resolved
    paths)."""
    return _absolute(first) == _absolute(second) or first.resolve() == second.resolve()


def _reason(exc: OSError) -> str:
    """`No space left on device`, with the file when the error names one."""
    reason = exc.strerror or str(exc)
    return f"{reason} ({exc.filename})" if exc.filename else reason


def refuse_linked_goldens(cassette_dir: Path, snapshot_dir: Path, names: list[str]) -> None:
    """Refuse, before anything is recorded, a golden of these dialogues that is a symbolic
    link, or lies in a linked directory: UnsafeGoldenPath naming the first one found."""
    for directory, files in (
        (cassette_dir, [WORK_DIR_NAME, *_cassette_names(names)]),
        (snapshot_dir, [f"{name}.json" for name in names]),
    ):
        try:
            opened = GoldenDirectory.open(directory)
        except (FileNotFoundError, NotADirectoryError):
            continue  # nothing recorded there yet (or the recording says why it cannot)
        with opened:
            for file_name in files:
                opened.refuse_link(file_name)


def _cassette_names(names: list[str]) -> list[str]:
    return [cassette_format.cassette_path(Path(), name).name for name in names] + [
        cassette_format.legacy_cassette_path(Path(), name).name for name in names
    ]
