"""`foundry-goldens export aigo DIR`: the project's dialogues as an AI GO! run config.

DIR/run.yaml is what `lf run -f` takes; beside it:

    run_inference.py          a copy of the configured snippet
    models/<agent>.yaml       integration/model.yaml, addressing that agent
    datasets/<agent>.yaml     one local JSONL dataset per agent, a row per dialogue
    datasets/<agent>.jsonl
    tasks/goldens.yaml        the task: python solver and scorer, mean metrics
    tasks/solver.py           aigo/solver.py
    tasks/scorer.py           aigo/scoring.py with the expectation checks embedded (aigo/inline.py)

Several agents: one model per agent (the same snippet, `AZURE_FOUNDRY_AGENT_NAME` set), each
paired with its agent's dataset in one task specification of the evaluation. The snippet
addresses the agent its environment names, as model.yaml configures it for one agent, so it
runs unchanged and a dataset row never chooses what the model calls; AI GO! reports each
agent's results, usage and rate limit apart; and a model per agent is what the native
`azure_foundry` connection is too, should a team switch to it.

Left out, with the reason printed: dialogues with the emulator's trigger phrases (only the
local emulator acts on them) and dialogues expecting a turn to fail (AI GO! ends a sample at a
failing turn, before any scorer runs).
"""

from __future__ import annotations

import copy
import json
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from foundry_goldens.aigo.inline import standalone
from foundry_goldens.aigo.scoring import DIALOGUE_PASSED, TURNS_PASSED
from foundry_goldens.config import Config, write_golden
from foundry_goldens.emulator.outcomes import Trigger
from foundry_goldens.goldens.dialogues import Dialogue, load_dialogues

# A dataset row says it came from an export: `import aigo` then takes its dialogue as is.
ROW_FORMAT = "foundry-goldens/dialogue-1"
EMULATOR_MARK = "[emulate:"
TASK_FILE = "tasks/goldens.yaml"
SNIPPET_FILE = "run_inference.py"
DEFAULT_ENVIRONMENT_AGENT = "$AZURE_FOUNDRY_AGENT_NAME"
_KEY_CHARS = re.compile(r"[^a-zA-Z0-9_-]+")


class ExportError(ValueError):
    """The export cannot be written; the message says why."""


@dataclass(frozen=True)
class LeftOut:
    name: str
    reason: str


@dataclass
class ExportResult:
    directory: Path
    files: list[str] = field(default_factory=list)  # relative to directory, in writing order
    agents: dict[str, list[str]] = field(default_factory=dict)  # agent -> dialogue names
    left_out: list[LeftOut] = field(default_factory=list)
    keys: dict[str, str] = field(default_factory=dict)  # task, evaluation


# -- what runs in AI GO! ----------------------------------------------------------------------


def left_out_reason(dialogue: Dialogue) -> str | None:
    """Why `dialogue` cannot run in AI GO! (None: it can)."""
    reasons = []
    for number, turn in enumerate(dialogue.turns, start=1):
        marks = [t.value for t in Trigger if t.value in turn.user]
        if marks or EMULATOR_MARK in turn.user:
            shown = marks[0] if marks else EMULATOR_MARK + "…]"
            reasons.append(
                f"turn {number} holds the emulator's trigger phrase {shown!r}, which only the "
                "local emulator acts on"
            )
        if turn.expect.error is not None:
            code = turn.expect.error.code or "an error"
            reasons.append(
                f"turn {number} expects the turn to fail ({code}); AI GO! ends a sample at a "
                "failing turn, before any scorer runs"
            )
    return "; ".join(reasons) or None


def dataset_row(dialogue: Dialogue) -> dict[str, Any]:
    """The dialogue as one dataset row (JSON): the solver plays `turns[*].user`, the scorer
    checks `turns[*].expect`; the rest lets `import aigo` give the dialogue back."""
    return {
        "id": dialogue.name,
        "agent": dialogue.agent,
        "system": dialogue.system,
        "request_mode": dialogue.request_mode,
        "description": dialogue.description,
        "turns": [
            {
                "user": turn.user,
                "expect": turn.expect.model_dump(mode="json", exclude_defaults=True),
            }
            for turn in dialogue.turns
        ],
        "format": ROW_FORMAT,
    }


