"""A local stand-in for AI GO!'s runner of an exported run config (tests, scripts/aigo_standin.py).

It reads DIR/run.yaml with latticeflow-go-sdk's own loader (a development dependency), and for
each task specification of the evaluation runs the python solver and scorer the task includes,
as AI GO! would: the solver's `model.predict(items)` rebuilds the request from the trace with
latticeflow-core's converter, calls the model's included snippet as `run_inference(body,
environment, sample=row)`, and parses the output as AI GO! does (the driver's `check_turn`);
the scorer gets the row and the SolverTrace; each metric is the mean of its field. The model's
environment is the exported one with the endpoint and credential of a local Foundry (the
emulator) in place of the secrets, which only AI GO! resolves.
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
import types
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from latticeflow.core.dtypes import (
    ChatCompletionInput,
    ModelResponse,
    SolverTrace,
    TaskResultLog,
    Trace,
    TraceItem,
    model_output_to_trace_items,
    trace_items_to_model_input,
)
from latticeflow.core.dtypes._assessment.models import (
    SampleData,
    ScoresData,
    TaskResultError,
)
from latticeflow.core.dtypes._evidence import SampleEvidence, SolverData, TaskResultEvidence

from foundry_goldens.snippet.driver import check_turn, takes_sample

_TEMPLATE = re.compile(r"^\s*<<\s*(config|secrets)\.(?P<name>.*?)\s*>>\s*$")
# Settings AI GO! fills from secrets or the environment; the stand-in passes its own instead.
_REPLACED = (
    "AZURE_AI_PROJECT_ENDPOINT",
    "AZURE_TENANT_ID",
    "AZURE_CLIENT_ID",
    "AZURE_CLIENT_SECRET",
)


@dataclass
class SampleResult:
    specification: str
    sample_id: str
    scores: dict[str, Any] = field(default_factory=dict)
    broken: list[str] = field(default_factory=list)
    error: str | None = None
    bodies: list[str] = field(default_factory=list)  # the requests the model got, in order
    trace: SolverTrace | None = None
    row: dict[str, Any] = field(default_factory=dict)


@dataclass
class StandInRun:
    samples: list[SampleResult]
    metrics: dict[str, dict[str, float]]  # specification -> metric name -> value
    tasks: dict[str, dict[str, Any]] = field(default_factory=dict)  # specification -> task

    def evidence(self, specification: str) -> TaskResultEvidence:
        """The specification's samples as AI GO! keeps them: one trial each, with the row,
        the solver's trace, the scores, or the error that ended the sample."""
        samples = [
            SampleEvidence.build_with_1_trial(
                sample_id=result.sample_id,
                sample=SampleData(data=result.row),
                solver=SolverData(output=result.trace) if result.trace is not None else None,
                scores=[
                    ScoresData(
                        scorer_key="expectations",
                        scorer_name=None,
                        direct_ios=[],
                        values=result.scores,
                        metadata={"broken": result.broken},
                    )
                ]
                if result.error is None
                else None,
                errors=[TaskResultError(error_type="SolverError", message=result.error, hint=None)]
                if result.error
                else [],
            )
            for result in self.samples
            if result.specification == specification
        ]
        return TaskResultEvidence(metrics=None, samples=samples)

    def task_result_log(self, specification: str) -> TaskResultLog:
        """The task result log AI GO! would let one download for the specification."""
        task = self.tasks[specification]
        return TaskResultLog.model_validate(
            {
                "format_version": "v1",
                "app_version": "stand-in",
                "status": "success",
                "evidence": self.evidence(specification).model_dump(mode="json"),
                "specification": {
                    "display_name": specification,
                    "task": {
                        "id": task["key"],
                        "key": task["key"],
                        "display_name": task["display_name"],
                        "description": task["description"],
                        "config_spec": [],
                        "tags": [],
                        "provider": "user",
                        "definition": task["definition"],
                    },
                    "config": {},
                    "run_config": {},
                },
                "execution": {"runtime": 0.0, "started_at": 0, "ended_at": 0},
                "errors": [],
            }
        )


def _module(name: str, source: str) -> types.ModuleType:
    """A snippet run as AI GO! runs one: its text executed as a module of its own."""
    module = types.ModuleType(name)
    sys.modules[name] = module  # dataclasses and pydantic look their module up by name
    exec(compile(source, f"<{name}>", "exec"), module.__dict__)
    return module


