"""The syrupy extension behind `<snapshots>/<dialogue>.json` (the configured directory).

One readable JSON file per dialogue (not one per test module), named after the dialogue and
written in the key order the harness builds (type first), so a pull-request diff of a golden
reads like the trace it describes.

Snapshots arrive in pull requests: syrupy's own file handling (open() by path) is replaced, so
a snapshot is never read, written or deleted through a symbolic link (config.GoldenDirectory),
a linked snapshot or snapshot directory is refused naming it, and a write replaces the file
atomically with the mode open() gives (0666 less the umask), as the recorder writes it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from syrupy.data import SnapshotCollection
from syrupy.extensions.json import JSONSnapshotExtension
from syrupy.location import PyTestLocation
from syrupy.types import (
    PropertyFilter,
    PropertyMatcher,
    SerializableData,
    SerializedData,
    SnapshotIndex,
)

from foundry_goldens.config import GoldenDirectory, active, read_golden, write_golden
from foundry_goldens.jsontext import indented


def render_snapshot(data: Any) -> str:
    return indented(data)


def _param_id(test_location: PyTestLocation) -> str:
    """`test_golden[order_lookup]` -> `order_lookup`: the file is named after the dialogue."""
    name = test_location.snapshot_name_parametrized
    if "[" in name and name.endswith("]"):
        return name[name.index("[") + 1 : -1]
    return test_location.snapshot_name


class GoldenSnapshotExtension(JSONSnapshotExtension):
    @classmethod
    def dirname(cls, *, test_location: PyTestLocation) -> str:
        return str(active().snapshots)

    @classmethod
    def discovery_dirname(cls, *, test_location: PyTestLocation) -> str:
        return cls.dirname(test_location=test_location)

    @classmethod
    def get_snapshot_name(cls, *, test_location: PyTestLocation, index: SnapshotIndex = 0) -> str:
        return _param_id(test_location)

    @classmethod
    def matches_test_location(
        cls, *, test_location: PyTestLocation, snapshot_location: str
    ) -> bool:
        stem = Path(snapshot_location).stem
        # A snapshot whose dialogue is gone belongs to every golden test, so that syrupy's
        # unused-snapshot report names it (and --snapshot-update deletes it).
        return (
            stem == _param_id(test_location) or not (active().dialogues / f"{stem}.yaml").is_file()
        )

    def serialize(
        self,
        data: SerializableData,
        *,
        exclude: PropertyFilter | None = None,
        include: PropertyFilter | None = None,
        matcher: PropertyMatcher | None = None,
    ) -> str:
        return render_snapshot(data)

    @classmethod
    def write_snapshot(
        cls,
        *,
        snapshot_location: str,
        snapshots: list[tuple[SerializedData, PyTestLocation, SnapshotIndex]],
        name_order: dict[str, int] | None = None,
    ) -> None:
        # Before syrupy's mkdir (which follows links): refuse overlapping directories and make
        # the snapshot directory without following any.
        config = active()
        config.require_separate_directories()
        GoldenDirectory.open(Path(snapshot_location).parent, config.snapshots, create=True).close()
        super().write_snapshot(
            snapshot_location=snapshot_location, snapshots=snapshots, name_order=name_order
        )

    @classmethod
    def write_snapshot_collection(
        cls, *, snapshot_collection: SnapshotCollection, name_order: dict[str, int] | None = None
    ) -> None:
        data = next(iter(snapshot_collection)).data
        if not isinstance(data, str):
            raise TypeError(f"a golden snapshot is text, got {type(data).__name__}")
        path = Path(snapshot_collection.location)
        write_golden(path, data.encode("utf-8"), active().snapshots)

    def read_snapshot_data_from_location(
        self, *, snapshot_location: str, snapshot_name: str, session_id: str
    ) -> SerializableData | None:
        try:
            data = read_golden(Path(snapshot_location), active().snapshots)
        except FileNotFoundError:
            return None
        # As syrupy reads it (text mode): universal newlines, which is what the replacements
        # make of the decoded text (without a text wrapper around a copy of the bytes).
        return data.decode("utf-8").replace("\r\n", "\n").replace("\r", "\n")

    def delete_snapshots(self, *, snapshot_location: str, snapshot_names: set[str]) -> None:
        path = Path(snapshot_location)
        with GoldenDirectory.open(path.parent, active().snapshots) as directory:
            directory.unlink(path.name)  # a link itself, never what it points to