def dialogue_from_row(row: Mapping[str, Any]) -> Dialogue:
    """The dialogue an exported row holds (pydantic's ValidationError when it holds none)."""
    return Dialogue.model_validate(
        {
            "name": row.get("id"),
            "description": row.get("description") or "",
            "agent": row.get("agent"),
            "request_mode": row.get("request_mode") or "echo",
            "system": row.get("system"),
            "turns": row.get("turns"),
        }
    )


def _jsonl(dialogue: Dialogue) -> str:
    try:
        return json.dumps(dataset_row(dialogue), ensure_ascii=False, allow_nan=False) + "\n"
    except ValueError:  # NaN or infinity in arguments: JSON has no such number
        raise ExportError(
            f"{dialogue.name}: an expectation holds a number JSON cannot (NaN or infinity)"
        ) from None


# -- keys -------------------------------------------------------------------------------------


def key_part(text: str) -> str:
    """`text` as a piece of an AI GO! key (letters, digits, '_' and '-')."""
    return _KEY_CHARS.sub("-", text).strip("-")[:80] or "x"


def default_prefix(config: Config) -> str:
    """The project's name ([project] name in its pyproject.toml, else its directory)."""
    if config.source is not None:
        try:
            name = tomllib.loads(config.source.read_text(encoding="utf-8"))["project"]["name"]
            if isinstance(name, str) and name.strip():
                return key_part(name)
        except (OSError, ValueError, KeyError, TypeError):
            pass
    return key_part(config.root.name)


def _unique(agents: Iterable[str | None]) -> dict[str | None, str]:
    """Each agent -> a key part no other agent has (after unsafe characters are replaced);
    None (the environment's agent) is `default`."""
    taken: dict[str | None, str] = {}
    for agent in sorted(agents, key=lambda a: (a is not None, a or "")):
        base = key_part(agent) if agent is not None else "default"
        candidate, number = base, 2
        while candidate in taken.values():
            candidate, number = f"{base}-{number}", number + 1
        taken[agent] = candidate
    return taken


# -- YAML with !include -----------------------------------------------------------------------


@dataclass(frozen=True)
class Include:
    """`!include path`: the SDK's loader puts the file's text there (paths relative to the file)."""

    path: str


class _Loader(yaml.SafeLoader):
    pass


_Loader.add_constructor(
    "!include",
    lambda loader, node: Include(str(loader.construct_scalar(node))),  # type: ignore[arg-type]
)


class _Dumper(yaml.SafeDumper):
    def ignore_aliases(self, data: Any) -> bool:
        return True  # every value written out: the dialogue loader refuses anchors and aliases


# Characters PyYAML reads back as something else when a scalar holds them plain, single-quoted
# or folded (line breaks of its own, a BOM, controls): such text is written double-quoted,
# where every one is an escape.
_UNSAFE_IN_YAML = frozenset("\x85\u2028\u2029\ufeff\r\x7f") | {
    chr(c) for c in range(0x20) if c != 0x0A
}


def _represent_text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    if _UNSAFE_IN_YAML.intersection(value):
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style='"')
    return dumper.represent_str(value)


_Dumper.add_representer(str, _represent_text)
_Dumper.add_representer(
    Include, lambda dumper, value: dumper.represent_scalar("!include", value.path)
)


def dump_yaml(data: Any) -> str:
    return yaml.dump(
        data,
        Dumper=_Dumper,
        sort_keys=False,
        allow_unicode=True,
        width=100,
        default_flow_style=False,
    )


