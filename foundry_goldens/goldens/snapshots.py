"""The syrupy extension behind `<snapshots>/<dialogue>.json` (the configured directory).

One readable JSON file per dialogue (not one per test module), named after the dialogue and
written in the key order the harness builds (type first), so a pull-request diff of a golden
reads like the trace it describes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from syrupy.extensions.json import JSONSnapshotExtension
from syrupy.location import PyTestLocation
from syrupy.types import PropertyFilter, PropertyMatcher, SerializableData, SnapshotIndex

from foundry_goldens.config import active
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
