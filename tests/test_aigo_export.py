"""`foundry-goldens export aigo`: the run config validates with latticeflow-go-sdk's loaders,
the generated scorer checks exactly as the package does, and the exported solver and scorer,
run by a local stand-in for AI GO!'s runner through the real snippet on the emulator, pass
every exportable golden and fail a broken expectation on its metric and sample."""

from __future__ import annotations

import ast
import json
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from latticeflow.core.dtypes import (
    InputTextContent,
    Message,
    MessageRole,
    MessageStatus,
    OpenResponsesModelOutput,
    SolverTrace,
    Trace,
)

from foundry_goldens.aigo import scoring
from foundry_goldens.aigo.export import (
    ExportResult,
    dataset_row,
    dialogue_from_row,
    export_aigo,
    left_out_reason,
)
from foundry_goldens.aigo.standin import StandInRun, run_export
from foundry_goldens.cli.main import main
from foundry_goldens.config import Config, load_config
from foundry_goldens.emulator import FoundryEmulator
from foundry_goldens.goldens.dialogues import Dialogue, Turn, load_dialogues
from foundry_goldens.goldens.expectations import evaluate, facts_from_snapshot_turn
from foundry_goldens.snippet.credentials import StaticTokenCredential
from foundry_goldens.snippet.driver import RequestMode, TurnResult, build_request_body
from tests.paths import DIALOGUE_DIR, PROJECT_ROOT, SNAPSHOT_DIR

LEFT_OUT = {
    "content_filter_annotations",
    "content_filter_blocked_prompt",
    "content_filter_blocked_rebuilt",
    "content_filter_stopped_reply",
    "failed_response",
    "function_tool_unregistered",
}
# The emulator runs of the tests: every agent, and a system message (request_mode aigo).
SUBSET = ["greeting", "order_lookup_system", "aigo_approval_return", "function_tool_store_hours"]


@pytest.fixture(scope="module")
def config() -> Config:
    return load_config(root=PROJECT_ROOT)


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory, config: Config) -> ExportResult:
    return export_aigo(config, tmp_path_factory.mktemp("aigo") / "export")


def _module(path: Path) -> types.ModuleType:
    module = types.ModuleType(f"exported_{path.stem}")
    exec(compile(path.read_text("utf-8"), str(path), "exec"), module.__dict__)
    return module


def test_every_exported_file_validates_with_the_sdk_loaders(exported: ExportResult) -> None:
    from latticeflow.go.cli.datasets import get_sdk_dataset_from_file
    from latticeflow.go.cli.tasks import get_sdk_task_from_file
    from latticeflow.go.cli.utils.run_config_processing import get_sdk_run_config_from_file

    root = exported.directory
    run, _origin = get_sdk_run_config_from_file(root / "run.yaml")
    task = get_sdk_task_from_file(root / "tasks" / "goldens.yaml")
    for relative in exported.files:
        assert (root / relative).is_file(), relative
        if relative.startswith("datasets/") and relative.endswith(".yaml"):
            dataset, _ = get_sdk_dataset_from_file(root / relative)
            assert dataset.source is not None
    # One model per agent, each addressing it, paired with its agent's dataset.
    agents = {m.config.environment["AZURE_FOUNDRY_AGENT_NAME"] for m in run.models}  # type: ignore[union-attr]
    assert (
        agents
        == set(exported.agents)
        == {
            "retail-support",
            "retail-support-guarded",
            "policy-assistant",
            "store-assistant",
        }
    )
    assert run.evaluation is not None
    assert len(run.evaluation.task_specifications) == 4
    snippet = (PROJECT_ROOT / "integration" / "run_inference.py").read_text("utf-8")
    for model in run.models:
        assert model.config.run_inference_snippet == snippet.strip()  # type: ignore[union-attr]
    scorer = task.definition.scorers[0]  # type: ignore[union-attr]
    assert [m.field for m in scorer.metrics] == ["dialogue_passed", "turns_passed"]  # type: ignore[union-attr]


def test_the_export_leaves_out_what_cannot_run_in_aigo_and_says_why(
    exported: ExportResult,
) -> None:
    assert {left.name for left in exported.left_out} == LEFT_OUT
    reasons = {left.name: left.reason for left in exported.left_out}
    assert "[emulate: blocked-prompt]" in reasons["content_filter_blocked_prompt"]
    assert "function_not_registered" in reasons["function_tool_unregistered"]
    exported_names = {n for names in exported.agents.values() for n in names}
    shipped = {d.name for d in load_dialogues(DIALOGUE_DIR)}
    assert exported_names == shipped - LEFT_OUT
    run_yaml = (exported.directory / "run.yaml").read_text("utf-8")
    assert all(f"#   {name}: " in run_yaml for name in LEFT_OUT)


