"""`foundry-goldens import aigo PATH`: AI GO! evaluation evidence as golden dialogues.

PATH is a task result log (`Client().download_task_result_log(...)`), its `evidence` part
alone, or a directory `lf export eval-run` wrote (its task_results/). Each sample's trial
(`--only-failing METRIC`: its first trial failing that score) becomes one dialogue:

- a row of `export aigo` (its `format` says so) gives back its own dialogue, expectations and
  all, so export then import is the identity;
- any other sample: the user turns of its trace, the system message it opens with (then
  request_mode aigo, else rebuild: AI GO! rebuilds every request from the trace), each turn's
  tool calls pinned as `calls:` with their arguments, the reply left unconstrained.

Evidence comes from outside: files are read without following a link and up to a size, the
JSON is parsed as data only, every sample is validated with latticeflow-core's types and a bad
one is named with its field; each dialogue is written as YAML the dialogue loader reads back
to the same dialogue (checked before writing), never over an existing dialogue without
`--force`, and never through a link (config.GoldenDirectory).
"""

from __future__ import annotations

import errno
import math
import os
import re
import stat
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from latticeflow.core.dtypes import SolverTrace
from latticeflow.core.dtypes._evidence import SampleEvidence, SampleTrialEvidence
from pydantic import ValidationError

from foundry_goldens import jsontext
from foundry_goldens.aigo.export import ROW_FORMAT, dialogue_from_row, dump_yaml
from foundry_goldens.config import Config, GoldenDirectory, UnsafeGoldenPath
from foundry_goldens.goldens.dialogues import (
    MAX_DIALOGUE_BYTES,
    NAME_PATTERN,
    Dialogue,
    DialogueError,
    load_dialogue,
)
from foundry_goldens.yamltext import load_yaml

# A task result log holds every sample's whole trace; far past any real one, refused unread.
MAX_EVIDENCE_BYTES = 256 * 1024 * 1024
MAX_LOG_FILES = 10_000  # task result logs in one eval-run directory
MAX_NAME = 100
SCHEMA_FILE = "dialogue.schema.json"
_READ = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_LINK_ERRNOS = frozenset({errno.ELOOP, errno.EMLINK})


class EvidenceError(ValueError):
    """The evidence cannot be imported; the message names the file, sample and field."""


@dataclass(frozen=True)
class Imported:
    dialogue: Dialogue
    sample_id: str
    origin: str  # "export" (the row's own dialogue) or "trace"
    text: str  # the YAML written


@dataclass
class ImportResult:
    written: list[tuple[str, Path, str]] = field(default_factory=list)  # name, path, origin
    skipped: list[str] = field(default_factory=list)  # bad samples left out (--skip-invalid)
    passing: int = 0  # samples not failing --only-failing's metric


# -- reading ------------------------------------------------------------------------------------


def _read(directory: GoldenDirectory, name: str, limit: int) -> bytes:
    """A regular file of `directory`, never through a link, refused past `limit` bytes."""
    where = directory.path / name
    try:
        fd = os.open(name, _READ, dir_fd=directory.fd)
    except OSError as exc:
        if exc.errno in _LINK_ERRNOS:
            raise EvidenceError(f"{where}: a symbolic link; name the file itself") from None
        raise EvidenceError(f"{where}: cannot be read: {exc.strerror or exc}") from None
    with os.fdopen(fd, "rb") as handle:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise EvidenceError(f"{where}: not a regular file")
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise EvidenceError(f"{where}: larger than {limit} bytes; refused")
    return data


def _parse(data: bytes, where: str) -> Any:
    try:
        return jsontext.loads(data)
    except RecursionError:
        raise EvidenceError(f"{where}: JSON nested too deeply") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise EvidenceError(f"{where}: not JSON: {exc}") from None


def _open_directory(path: Path) -> GoldenDirectory:
    try:
        return GoldenDirectory.open(path.absolute(), path.absolute())
    except (OSError, UnsafeGoldenPath) as exc:
        raise EvidenceError(f"{path}: cannot be opened without following a link: {exc}") from None