def _base_model(config: Config) -> tuple[dict[str, Any], str]:
    """The project's model.yaml (beside the snippet), or a minimal one; and where it came from."""
    path = config.snippet.parent / "model.yaml"
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {
            "display_name": "Azure AI Foundry agent",
            "key": "azure-foundry-agent",
            "task": "chat_completion",
            "config": {
                "connection_type": "custom_inference",
                "adapter": {"key": "latticeflow$identity"},
                "environment": {
                    "AZURE_AI_PROJECT_ENDPOINT": "$AZURE_AI_PROJECT_ENDPOINT",
                    "AZURE_FOUNDRY_AGENT_NAME": DEFAULT_ENVIRONMENT_AGENT,
                },
                "timeout": 120,
            },
        }, "a minimal custom_inference model (no model.yaml beside the snippet)"
    except (OSError, UnicodeDecodeError) as exc:
        raise ExportError(f"{path}: cannot be read: {exc}") from None
    try:
        model = yaml.load(text, Loader=_Loader)  # a SafeLoader, plus !include
    except yaml.YAMLError as exc:
        raise ExportError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(model, dict) or not isinstance(model.get("config"), dict):
        raise ExportError(f"{path}: expected a model with a `config` mapping")
    shown = path.relative_to(config.root) if path.is_relative_to(config.root) else path
    return model, str(shown)


def _agent_model(base: Mapping[str, Any], agent: str | None, part: str) -> dict[str, Any]:
    model = copy.deepcopy(dict(base))
    config = model["config"]
    config["run_inference_snippet"] = Include(f"../{SNIPPET_FILE}")
    environment = config.setdefault("environment", {})
    if not isinstance(environment, dict):
        raise ExportError("model.yaml: config.environment is not a mapping")
    if agent is not None:
        environment["AZURE_FOUNDRY_AGENT_NAME"] = agent
        model["key"] = f"{key_part(str(model.get('key') or 'model'))}-{part}"[:250]
        model["display_name"] = f"{model.get('display_name') or 'Foundry agent'} ({agent})"
    return model


# -- the export ---------------------------------------------------------------------------------


def _task(task_key: str, prefix: str) -> dict[str, Any]:
    return {
        "key": task_key,
        "display_name": f"{prefix}: golden dialogues",
        "description": (
            "Plays each golden dialogue's user turns through the model and checks every turn's "
            "expect: block with foundry-goldens' expectation checks (latticeflow-core's agent "
            "scorers for tools). Generated by `foundry-goldens export aigo`."
        ),
        "tasks": ["chat_completion"],
        "config_spec": [
            {
                "type": "dataset",
                "key": "dataset_key",
                "display_name": "Dialogues",
                "description": "Golden dialogues, one a row, exported by foundry-goldens.",
            }
        ],
        "definition": {
            "dataset": {"key": "<< config.dataset_key >>"},
            "solver": {"type": "python", "run_solver_snippet": Include("./solver.py")},
            "scorers": [
                {
                    "type": "python",
                    "key": "expectations",
                    "display_name": "Expectations (foundry-goldens)",
                    "compute_scores_snippet": Include("./scorer.py"),
                    "metrics": [
                        {
                            "type": "mean",
                            "key": "dialogues_passed",
                            "field": DIALOGUE_PASSED,
                            "name": "Dialogues passed",
                        },
                        {
                            "type": "mean",
                            "key": "turns_passed",
                            "field": TURNS_PASSED,
                            "name": "Turns passed",
                        },
                    ],
                }
            ],
        },
    }