class StandInModel:
    """The model object a python solver gets, calling a custom-inference snippet."""

    def __init__(self, run_inference: Callable[..., str], environment: Mapping[str, Any]) -> None:
        self._run_inference = run_inference
        self._environment = dict(environment)
        self._with_sample = takes_sample(run_inference)
        self.bodies: list[str] = []

    async def predict(
        self, items: list[TraceItem], sample: dict[str, Any] | None = None
    ) -> ModelResponse:
        model_input = trace_items_to_model_input(items)
        if not isinstance(model_input, ChatCompletionInput):
            raise TypeError("a chat_completion model gets chat messages only")
        body = model_input.model_dump_json()
        self.bodies.append(body)
        environment = dict(self._environment)
        if self._with_sample and sample is not None:
            output_json = self._run_inference(body, environment, sample=sample)
        else:
            output_json = self._run_inference(body, environment)
        name = str((sample or {}).get("id", "sample"))
        output = check_turn(name, len(self.bodies), output_json)
        return ModelResponse(raw_output=output, items=model_output_to_trace_items(output))


def _resolve(value: Any, config: Mapping[str, Any]) -> Any:
    match = _TEMPLATE.match(value) if isinstance(value, str) else None
    if match and match.group(1) == "config":
        return config[match.group("name")]
    return value


def _environment(model: Any, local: Mapping[str, Any]) -> dict[str, Any]:
    environment = {
        key: value
        for key, value in (model.config.environment or {}).items()
        if key not in _REPLACED and not (isinstance(value, str) and _TEMPLATE.match(value))
    }
    return {**environment, **local}


def _rows(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def run_export(
    run_yaml: Path,
    local_environment: Mapping[str, Any],
    *,
    only: Iterable[str] = (),
    on_sample: Callable[[SampleResult], None] | None = None,
) -> StandInRun:
    """Run the evaluation of `run_yaml` (only the dialogues named in `only`, if any) against
    the Foundry `local_environment` names (endpoint, credential)."""
    from latticeflow.go.cli.utils.run_config_processing import get_sdk_run_config_from_file

    # The SDK's types are unions of every kind of model, task and source; this reads the
    # export's own (custom_inference, python solver and scorer, local JSONL).
    loaded: tuple[Any, Any] = get_sdk_run_config_from_file(run_yaml)
    run_config, origin = loaded
    if run_config.evaluation is None:
        raise ValueError(f"{run_yaml}: no evaluation to run")
    models = {m.key: m for m in run_config.models if hasattr(m, "config")}
    datasets = {
        d.key: (d, origin.get("datasets").get(i).get_file_path())
        for i, d in enumerate(run_config.datasets)
    }
    tasks = {t.key: t for t in run_config.tasks}
    wanted = set(only)
    samples: list[SampleResult] = []
    metrics: dict[str, dict[str, float]] = {}
    task_dumps: dict[str, dict[str, Any]] = {}
    for spec in run_config.evaluation.task_specifications:
        task = tasks[spec.task_key]
        model = models[_resolve(spec.model_key, run_config.config)]
        dataset_key = _resolve(
            _resolve(task.definition.dataset.key, spec.task_config), run_config.config
        )
        dataset, dataset_file = datasets[dataset_key]
        rows = _rows(dataset_file.parent / dataset.source.file_path)
        rows = [r for r in rows if not wanted or r.get("id") in wanted]
        if not rows:
            continue
        snippet = _module(f"aigo_standin_model_{model.key}", model.config.run_inference_snippet)
        solver = _module("aigo_standin_solver", task.definition.solver.run_solver_snippet)
        scorer = task.definition.scorers[0]
        scoring = _module("aigo_standin_scorer", scorer.compute_scores_snippet)
        environment = _environment(model, local_environment)
        spec_results = []
        for row in rows:
            result = SampleResult(str(spec.key), str(row.get("id")), row=row)
            stand_in = StandInModel(snippet.run_inference, environment)
            trace = SolverTrace(trace=Trace(items=[]), raw_outputs=[])
            try:
                played = asyncio.run(solver.run_solver(row, stand_in, trace))
            except Exception as exc:  # AI GO! records the sample's error and scores nothing
                result.error = f"{type(exc).__name__}: {exc}"
            else:
                scored = scoring.compute_scores(row, played)
                result.scores = dict(scored["scores"])
                result.broken = list(scored.get("metadata", {}).get("broken", []))
                result.trace = played
            result.bodies = stand_in.bodies
            spec_results.append(result)
            if on_sample is not None:
                on_sample(result)
        scored_results = [r for r in spec_results if r.error is None]
        metrics[str(spec.key)] = {
            str(metric.name or metric.field): (
                sum(float(r.scores[metric.field]) for r in scored_results) / len(scored_results)
                if scored_results
                else 0.0
            )
            for metric in scorer.metrics
        }
        samples += spec_results
        task_dumps[str(spec.key)] = task.model_dump(mode="json", exclude_none=True)
    return StandInRun(samples, metrics, task_dumps)