def _log_names(directory: GoldenDirectory) -> Iterator[tuple[GoldenDirectory, str]]:
    """The task result logs of an `lf export eval-run` directory: task_results/'s manifest
    entries, else every *.json under task_results/ (or the directory itself)."""
    try:
        results = directory.subdirectory("task_results")
    except (FileNotFoundError, NotADirectoryError):
        results = None
    except (OSError, UnsafeGoldenPath) as exc:
        raise EvidenceError(f"{directory.path}/task_results: {exc}") from None
    with results or _open_directory(directory.path) as where:
        if "manifest.json" in where.names():
            manifest = _parse(_read(where, "manifest.json", MAX_EVIDENCE_BYTES), "manifest.json")
            items = manifest.get("items") if isinstance(manifest, dict) else None
            if not isinstance(items, dict):
                raise EvidenceError(f"{where.path}/manifest.json: items: expected an object")
            paths = [str(p) for p in items.values()]
        else:
            paths = [n for n in where.names() if n.endswith(".json")]
        if len(paths) > MAX_LOG_FILES:
            raise EvidenceError(f"{where.path}: more than {MAX_LOG_FILES} task result logs")
        for relative in paths:
            parts = Path(relative).parts
            if parts and parts[0] == "task_results" and results is not None:
                parts = parts[1:]  # the manifest names them from the export's root
            if (
                not parts
                or any(p in ("", ".", "..") for p in parts)
                or Path(relative).is_absolute()
            ):
                raise EvidenceError(
                    f"{where.path}/manifest.json: {relative!r} leaves the directory"
                )
            current = where
            opened: list[GoldenDirectory] = []
            try:
                for part in parts[:-1]:
                    current = current.subdirectory(part)
                    opened.append(current)
                yield current, parts[-1]
            except (OSError, UnsafeGoldenPath) as exc:
                raise EvidenceError(f"{where.path}/{relative}: {exc}") from None
            finally:
                for directory_ in opened:
                    directory_.close()


@dataclass(frozen=True)
class _Source:
    where: str
    evidence: Mapping[str, Any]
    log: Mapping[str, Any] | None  # the whole task result log, when that is what was given


def _source(data: Any, where: str) -> _Source:
    if isinstance(data, dict) and "evidence" in data and "format_version" in data:
        evidence = data.get("evidence")
        if data.get("status") == "failure" or not isinstance(evidence, dict):
            errors = "; ".join(
                str(e.get("message")) for e in data.get("errors") or [] if isinstance(e, dict)
            )
            raise EvidenceError(
                f"{where}: the task failed in AI GO! (status {data.get('status')!r}), no "
                f"evidence{': ' + errors if errors else ''}"
            )
        return _Source(where, evidence, data)
    if isinstance(data, dict) and "samples" in data:
        return _Source(where, data, None)
    raise EvidenceError(
        f"{where}: neither a task result log (format_version, evidence) nor its evidence "
        "(samples): download one with `lf export eval-run` or Client().download_task_result_log"
    )


def read_sources(path: Path) -> list[_Source]:
    """The evidence at `path` (a file or an `lf export eval-run` directory)."""
    mode = os.lstat(path).st_mode if os.path.lexists(path) else None
    if mode is None:
        raise EvidenceError(f"{path}: no such file or directory")
    if stat.S_ISLNK(mode):
        raise EvidenceError(f"{path}: a symbolic link; name the file or directory itself")
    if stat.S_ISDIR(mode):
        sources = []
        with _open_directory(path) as directory:
            for holder, name in _log_names(directory):
                where = str(holder.path / name)
                sources.append(
                    _source(_parse(_read(holder, name, MAX_EVIDENCE_BYTES), where), where)
                )
        if not sources:
            raise EvidenceError(f"{path}: no task result logs (task_results/*.json)")
        return sources
    with _open_directory(path.parent) as directory:
        return [
            _source(_parse(_read(directory, path.name, MAX_EVIDENCE_BYTES), str(path)), str(path))
        ]