def test_each_dataset_row_is_its_dialogue(exported: ExportResult) -> None:
    by_name = {d.name: d for d in load_dialogues(DIALOGUE_DIR)}
    for path in (exported.directory / "datasets").glob("*.jsonl"):
        for line in path.read_text("utf-8").splitlines():
            row = json.loads(line)
            dialogue = by_name[row["id"]]
            assert row == dataset_row(dialogue)
            assert dialogue_from_row(row) == dialogue
            assert left_out_reason(dialogue) is None


def test_the_generated_files_need_nothing_of_the_package(exported: ExportResult) -> None:
    for name in ("solver.py", "scorer.py"):
        text = (exported.directory / "tasks" / name).read_text("utf-8")
        imported = {
            (node.module or "") if isinstance(node, ast.ImportFrom) else alias.name
            for node in ast.walk(ast.parse(text))
            if isinstance(node, ast.Import | ast.ImportFrom)
            for alias in node.names
        }
        assert not [m for m in imported if m.split(".")[0] == "foundry_goldens"], name
        assert "<<" not in text  # AI GO! would read it as a config template
    assert "import yaml" not in (exported.directory / "tasks" / "scorer.py").read_text("utf-8")


def _snapshot_turns(name: str) -> list[dict[str, Any]]:
    return list(json.loads((SNAPSHOT_DIR / f"{name}.json").read_text("utf-8"))["turns"])


def _broken_copy(turn: Turn, snapshot_turn: dict[str, Any]) -> dict[str, Any]:
    """The turn's expectations with ones that break added: the reply must hold a text it does
    not, and every tool it called is forbidden."""
    expect = turn.expect.model_dump(mode="json", exclude_defaults=True)
    expect.pop("error", None)
    items = (snapshot_turn.get("output") or {}).get("items") or []
    called = [item["name"] for item in items if item.get("type") == "function_call"]
    expect["reply_contains"] = [*expect.get("reply_contains", []), "no reply says this"]
    expect["tools_not_called"] = [*expect.get("tools_not_called", []), *called]
    return {"user": turn.user, "expect": expect}


def test_the_exported_scorer_checks_every_shipped_golden_turn_as_the_package_does(
    exported: ExportResult,
) -> None:
    exported_scoring = _module(exported.directory / "tasks" / "scorer.py")
    compared = 0
    for dialogue in load_dialogues(DIALOGUE_DIR):
        for turn, snapshot_turn in zip(dialogue.turns, _snapshot_turns(dialogue.name), strict=True):
            if "output" not in snapshot_turn:  # an expected error: no output to score
                continue
            played = [(turn.user, snapshot_turn["output"])]
            for raw in (turn.model_dump(mode="json"), _broken_copy(turn, snapshot_turn)):
                checked = Turn.model_validate(raw)
                package = [
                    str(b) for b in evaluate(checked, facts_from_snapshot_turn(snapshot_turn))
                ]
                assert exported_scoring.check_turns([raw], played) == [package], dialogue.name
                compared += 1
    assert compared > 2 * 60


def _solver_trace(dialogue: Dialogue) -> SolverTrace:
    """The SolverTrace the exported solver would record for the recorded snapshot."""
    trace = SolverTrace(trace=Trace(items=[]), raw_outputs=[])
    if dialogue.system:
        trace.append_system_message(dialogue.system)
    for snapshot_turn in _snapshot_turns(dialogue.name):
        output = OpenResponsesModelOutput.model_validate(snapshot_turn["output"])
        trace.append(
            Message(
                type="message",
                id="user",
                status=MessageStatus.completed,
                role=MessageRole.user,
                content=[InputTextContent(type="input_text", text=snapshot_turn["user"])],
            )
        )
        trace.extend(list(output.items))
        trace.raw_outputs.append(output)
    return trace


def test_the_exported_scorer_scores_the_recorded_goldens_as_the_package_module(
    exported: ExportResult,
) -> None:
    exported_scoring = _module(exported.directory / "tasks" / "scorer.py")
    for dialogue in load_dialogues(DIALOGUE_DIR):
        if left_out_reason(dialogue):
            continue
        row, trace = dataset_row(dialogue), _solver_trace(dialogue)
        scored = exported_scoring.compute_scores(row, trace)
        assert scored == scoring.compute_scores(row, trace)
        assert scored["scores"] == {"dialogue_passed": 1.0, "turns_passed": 1.0}, dialogue.name


@pytest.fixture(scope="module")
def emulator() -> Iterator[FoundryEmulator]:
    with FoundryEmulator(seed="aigo-standin") as running:
        yield running


def _local(emulator: FoundryEmulator) -> dict[str, Any]:
    return {
        "AZURE_AI_PROJECT_ENDPOINT": emulator.endpoint,
        "AZURE_TOKEN_CREDENTIAL": StaticTokenCredential(),
    }