def export_aigo(
    config: Config, directory: Path, *, prefix: str | None = None, only: Iterable[str] = ()
) -> ExportResult:
    """Write the run config into `directory` (made if missing); see the module docstring."""
    dialogues = load_dialogues(config.require_dialogues(), only)
    snippet = config.require_snippet().read_bytes()
    prefix = key_part(prefix) if prefix else default_prefix(config)
    base, model_source = _base_model(config)
    result = ExportResult(directory)
    by_agent: dict[str | None, list[Dialogue]] = {}
    for dialogue in dialogues:
        reason = left_out_reason(dialogue)
        if reason:
            result.left_out.append(LeftOut(dialogue.name, reason))
            continue
        by_agent.setdefault(dialogue.agent or config.agent, []).append(dialogue)
    if not by_agent:
        raise ExportError(
            f"{config.dialogues}: no dialogue can run in AI GO! "
            f"({'; '.join(f'{o.name}: {o.reason}' for o in result.left_out)})"
        )
    parts = _unique(by_agent)
    base_key = prefix if prefix.endswith("goldens") else f"{prefix}-goldens"
    task_key = base_key
    result.keys = {"task": task_key, "evaluation": base_key}

    def write(relative: str, text: str) -> None:
        write_golden(directory / relative, text.encode("utf-8"), anchor=directory)
        result.files.append(relative)

    write(SNIPPET_FILE, snippet.decode("utf-8"))
    write("tasks/solver.py", standalone("foundry_goldens.aigo.solver", title=_SOLVER_TITLE))
    write("tasks/scorer.py", standalone("foundry_goldens.aigo.scoring", title=_SCORER_TITLE))
    write(TASK_FILE, _GENERATED + dump_yaml(_task(task_key, prefix)))

    run: dict[str, Any] = {"models": [], "datasets": [], "tasks": [{"$ref": f"./{TASK_FILE}"}]}
    specifications, config_spec, values = [], [], {}
    for agent, members in sorted(by_agent.items(), key=lambda item: item[0] or ""):
        part = parts[agent]
        shown = agent or f"{DEFAULT_ENVIRONMENT_AGENT} (the dialogues without an agent)"
        model = _agent_model(base, agent, part)
        write(
            f"models/{part}.yaml",
            f"# From {model_source}, addressing agent {shown}.\n" + _GENERATED + dump_yaml(model),
        )
        rows = "".join(_jsonl(d) for d in members)
        write(f"datasets/{part}.jsonl", rows)
        dataset_key = f"{base_key}-{part}"[:250]
        dataset = {
            "key": dataset_key,
            "display_name": f"{prefix} goldens: {agent or 'default agent'}",
            "description": f"{len(members)} golden dialogues of agent {shown}, one a row.",
            "source": {"type": "local", "file_path": f"./{part}.jsonl"},
        }
        write(f"datasets/{part}.yaml", _GENERATED + dump_yaml(dataset))
        run["models"].append({"$ref": f"./models/{part}.yaml"})
        run["datasets"].append({"$ref": f"./datasets/{part}.yaml"})
        slot = part.replace("-", "_")
        config_spec += [
            {"type": "model", "key": f"model_{slot}", "display_name": f"Model: {shown}"},
            {"type": "dataset", "key": f"dataset_{slot}", "display_name": f"Dialogues: {shown}"},
        ]
        values[f"model_{slot}"] = model["key"]
        values[f"dataset_{slot}"] = dataset_key
        specifications.append(
            {
                "key": f"{task_key}-{part}"[:250],
                "task_key": task_key,
                "model_key": f"<< config.model_{slot} >>",
                "task_config": {"dataset_key": f"<< config.dataset_{slot} >>"},
                "display_name": f"Goldens: {agent or 'default agent'}",
            }
        )
        result.agents[agent or DEFAULT_ENVIRONMENT_AGENT] = [d.name for d in members]
    run["evaluation"] = {
        "key": result.keys["evaluation"],
        "display_name": f"{prefix}: golden dialogues",
        "description": "The project's golden dialogues, every turn's expectations checked.",
        "config_spec": config_spec,
        "task_specifications": specifications,
    }
    run["config"] = values
    left_out = "".join(f"#   {o.name}: {o.reason}\n" for o in result.left_out) or "#   (none)\n"
    header = (
        _GENERATED
        + "# Validate offline: lf run -f run.yaml --validate; run (needs an AI GO! server and an\n"
        "# AI app): lf run -f run.yaml. Left out of the export:\n" + left_out
    )
    write("run.yaml", header + dump_yaml(run))
    return result


_GENERATED = "# Generated by `foundry-goldens export aigo`; export again rather than edit.\n"
_SOLVER_TITLE = "AI GO! solver of the golden dialogues: plays every user turn through the model."
_SCORER_TITLE = (
    "AI GO! scorer of the golden dialogues: checks every turn's expect: block as replay does."
)