# -- samples ------------------------------------------------------------------------------------


def _field(loc: Sequence[int | str]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _invalid(sample_id: Any, where: str, error: ValidationError, prefix: str = "") -> str:
    errors = error.errors()
    # A solver output is a union: the Open Responses trace's own errors say what is wrong.
    errors = [e for e in errors if "SolverTrace" in e["loc"]] or errors
    details = [
        f"{_field([*([prefix] if prefix else []), *e['loc']])}: {e['msg']}" for e in errors[:3]
    ]
    return f"{where}: sample {sample_id!r}: " + "; ".join(details)


def _metric_fields(source: _Source, metric: str) -> set[str]:
    """The score fields `metric` names: itself, or a metric of the log's task by key or name."""
    fields = {metric}
    task = ((source.log or {}).get("specification") or {}).get("task") or {}
    for scorer in (task.get("definition") or {}).get("scorers") or []:
        for entry in (scorer or {}).get("metrics") or []:
            named = isinstance(entry, dict) and metric in (entry.get("key"), entry.get("name"))
            if named and isinstance(entry.get("field"), str):
                fields.add(entry["field"])
    return fields


def _score(trial: SampleTrialEvidence, fields: set[str]) -> Any:
    for scores in trial.scores or []:
        for name in fields:
            if name in scores.values:
                return scores.values[name]
    return _MISSING


_MISSING = object()


def _fails(value: Any) -> bool:
    if isinstance(value, bool):
        return not value
    if isinstance(value, int | float):
        return value < 1
    return value is None


def _agent_of_log(source: _Source) -> str | None:
    entity = ((source.log or {}).get("specification") or {}).get("evaluated_entity") or {}
    environment = ((entity.get("config") or {}) if isinstance(entity, dict) else {}).get(
        "environment"
    )
    agent = environment.get("AZURE_FOUNDRY_AGENT_NAME") if isinstance(environment, dict) else None
    if isinstance(agent, str) and agent and not agent.startswith(("$", "<<")) and " " not in agent:
        return agent
    return None


def name_for(sample_id: Any, prefix: str = "") -> str:
    """A dialogue name from an AI GO! sample id (`sample_3` for a bare number)."""
    text = re.sub(r"[^a-z0-9_-]+", "_", str(sample_id).lower()).strip("_-")
    if isinstance(sample_id, int) or not text or text.isdigit():
        text = f"sample_{text}".rstrip("_")
    name = (prefix + text)[:MAX_NAME].rstrip("_-")
    return name if NAME_PATTERN.fullmatch(name) else f"sample_{name}"[:MAX_NAME]


def _arguments(text: Any) -> dict[str, Any] | None:
    try:
        value = jsontext.loads(text) if isinstance(text, str) else None
    except (ValueError, RecursionError):
        return None
    if isinstance(value, dict) and _finite(value):
        return value
    return None


def _finite(value: Any) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, dict):
        return all(_finite(v) for v in value.values())
    if isinstance(value, list):
        return all(_finite(v) for v in value)
    return True


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    return "".join(str(getattr(part, "text", "") or "") for part in content or [])


def _from_trace(
    trace_output: SolverTrace, *, name: str, description: str, agent: str | None
) -> Dialogue:
    trace = trace_output.trace
    system = "\n\n".join(_text(m.content) for m in trace.system_messages) or None
    turns = []
    for turn in trace.turns:
        calls: list[Any] = []
        for call in turn.function_calls:
            arguments = _arguments(call.arguments)
            calls.append(
                {"name": call.name, "arguments": arguments} if arguments is not None else call.name
            )
        turns.append({"user": _text(turn.user_message.content), "expect": {"calls": calls}})
    return Dialogue.model_validate(
        {
            "name": name,
            "description": description,
            "agent": agent,
            "request_mode": "aigo" if system else "rebuild",
            "system": system,
            "turns": turns,
        }
    )