@pytest.fixture(scope="module")
def subset(tmp_path_factory: pytest.TempPathFactory, config: Config) -> Path:
    directory = tmp_path_factory.mktemp("aigo-subset")
    export_aigo(config, directory, only=SUBSET)
    return directory


@pytest.fixture(scope="module")
def standin_run(subset: Path, emulator: FoundryEmulator) -> StandInRun:
    return run_export(subset / "run.yaml", _local(emulator))


def test_the_stand_in_passes_every_exported_golden_on_the_emulator(standin_run: StandInRun) -> None:
    assert sorted(r.sample_id for r in standin_run.samples) == sorted(SUBSET)
    for result in standin_run.samples:
        assert result.error is None, result.error
        assert result.scores == {"dialogue_passed": 1.0, "turns_passed": 1.0}, result.broken
    assert all(
        metrics == {"Dialogues passed": 1.0, "Turns passed": 1.0}
        for metrics in standin_run.metrics.values()
    )
    assert len(standin_run.metrics) == 3  # three agents, a model and a specification each


def test_the_stand_in_calls_the_model_as_the_drivers_aigo_mode(
    standin_run: StandInRun, config: Config
) -> None:
    """Each request is the chat rebuilt from the trace: byte for byte what the driver builds
    for request_mode aigo (and rebuild, without a system message) from the same outputs."""
    dialogues = {d.name: d for d in load_dialogues(DIALOGUE_DIR, SUBSET)}
    for result in standin_run.samples:
        dialogue = dialogues[result.sample_id]
        assert result.trace is not None
        outputs = result.trace.raw_outputs
        previous: list[TurnResult] = []
        for number, (turn, body) in enumerate(zip(dialogue.turns, result.bodies, strict=True), 1):
            mode: RequestMode = "aigo" if dialogue.system else "rebuild"
            assert body == build_request_body(
                previous, turn.user, mode=mode, system=dialogue.system
            ), (dialogue.name, number)
            output = outputs[number - 1]
            assert isinstance(output, OpenResponsesModelOutput)
            previous.append(TurnResult(number, turn.user, body, "", output))


def test_a_broken_expectation_fails_its_metric_on_its_sample(
    tmp_path: Path, config: Config, emulator: FoundryEmulator
) -> None:
    export_aigo(config, tmp_path, only=["greeting", "order_lookup_system"])
    dataset = tmp_path / "datasets" / "retail-support.jsonl"
    rows = [json.loads(line) for line in dataset.read_text("utf-8").splitlines()]
    greeting = next(row for row in rows if row["id"] == "greeting")
    greeting["turns"][1]["expect"]["reply_contains"] = ["a phrase the agent never says"]
    dataset.write_text("".join(json.dumps(row) + "\n" for row in rows), "utf-8")

    run = run_export(tmp_path / "run.yaml", _local(emulator))
    by_id = {r.sample_id: r for r in run.samples}
    assert by_id["greeting"].scores == {"dialogue_passed": 0.0, "turns_passed": 0.5}
    assert by_id["greeting"].broken == [
        "turn 2: expect.reply_contains: 'a phrase the agent never says' not in the reply "
        + repr(by_id["greeting"].trace.trace.turns[1].assistant_messages[-1].content[0].text)  # type: ignore[union-attr]
    ]
    assert by_id["order_lookup_system"].scores == {"dialogue_passed": 1.0, "turns_passed": 1.0}
    [metrics] = run.metrics.values()
    assert metrics == {"Dialogues passed": 0.5, "Turns passed": 0.75}


def test_the_command_exports_and_names_what_it_left_out(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["export", "aigo", str(tmp_path / "out"), "--root", str(PROJECT_ROOT)])
    out = capsys.readouterr().out
    assert code == 0
    assert (tmp_path / "out" / "run.yaml").is_file()
    assert "left out failed_response: turn 2 holds the emulator's trigger phrase" in out
    assert "agent store-assistant: 1 dialogues: function_tool_store_hours" in out
    assert "lf run -f" in out


def test_the_command_never_writes_through_a_link_in_the_directory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "tasks").symlink_to(tmp_path / "elsewhere")
    code = main(["export", "aigo", str(tmp_path / "out"), "--root", str(PROJECT_ROOT)])
    assert code == 2
    assert "is a symbolic link" in capsys.readouterr().err
    assert not list((tmp_path / "elsewhere").iterdir())


def test_an_init_project_exports_the_same_way(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from latticeflow.go.cli.utils.run_config_processing import get_sdk_run_config_from_file

    from foundry_goldens.scaffold import init_project

    project = tmp_path / "acme-agent"
    init_project(project)
    assert main(["export", "aigo", str(tmp_path / "out"), "--root", str(project)]) == 0
    assert "agent retail-support: 1 dialogues: greeting" in capsys.readouterr().out
    run, _ = get_sdk_run_config_from_file(tmp_path / "out" / "run.yaml")
    assert run.evaluation is not None and run.evaluation.key == "acme-agent-goldens"
