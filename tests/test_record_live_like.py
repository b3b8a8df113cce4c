"""Recording and checking against a live-like agent: expected errors recorded and replayed, the
drift check classifying variation as information and behaviour changes as failures."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from foundry_goldens.emulator.variation import BehaviourChange
from foundry_goldens.goldens.dialogues import load_dialogue, load_dialogues
from foundry_goldens.recording.progress import DialogueOutcome, SilentProgress
from foundry_goldens.recording.recorder import RecordOptions, record_dialogues
from foundry_goldens.recording.targets import EmulatorTarget
from foundry_goldens.replay.replayer import replay_dialogue
from tests.paths import DIALOGUE_DIR


def options(root: Path, check: bool = False) -> RecordOptions:
    return RecordOptions(root / "cassettes", root / "snapshots", concurrency=4, check=check)


def record(
    root: Path, names: tuple[str, ...], check: bool = False, **target: object
) -> dict[str, DialogueOutcome]:
    dialogues = load_dialogues(root / "dialogues", names)
    outcomes = record_dialogues(
        dialogues,
        EmulatorTarget(**target),  # type: ignore[arg-type]
        options(root, check),
        SilentProgress(),
    )
    return {o.name: o for o in outcomes}


def workspace(tmp_path: Path, *names: str, source: Path = DIALOGUE_DIR) -> Path:
    (tmp_path / "dialogues").mkdir()
    for name in names:
        shutil.copy(source / f"{name}.yaml", tmp_path / "dialogues")
    return tmp_path


def test_a_dialogue_expecting_a_failed_response_records_and_replays_the_error(
    tmp_path: Path,
) -> None:
    root = workspace(tmp_path, "failed_response", source=DIALOGUE_DIR)
    outcomes = record(root, ("failed_response",))
    assert outcomes["failed_response"].status == "recorded", outcomes["failed_response"].detail

    snapshot = json.loads((root / "snapshots" / "failed_response.json").read_text("utf-8"))
    assert snapshot["turns"][1] == {
        "turn": 2,
        "user": "My email is ana@example.com [emulate: failed-response]",
        "error": {
            "type": "FoundryError",
            "code": "server_error",
            "message": "The agent run failed: the model deployment did not respond. Try again "
            "later.",
        },
    }
    assert snapshot["turns"][2]["output"]["items"][-1]["conversation_id"] == "conversation-1"

    dialogue = load_dialogue(root / "dialogues" / "failed_response.yaml")
    replayed = replay_dialogue(dialogue, root / "cassettes" / "failed_response.json")
    assert replayed.snapshot() == snapshot


def test_the_drift_check_on_a_varied_agent_reports_no_behaviour_change(tmp_path: Path) -> None:
    names = ("multi_tool_turn", "order_lookup", "greeting")
    root = workspace(tmp_path, *names)
    record(root, names)
    outcomes = record(root, names, check=True, variation_seed=5)
    assert {o.status for o in outcomes.values()} <= {"reworded", "unchanged"}
    assert any(o.status == "reworded" for o in outcomes.values())
    for outcome in outcomes.values():
        assert not outcome.classification.has_behaviour_change, outcome.report


def test_the_drift_check_reports_an_injected_error_as_behaviour_with_its_turn(
    tmp_path: Path,
) -> None:
    root = workspace(tmp_path, "order_lookup")
    record(root, ("order_lookup",))
    before = {p: p.read_bytes() for p in root.rglob("*") if p.is_file()}
    outcomes = record(
        root, ("order_lookup",), check=True, behaviour_change=BehaviourChange("error", turn=2)
    )
    outcome = outcomes["order_lookup"]
    assert outcome.status == "changed"
    turns = {(c.turn, c.kind) for c in outcome.classification.of("behaviour")}
    assert (2, "error_changed") in turns and (2, "expectation_broken") in turns
    assert "turn 2 [behaviour] error none -> FoundryError(server_error)" in outcome.report
    assert {p: p.read_bytes() for p in root.rglob("*") if p.is_file()} == before