def _checked_text(dialogue: Dialogue, where: str) -> str:
    """The dialogue's YAML, verified to load back as the same dialogue within the limits."""
    text = dump_yaml(dialogue.model_dump(mode="json", exclude_defaults=True))
    data = text.encode("utf-8", "strict")
    if len(data) > MAX_DIALOGUE_BYTES:
        raise EvidenceError(
            f"{where}: the dialogue would be larger than {MAX_DIALOGUE_BYTES} bytes"
        )
    try:
        again = Dialogue.model_validate(load_yaml(data))
    except (ValueError, ValidationError) as exc:
        raise EvidenceError(f"{where}: the dialogue does not load back: {exc}") from None
    if again != dialogue:
        raise EvidenceError(f"{where}: the dialogue does not survive YAML unchanged")
    return text


def collect(
    sources: Sequence[_Source],
    *,
    only_failing: str | None = None,
    prefix: str = "",
    skip_invalid: bool = False,
) -> tuple[list[Imported], ImportResult]:
    """The dialogues the evidence holds (not yet written); every bad sample is an error,
    or with `skip_invalid` listed in the result and left out."""
    result = ImportResult()
    imported: list[Imported] = []
    problems: list[str] = []
    names: set[str] = set()
    seen_metric = only_failing is None
    for source in sources:
        samples = source.evidence.get("samples")
        if not isinstance(samples, list):
            raise EvidenceError(f"{source.where}: evidence.samples: expected a list of samples")
        fields = _metric_fields(source, only_failing) if only_failing else set()
        for index, raw in enumerate(samples):
            sample_id = raw.get("sample_id", index) if isinstance(raw, dict) else index
            where = f"{source.where}: sample {sample_id!r}"
            try:
                sample = SampleEvidence.model_validate(raw)
            except ValidationError as exc:
                problems.append(_invalid(sample_id, source.where, exc, f"samples[{index}]"))
                continue
            trials = sample.trials or [
                SampleTrialEvidence(
                    index=0,
                    sample_id=sample_id,
                    sample=sample.sample,
                    solver=sample.solver,
                    scores=sample.scores,
                    errors=sample.errors,
                )
            ]
            chosen, position = trials[0], 0
            if only_failing:
                failing = []
                for number, trial in enumerate(trials):
                    value = _score(trial, fields)
                    seen_metric = seen_metric or value is not _MISSING
                    if trial.errors or (value is not _MISSING and _fails(value)):
                        failing.append(number)
                if not failing:
                    result.passing += 1
                    continue
                position = failing[0]
                chosen = trials[position]
            field_of = f"samples[{index}].trials[{position}]"
            try:
                entry = _imported(source, chosen, sample_id, field_of, prefix, only_failing)
            except EvidenceError as exc:
                problems.append(f"{where}: {exc}")
                continue
            name = entry.dialogue.name
            if name in names:
                problems.append(f"{where}: a second dialogue named {name!r}")
                continue
            names.add(name)
            imported.append(entry)
    if only_failing and not seen_metric:
        raise EvidenceError(
            f"--only-failing {only_failing}: no sample has that score (nor a metric of that "
            "key or name in the task); the exported task's scores are dialogue_passed and "
            "turns_passed"
        )
    if problems and not skip_invalid:
        raise EvidenceError("\n".join(problems))
    result.skipped = problems
    return imported, result


