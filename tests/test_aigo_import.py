"""`foundry-goldens import aigo`: AI GO! evidence (built with latticeflow-core's types) back into
dialogues: an exported sample is its own dialogue again (a property over generated dialogues),
any other its trace's user turns with the tool calls pinned; failures only on request; bad,
partial, oversized or linked evidence is refused naming the sample and field; nothing is
overwritten without --force; and what is imported records and replays."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from foundry_goldens.aigo import evidence_import
from foundry_goldens.aigo.evidence_import import (
    EvidenceError,
    _Source,
    collect,
    import_aigo,
    name_for,
)
from foundry_goldens.aigo.export import dataset_row, export_aigo
from foundry_goldens.aigo.standin import StandInRun, run_export
from foundry_goldens.cli.main import main
from foundry_goldens.config import Config, load_config, replace
from foundry_goldens.emulator import FoundryEmulator
from foundry_goldens.goldens.dialogues import Dialogue, load_dialogue, load_dialogues
from foundry_goldens.scaffold import init_project
from foundry_goldens.snippet.credentials import StaticTokenCredential
from tests.paths import DIALOGUE_DIR, PROJECT_ROOT

SUBSET = ["greeting", "order_lookup_system", "function_tool_store_hours"]
RETAIL = "foundry-goldens-retail-support"


@pytest.fixture(scope="module")
def standin(tmp_path_factory: pytest.TempPathFactory) -> StandInRun:
    """The evidence AI GO! would keep for an export of SUBSET, played on the emulator."""
    directory = tmp_path_factory.mktemp("aigo-import")
    export_aigo(load_config(root=PROJECT_ROOT), directory, only=SUBSET)
    with FoundryEmulator(seed="aigo-import") as emulator:
        local = {
            "AZURE_AI_PROJECT_ENDPOINT": emulator.endpoint,
            "AZURE_TOKEN_CREDENTIAL": StaticTokenCredential(),
        }
        return run_export(directory / "run.yaml", local)


@pytest.fixture
def project(tmp_path: Path) -> Config:
    return replace(load_config(root=PROJECT_ROOT), dialogues=tmp_path / "dialogues")


@pytest.fixture
def team_project(tmp_path: Path) -> Iterator[Path]:
    root = tmp_path / "team"
    init_project(root)
    yield root


def _log(standin: StandInRun, specification: str = RETAIL) -> dict[str, Any]:
    return dict(standin.task_result_log(specification).model_dump(mode="json"))


def _write(path: Path, data: Any) -> Path:
    path.write_text(json.dumps(data), "utf-8")
    return path


def _as_foreign(log: dict[str, Any], ids: dict[str, Any]) -> dict[str, Any]:
    """The log with these samples' rows replaced by rows of some other dataset (renamed):
    nothing of an export left but the trace."""
    log = copy.deepcopy(log)
    for sample in log["evidence"]["samples"]:
        old = sample["trials"][0]["sample_id"]
        if old in ids:
            data = sample["trials"][0]["sample"]["data"]
            sample["sample_id"] = sample["trials"][0]["sample_id"] = ids[old]
            sample["trials"][0]["sample"]["data"] = {
                "question_id": ids[old],
                "agent": data["agent"],
            }
    return log


def test_an_exported_sample_imports_as_its_own_dialogue(
    standin: StandInRun, project: Config, tmp_path: Path
) -> None:
    result = import_aigo(project, _write(tmp_path / "log.json", _log(standin)))
    assert [(name, origin) for name, _path, origin in result.written] == [
        ("greeting", "export"),
        ("order_lookup_system", "export"),
    ]
    for name, path, _origin in result.written:
        assert load_dialogue(path) == load_dialogue(DIALOGUE_DIR / f"{name}.yaml")


def test_the_evidence_part_alone_and_an_eval_run_directory_import_alike(
    standin: StandInRun, project: Config, tmp_path: Path
) -> None:
    log = _log(standin, "foundry-goldens-store-assistant")
    evidence = _write(tmp_path / "evidence.json", log["evidence"])
    [(name, _path, origin)] = import_aigo(project, evidence).written
    assert (name, origin) == ("function_tool_store_hours", "export")

    run = tmp_path / "eval-run"
    (run / "task_results" / "abc").mkdir(parents=True)
    _write(run / "task_results" / "abc" / "log.json", _log(standin))
    _write(run / "task_results" / "manifest.json", {"items": {"tr-1": "task_results/abc/log.json"}})
    names = [name for name, _p, _o in import_aigo(project, run).written]
    assert names == ["greeting", "order_lookup_system"]


def test_a_foreign_sample_imports_its_user_turns_and_pins_its_tool_calls(
    standin: StandInRun, project: Config, tmp_path: Path
) -> None:
    log = _as_foreign(_log(standin), {"greeting": "Greeting #1", "order_lookup_system": 7})
    result = import_aigo(project, _write(tmp_path / "log.json", log))
    by_name = {name: load_dialogue(path) for name, path, _ in result.written}
    assert set(by_name) == {"greeting_1", "sample_7"}
    original = load_dialogue(DIALOGUE_DIR / "order_lookup_system.yaml")
    imported = by_name["sample_7"]
    assert [t.user for t in imported.turns] == [t.user for t in original.turns]
    assert imported.system == original.system and imported.request_mode == "aigo"
    assert by_name["greeting_1"].request_mode == "rebuild"
    assert imported.turns[1].expect.calls[0].model_dump(exclude_none=True) == {  # type: ignore[union-attr]
        "name": "get_customer_orders",
        "arguments": {"email": "ana@example.com"},
    }
    assert imported.turns[0].expect.calls == []  # no tool called: nothing pinned
    assert not imported.turns[1].expect.reply_contains  # the reply stays unconstrained


def test_the_agent_comes_from_the_row_or_the_evaluated_model(
    standin: StandInRun, project: Config, tmp_path: Path
) -> None:
    log = _as_foreign(_log(standin), {"greeting": "g-1", "order_lookup_system": "o-2"})
    del log["evidence"]["samples"][1]["trials"][0]["sample"]["data"]["agent"]
    log["specification"]["evaluated_entity"] = {
        "config": {"environment": {"AZURE_FOUNDRY_AGENT_NAME": "retail-support-guarded"}}
    }
    result = import_aigo(project, _write(tmp_path / "log.json", log))
    agents = {name: load_dialogue(path).agent for name, path, _ in result.written}
    assert agents == {"g-1": "retail-support", "o-2": "retail-support-guarded"}


def test_only_failing_takes_the_failures_of_that_metric(
    standin: StandInRun, project: Config, tmp_path: Path
) -> None:
    log = _log(standin)
    scores = log["evidence"]["samples"][1]["trials"][0]["scores"][0]["values"]
    scores["dialogue_passed"], scores["turns_passed"] = 0.0, 2 / 3
    path = _write(tmp_path / "log.json", log)
    # By the score's field, or by the task's metric key or name.
    for metric in ("dialogue_passed", "dialogues_passed", "Dialogues passed"):
        result = import_aigo(project, path, only_failing=metric, force=True)
        assert [name for name, _p, _o in result.written] == ["order_lookup_system"]
        assert result.passing == 1
    with pytest.raises(EvidenceError, match="--only-failing accuracy: no sample has that score"):
        import_aigo(project, path, only_failing="accuracy")


def test_an_existing_dialogue_is_never_replaced_without_force(
    standin: StandInRun, project: Config, tmp_path: Path
) -> None:
    path = _write(tmp_path / "log.json", _log(standin))
    project.dialogues.mkdir()
    (project.dialogues / "greeting.yaml").write_text("mine", "utf-8")
    with pytest.raises(EvidenceError, match="already has greeting; nothing was written"):
        import_aigo(project, path)
    assert sorted(os.listdir(project.dialogues)) == ["greeting.yaml"]
    assert (project.dialogues / "greeting.yaml").read_text("utf-8") == "mine"
    assert len(import_aigo(project, path, prefix="aigo_").written) == 2  # named apart
    import_aigo(project, path, force=True)
    assert load_dialogue(project.dialogues / "greeting.yaml").name == "greeting"


def test_bad_evidence_names_the_sample_and_the_field(
    standin: StandInRun, project: Config, tmp_path: Path
) -> None:
    log = _as_foreign(_log(standin), {"greeting": "g-1", "order_lookup_system": "o-2"})
    del log["evidence"]["samples"][1]["trials"][0]["solver"]["output"]["trace"]
    with pytest.raises(EvidenceError) as raised:
        import_aigo(project, _write(tmp_path / "log.json", log))
    assert "sample 'o-2'" in str(raised.value)
    assert "samples[1].trials[0].solver" in str(raised.value)
    assert not project.dialogues.exists()
    result = import_aigo(project, tmp_path / "log.json", skip_invalid=True)
    assert [name for name, _p, _o in result.written] == ["g-1"]
    assert len(result.skipped) == 1

    log = _as_foreign(_log(standin), {"greeting": "g-1"})
    log["evidence"]["samples"][0]["trials"][0]["solver"] = None
    log["evidence"]["samples"][0]["trials"][0]["errors"] = [
        {"error_type": "FoundryError", "message": "timeout"}
    ]
    with pytest.raises(EvidenceError, match=r"sample 'g-1'.*solver: missing.*timeout"):
        import_aigo(project, _write(tmp_path / "partial.json", log), force=True)

    for text, message in (
        ("{", "not JSON"),
        ('{"hello": 1}', "neither a task result log"),
        ("[" * 100_000 + "]" * 100_000, "not JSON|nested too deeply"),
    ):
        (tmp_path / "bad.json").write_text(text, "utf-8")
        with pytest.raises(EvidenceError, match=message):
            import_aigo(project, tmp_path / "bad.json")


def test_oversized_and_linked_evidence_is_refused_unread(
    standin: StandInRun, project: Config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _write(tmp_path / "log.json", _log(standin))
    monkeypatch.setattr(evidence_import, "MAX_EVIDENCE_BYTES", 1000)
    with pytest.raises(EvidenceError, match="larger than 1000 bytes"):
        import_aigo(project, path)
    monkeypatch.undo()
    (tmp_path / "link.json").symlink_to(path)
    with pytest.raises(EvidenceError, match="a symbolic link"):
        import_aigo(project, tmp_path / "link.json")
    run = tmp_path / "eval-run"
    (run / "task_results").mkdir(parents=True)
    (run / "task_results" / "log.json").symlink_to(path)
    with pytest.raises(EvidenceError, match="a symbolic link"):
        import_aigo(project, run)
    _write(run / "task_results" / "manifest.json", {"items": {"x": "../../log.json"}})
    with pytest.raises(EvidenceError, match="leaves the directory"):
        import_aigo(project, run)


def test_dialogues_are_never_written_through_a_link(
    standin: StandInRun, team_project: Path, tmp_path: Path
) -> None:
    """A dialogue directory inside the project that is a link (committed by a stranger, say)."""
    (tmp_path / "elsewhere").mkdir()
    dialogues = team_project / "goldens" / "dialogues"
    (dialogues / "greeting.yaml").unlink()
    dialogues.rmdir()
    dialogues.symlink_to(tmp_path / "elsewhere")
    log = _write(tmp_path / "log.json", _log(standin))
    assert main(["import", "aigo", str(log), "--root", str(team_project)]) == 2
    assert not list((tmp_path / "elsewhere").iterdir())


def test_names_derive_from_sample_ids() -> None:
    assert name_for("Refund flow #7") == "refund_flow_7"
    assert name_for(3) == "sample_3"
    assert name_for("../../etc/passwd") == "etc_passwd"
    assert name_for("Ärger") == "rger"
    assert name_for("") == "sample"
    assert name_for("x" * 300) == "x" * 100


# -- import(export(d)) == d for any dialogue ------------------------------------------------

_text = st.text(min_size=1, max_size=40).filter(str.strip)
_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)
_call = st.one_of(
    _text,
    st.builds(
        lambda n, a: {"name": n, "arguments": a}, _text, st.dictionaries(_text, _json, max_size=3)
    ),
    st.builds(
        lambda n, a: {"name": n, "arguments_include": a},
        _text,
        st.dictionaries(_text, _json, max_size=3),
    ),
)
_pattern = _text.map(lambda t: __import__("re").escape(t))
_expect = st.fixed_dictionaries(
    {},
    optional={
        "tools": st.lists(_text, max_size=2),
        "calls": st.lists(_call, max_size=2),
        "calls_in_order": st.lists(_call, max_size=2),
        "tools_not_called": st.lists(_text, max_size=2),
        "reply_contains": st.lists(st.text(max_size=20), max_size=2),
        "reply_not_matches": st.lists(_pattern, max_size=2),
        "tool_output_contains": st.dictionaries(_text, st.lists(_pattern, max_size=2), max_size=2),
        "refusal": st.booleans(),
        "max_prompt_tokens": st.integers(0, 10**9),
    },
)
_dialogue = st.builds(
    lambda name, description, agent, system, mode, turns: Dialogue.model_validate(
        {
            "name": name,
            "description": description,
            "agent": agent,
            "system": system,
            "request_mode": mode if system or mode != "aigo" else "rebuild",
            "turns": turns,
        }
    ),
    st.from_regex(r"[a-z0-9][a-z0-9_-]{0,30}", fullmatch=True),
    st.text(max_size=60),
    st.none() | st.from_regex(r"[A-Za-z0-9._:-]{1,20}", fullmatch=True),
    st.none() | _text,
    st.sampled_from(["echo", "rebuild", "aigo"]),
    st.lists(st.fixed_dictionaries({"user": _text, "expect": _expect}), min_size=1, max_size=3),
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(dialogue=_dialogue)
def test_import_of_an_export_is_the_identity(dialogue: Dialogue) -> None:
    from latticeflow.core.dtypes import SolverTrace, Trace
    from latticeflow.core.dtypes._assessment.models import SampleData
    from latticeflow.core.dtypes._evidence import SampleEvidence, SolverData, TaskResultEvidence

    sample = SampleEvidence.build_with_1_trial(
        sample_id=dialogue.name,
        sample=SampleData(data=dataset_row(dialogue)),
        solver=SolverData(output=SolverTrace(trace=Trace(items=[]), raw_outputs=[])),
        scores=None,
        errors=[],
    )
    evidence = json.loads(TaskResultEvidence(metrics=None, samples=[sample]).model_dump_json())
    [imported], _ = collect([_Source("evidence.json", evidence, None)])
    assert imported.dialogue == dialogue
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / f"{dialogue.name}.yaml"
        path.write_text(imported.text, "utf-8")
        assert load_dialogue(path) == dialogue


# -- what is imported records and replays ----------------------------------------------------


def test_imported_dialogues_record_and_replay(
    standin: StandInRun, team_project: Path, tmp_path: Path
) -> None:
    retail = _as_foreign(_log(standin), {"greeting": "Greeting #1", "order_lookup_system": 7})
    store = _log(standin, "foundry-goldens-store-assistant")
    run = tmp_path / "eval-run" / "task_results"
    run.mkdir(parents=True)
    _write(run / "retail.json", retail)
    _write(run / "store.json", store)
    code = main(["import", "aigo", str(run.parent), "--root", str(team_project)])
    assert code == 0
    names = sorted(d.name for d in load_dialogues(team_project / "goldens" / "dialogues"))
    assert names == ["function_tool_store_hours", "greeting", "greeting_1", "sample_7"]

    def run_in_project(*command: str) -> None:
        done = subprocess.run(
            [sys.executable, *command],
            cwd=team_project,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
            env={k: v for k, v in os.environ.items() if not k.startswith(("AZURE_", "FOUNDRY_"))},
        )
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    run_in_project("-m", "foundry_goldens", "record", "--emulator")
    run_in_project("-m", "pytest", "-q", "-p", "no:cacheprovider")
