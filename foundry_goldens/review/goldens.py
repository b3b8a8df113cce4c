"""Parsing one revision's golden files into typed dialogues, snapshots and cassettes.

Formats are those of docs/contracts.md. A dialogue is known by its file stem; at one revision it
has a dialogue script, a snapshot and a cassette, and a missing one is an error naming the ref
and the path, because a diff against half a golden would mislead the reviewer.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from foundry_goldens.cassettes import format as cassette_format
from foundry_goldens.cassettes.format import CassetteFormatError
from foundry_goldens.goldens.dialogues import MAX_DIALOGUE_BYTES
from foundry_goldens.review.errors import GoldenDiffError
from foundry_goldens.review.revisions import DEFAULT_LAYOUT, GoldenLayout, Revision
from foundry_goldens.yamltext import UnsafeYamlError, load_yaml


class ScriptTurn(BaseModel):
    model_config = ConfigDict(extra="allow")
    user: str
    expect: dict[str, Any] | None = None


class DialogueScript(BaseModel):
    """goldens/dialogues/<name>.yaml: the scripted user turns."""

    model_config = ConfigDict(extra="allow")
    name: str | None = None
    description: str | None = None
    agent: str | None = None
    turns: list[ScriptTurn]

    def settings(self) -> dict[str, Any]:
        """Everything but the turns: description, agent and any other key."""
        return self.model_dump(exclude={"turns"}, exclude_none=True)


class TurnOutput(BaseModel):
    model_config = ConfigDict(extra="allow")
    items: list[dict[str, Any]]
    usage: dict[str, Any] | None = None


class SnapshotTurn(BaseModel):
    model_config = ConfigDict(extra="allow")
    turn: int
    user: str | None = None
    output: TurnOutput | None = None  # None: the turn failed as expected (see `error`)
    error: dict[str, Any] | None = None


class Snapshot(BaseModel):
    """goldens/snapshots/<name>.json: the expected normalized Open Responses output per turn."""

    model_config = ConfigDict(extra="allow")
    dialogue: str | None = None
    turns: list[SnapshotTurn]


@dataclass(frozen=True)
class Cassette:
    """cassettes/<name>.json (or .yaml, as older versions wrote it), parsed only to compare
    it and count its requests."""

    data: Any

    @property
    def traffic(self) -> Any:
        """What was recorded, without the metadata: a new digest of expectations that held
        (goldens/held.py) is bookkeeping, not a change of the golden."""
        if isinstance(self.data, dict) and "metadata" in self.data:
            return {key: value for key, value in self.data.items() if key != "metadata"}
        return self.data

    @property
    def request_count(self) -> int | None:
        interactions = self.data.get("interactions") if isinstance(self.data, dict) else None
        return len(interactions) if isinstance(interactions, list) else None


@dataclass(frozen=True)
class Golden:
    """One dialogue's files at one revision."""

    name: str
    script: DialogueScript
    snapshot: Snapshot
    cassette: Cassette
    raw: tuple[bytes, bytes, bytes]  # script, snapshot, cassette bytes: equal bytes, equal golden


def paths_of(
    name: str, layout: GoldenLayout = DEFAULT_LAYOUT, files: Collection[str] = ()
) -> tuple[str, str, str]:
    return layout.paths_of(name, files)


@dataclass(frozen=True)
class GoldenSet:
    """A revision's goldens, plus the dialogue scripts nobody has recorded yet."""

    goldens: dict[str, Golden]
    unrecorded: list[str]  # a script with neither snapshot nor cassette: not a golden yet


def load_goldens(
    files: dict[str, bytes], revision: Revision, layout: GoldenLayout = DEFAULT_LAYOUT
) -> GoldenSet:
    """Parse the files `revisions.read_goldens` returned.

    A script alone is a dialogue not recorded yet (a normal step before its first recording); a
    snapshot or cassette without the other two files is a broken golden and an error."""
    names = sorted({path.rpartition("/")[2].rpartition(".")[0] for path in files})
    goldens: dict[str, Golden] = {}
    unrecorded: list[str] = []
    for name in names:
        script_path, snapshot_path, cassette_path = paths_of(name, layout, files)
        present = [p for p in (script_path, snapshot_path, cassette_path) if p in files]
        if present == [script_path]:
            _parse_script(files[script_path], script_path, revision)  # still must parse
            unrecorded.append(name)
            continue
        for path in (script_path, snapshot_path, cassette_path):
            if path not in files:
                raise GoldenDiffError(
                    f"{path} is missing at {revision.label}, but {', '.join(present)} "
                    f"{'exists' if len(present) == 1 else 'exist'} there: a dialogue's script, "
                    "snapshot and cassette are committed together (re-record it with "
                    "foundry-goldens record, or delete all three)"
                )
        goldens[name] = Golden(
            name=name,
            script=_parse_script(files[script_path], script_path, revision),
            snapshot=_parse_snapshot(files[snapshot_path], snapshot_path, revision),
            cassette=Cassette(_parse_cassette(files[cassette_path], cassette_path, revision)),
            raw=(files[script_path], files[snapshot_path], files[cassette_path]),
        )
    return GoldenSet(goldens=goldens, unrecorded=unrecorded)


def _parse_snapshot(content: bytes, path: str, revision: Revision) -> Snapshot:
    try:
        data = json.loads(content.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise GoldenDiffError(f"unparsable snapshot {path} at {revision.label}: {error}") from None
    try:
        return Snapshot.model_validate(data)
    except ValidationError as error:
        raise GoldenDiffError(
            f"unparsable snapshot {path} at {revision.label}: not in the format of "
            f"docs/contracts.md ({_first_problem(error)})"
        ) from None


def _parse_script(content: bytes, path: str, revision: Revision) -> DialogueScript:
    data = _parse_yaml(content, path, revision, "dialogue")
    try:
        return DialogueScript.model_validate(data)
    except ValidationError as error:
        raise GoldenDiffError(
            f"unparsable dialogue {path} at {revision.label}: not in the format of "
            f"docs/contracts.md ({_first_problem(error)})"
        ) from None


def _parse_yaml(content: bytes, path: str, revision: Revision, what: str) -> Any:
    """A dialogue as goldens/dialogues.py loads it: at most MAX_DIALOGUE_BYTES, no anchors or
    aliases (the revision may be a stranger's pull request)."""
    if len(content) > MAX_DIALOGUE_BYTES:
        raise GoldenDiffError(
            f"refused {what} {path} at {revision.label}: {len(content)} bytes, over the "
            f"{MAX_DIALOGUE_BYTES // (1024 * 1024)} MiB a {what} file may have"
        )
    try:
        return load_yaml(content.decode("utf-8"))
    except UnsafeYamlError as error:
        raise GoldenDiffError(f"refused {what} {path} at {revision.label}: {error}") from None
    except (UnicodeDecodeError, yaml.YAMLError) as error:
        problem = str(error).splitlines()[0]
        raise GoldenDiffError(f"unparsable {what} {path} at {revision.label}: {problem}") from None


def _parse_cassette(content: bytes, path: str, revision: Revision) -> Any:
    try:
        return cassette_format.parse(content.decode("utf-8"))
    except (UnicodeDecodeError, CassetteFormatError) as error:
        problem = str(error).splitlines()[0]
        raise GoldenDiffError(
            f"unparsable cassette {path} at {revision.label}: {problem}"
        ) from None


def _first_problem(error: ValidationError) -> str:
    first = error.errors()[0]
    where = ".".join(str(part) for part in first["loc"]) or "top level"
    return f"{where}: {first['msg']}"