def _imported(
    source: _Source,
    trial: SampleTrialEvidence,
    sample_id: Any,
    field_of: str,
    prefix: str,
    only_failing: str | None,
) -> Imported:
    row = trial.sample.data if trial.sample is not None else {}
    if row.get("format") == ROW_FORMAT:
        try:
            dialogue = dialogue_from_row(row)
        except ValidationError as exc:
            raise EvidenceError(
                "; ".join(
                    f"{field_of}.sample.data.{_field(e['loc'])}: {e['msg']}"
                    for e in exc.errors()[:3]
                )
            ) from None
        if prefix:  # asked for: the exported names too, beside the dialogues they came from
            try:
                dialogue = Dialogue.model_validate(
                    {**dialogue.model_dump(), "name": (prefix + dialogue.name)[:MAX_NAME]}
                )
            except ValidationError as exc:
                raise EvidenceError(f"--prefix {prefix!r}: {exc.errors()[0]['msg']}") from None
        return Imported(dialogue, str(sample_id), "export", _checked_text(dialogue, field_of))
    solver = trial.solver
    if solver is None:
        errors = "; ".join(e.message for e in trial.errors)
        raise EvidenceError(
            f"{field_of}.solver: missing, so there is no trace to take the turns from"
            + (f" (the sample failed: {errors})" if errors else "")
        )
    if not isinstance(solver.output, SolverTrace):
        raise EvidenceError(
            f"{field_of}.solver.output: not an Open Responses trace (a task whose solver "
            "records message_format open_responses, the default)"
        )
    failing = f", failing {only_failing}" if only_failing else ""
    description = (
        f"Imported from AI GO! evidence, sample {sample_id!r}{failing}: the user turns of "
        "its trace, each turn's tool calls pinned; the reply is unconstrained."
    )
    agent = row.get("agent") if isinstance(row.get("agent"), str) else _agent_of_log(source)
    try:
        dialogue = _from_trace(
            solver.output, name=name_for(sample_id, prefix), description=description, agent=agent
        )
    except ValidationError as exc:
        raise EvidenceError(
            "; ".join(
                f"{field_of}.solver.output.trace ({_field(e['loc'])}): {e['msg']}"
                for e in exc.errors()[:3]
            )
        ) from None
    return Imported(dialogue, str(sample_id), "trace", _checked_text(dialogue, field_of))


# -- writing ----------------------------------------------------------------------------------


def import_aigo(
    config: Config,
    path: Path,
    *,
    only_failing: str | None = None,
    force: bool = False,
    prefix: str = "",
    skip_invalid: bool = False,
) -> ImportResult:
    """Import the evidence at `path` into the configured dialogue directory."""
    imported, result = collect(
        read_sources(path), only_failing=only_failing, prefix=prefix, skip_invalid=skip_invalid
    )
    if not imported:
        return result
    directory_path = config.dialogues
    with GoldenDirectory.open(directory_path, create=True) as directory:
        existing = set(directory.names())
        clashes = [
            entry.dialogue.name
            for entry in imported
            if {f"{entry.dialogue.name}.yaml", f"{entry.dialogue.name}.yml"} & existing
        ]
        if clashes and not force:
            raise EvidenceError(
                f"{directory_path}: already has {', '.join(sorted(clashes))}; nothing was "
                "written (pass --force to replace them, or --prefix to name the new ones apart)"
            )
        # The editor's schema line the project's dialogues carry, when it has the schema.
        schema = config.dialogues.parent / SCHEMA_FILE
        header = f"# yaml-language-server: $schema=../{SCHEMA_FILE}\n" if schema.is_file() else ""
        for entry in imported:
            name = f"{entry.dialogue.name}.yaml"
            data = (header + entry.text).encode("utf-8")
            if force:
                directory.write(name, data)
            else:
                _create(directory, name, data)
            written = directory_path / name
            try:
                load_dialogue(written)
            except DialogueError as exc:  # checked before writing; this is a bug if reached
                raise EvidenceError(f"{written}: written but does not load: {exc}") from None
            result.written.append((entry.dialogue.name, written, entry.origin))
    return result


def _create(directory: GoldenDirectory, name: str, data: bytes) -> None:
    """A new file `name` (never replacing one made meanwhile): a hidden file, linked in."""
    temporary = directory.temporary(name, data)
    try:
        os.link(temporary, name, src_dir_fd=directory.fd, dst_dir_fd=directory.fd)
    except FileExistsError:
        raise EvidenceError(f"{directory.path / name}: appeared meanwhile; not replaced") from None
    finally:
        directory.unlink(temporary, missing_ok=True)
