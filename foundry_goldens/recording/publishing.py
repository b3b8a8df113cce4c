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
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from foundry_goldens.cassettes import format as cassette_format

WORK_DIR_NAME = ".record"
_TARGETS = "targets.json"
# The journal's file names, in the order they are moved (the snapshot last: a reader that
# sees the new snapshot sees the new cassette too).
_CASSETTE, _SNAPSHOT = "cassette.json", "snapshot.json"


class RecorderBusy(ValueError):
    """Another recording holds the lock on these goldens."""


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

    def publish(self, name: str, cassette_target: Path, snapshot_target: Path) -> None:
        """Commit the staged pair to the journal (one atomic rename), then move it in place."""
        entry = self.root / "publish" / name
        entry.mkdir(parents=True)
        os.replace(self.cassette(name), entry / _CASSETTE)
        os.replace(self.snapshot(name), entry / _SNAPSHOT)
        # Absolute: the next run, which may complete this, can start in another directory.
        targets = {
            _CASSETTE: str(cassette_target.resolve()),
            _SNAPSHOT: str(snapshot_target.resolve()),
        }
        (entry / _TARGETS).write_text(json.dumps(targets, indent=2), encoding="utf-8")
        pending = pending_dir(self.cassette_dir, name)
        pending.parent.mkdir(parents=True, exist_ok=True)
        os.rename(entry, pending)  # the commit point
        complete_entry(pending)


@contextlib.contextmanager
def staging(cassette_dir: Path) -> Iterator[Staging]:
    """Lock the goldens, clean up after dead runs, and yield a fresh staging directory.

    Pending publishes of a killed run are completed first, so every pair is whole again.
    """
    root = work_dir(cassette_dir)
    root.mkdir(parents=True, exist_ok=True)
    with _locked(root):
        complete_pending(cassette_dir)
        for leftover in [*root.glob("run-*"), *_legacy_staging(cassette_dir)]:
            shutil.rmtree(leftover, ignore_errors=True)
        run = Path(tempfile.mkdtemp(prefix="run-", dir=root))
        (run / "cassettes").mkdir()
        (run / "snapshots").mkdir()
        try:
            yield Staging(run, cassette_dir)
        finally:
            shutil.rmtree(run, ignore_errors=True)


def _legacy_staging(cassette_dir: Path) -> list[Path]:
    """Staging directories earlier versions left beside the cassettes (the repository root)."""
    return [
        path
        for path in cassette_dir.parent.glob(".record-*")
        if path.is_dir() and {p.name for p in path.iterdir()} <= {"cassettes", "snapshots"}
    ]


@contextlib.contextmanager
def _locked(directory: Path) -> Iterator[None]:
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RecorderBusy(
                f"another foundry-goldens record run is recording into {directory.parent} (it "
                f"locks {directory}); wait for it to finish"
            ) from None
        yield
    finally:
        os.close(descriptor)  # releases the lock


def complete_pending(cassette_dir: Path) -> list[str]:
    """Finish every publish a killed run committed but did not complete; their names."""
    pending = work_dir(cassette_dir) / "pending"
    names = sorted(p.name for p in pending.iterdir() if p.is_dir()) if pending.is_dir() else []
    for name in names:
        complete_entry(pending / name)
    return names


def complete_entry(entry: Path) -> None:
    """Move what is left of a journal entry to its targets (idempotent), then remove it."""
    targets = json.loads((entry / _TARGETS).read_text(encoding="utf-8"))
    # In the order written (the cassette first); keys as the run that wrote them named them.
    for file_name, target in targets.items():
        source = entry / file_name
        if source.exists():
            _move(source, Path(target))
        if file_name == _CASSETTE:
            # The YAML cassette an older version wrote would otherwise linger as an orphan.
            legacy = Path(target).with_suffix(cassette_format.LEGACY_SUFFIX)
            legacy.unlink(missing_ok=True)
    (entry / _TARGETS).unlink()
    entry.rmdir()


def _move(source: Path, target: Path) -> None:
    """An atomic replace of target; across filesystems via a temporary file beside it."""
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.replace(source, target)
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
        temporary = target.with_name(f".{target.name}.publishing")
        shutil.copyfile(source, temporary)
        os.replace(temporary, target)
        source.unlink()


def half_published(cassette_dir: Path, name: str) -> str | None:
    """Why the dialogue's committed pair is not whole (a publish was cut short), or None."""
    entry = pending_dir(cassette_dir, name)
    if not entry.is_dir():
        return None
    try:
        targets = json.loads((entry / _TARGETS).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        targets = {}
    cassette = targets.get(_CASSETTE, str(cassette_format.cassette_path(cassette_dir, name)))
    snapshot = targets.get(_SNAPSHOT, f"the snapshot of {name}")
    files = ((_CASSETTE, cassette), (_SNAPSHOT, snapshot))
    replaced = [path for key, path in files if not (entry / key).exists()]
    waiting = [path for key, path in files if (entry / key).exists()]
    if not waiting:
        state = f"both files are new ({', '.join(replaced)}); only its journal entry is left"
    else:
        state = (
            f"already new: {', '.join(replaced) or 'none'}; still old: {', '.join(waiting)} "
            "(their new versions wait there)"
        )
    return f"a recording of {name} was interrupted while it replaced its files in {entry}: {state}"
