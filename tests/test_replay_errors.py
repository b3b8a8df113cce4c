"""What a failed replay tells its reader, on copies of the shipped goldens in tmp_path.

Each test breaks one thing the way a user would (edits a dialogue, changes what the
integration sends, tampers a cassette) and checks the message names the dialogue, the turn,
what differs and the command to re-record. Replay runs offline: no AZURE_* settings and
sockets refused, as in the plugin's golden tests.
"""

from __future__ import annotations

import copy
import json
import shutil
import socket
import time
from pathlib import Path
from typing import Any

import pytest

from foundry_goldens.goldens.dialogues import Dialogue, Turn, load_dialogue
from foundry_goldens.replay.replayer import (
    ReplayError,
    explain_snapshot_mismatch,
    replay_dialogue,
    replay_environment,
)
from tests.conftest import NetworkBlocked
from tests.paths import CASSETTE_DIR, DIALOGUE_DIR

RERECORD = "foundry-goldens record --emulator --only {name}"

# Replay runs offline, even when it fails (the fixture is in conftest.py).
pytestmark = pytest.mark.usefixtures("offline")


def copy_golden(tmp_path: Path, name: str) -> tuple[Dialogue, Path]:
    """The shipped dialogue (loaded from a copy) and a copy of its cassette."""
    dialogue_file = tmp_path / "dialogues" / f"{name}.yaml"
    cassette_file = tmp_path / "cassettes" / f"{name}.json"
    dialogue_file.parent.mkdir(exist_ok=True)
    cassette_file.parent.mkdir(exist_ok=True)
    shutil.copyfile(DIALOGUE_DIR / f"{name}.yaml", dialogue_file)
    shutil.copyfile(CASSETTE_DIR / f"{name}.json", cassette_file)
    return load_dialogue(dialogue_file), cassette_file


def with_turns(dialogue: Dialogue, turns: list[Turn]) -> Dialogue:
    return dialogue.model_copy(update={"turns": turns})


def load_cassette_data(path: Path) -> dict[str, Any]:
    data = json.loads(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def save_cassette_data(path: Path, data: dict[str, Any]) -> None:
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def responses_interactions(cassette: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        i
        for i in cassette["interactions"]
        if i["request"]["method"] == "POST" and i["request"]["uri"].endswith("/responses")
    ]


def test_an_untouched_copy_replays_offline(tmp_path: Path) -> None:
    dialogue, cassette = copy_golden(tmp_path, "order_lookup")
    result = replay_dialogue(dialogue, cassette)
    assert [t.number for t in result.turns] == [1, 2, 3]
    assert len({t.conversation_id for t in result.turns}) == 1
    with pytest.raises(NetworkBlocked):  # the fixture really blocks sockets
        socket.create_connection(("127.0.0.1", 9), timeout=1)


def test_changed_user_text_names_the_turn_both_texts_and_the_command(tmp_path: Path) -> None:
    dialogue, cassette = copy_golden(tmp_path, "order_lookup")
    turns = list(dialogue.turns)
    turns[1] = turns[1].model_copy(update={"user": "My email is jonas@example.de"})

    with pytest.raises(ReplayError) as raised:
        replay_dialogue(with_turns(dialogue, turns), cassette)

    message = str(raised.value)
    assert "order_lookup, turn 2: the user text changed since recording" in message
    assert "recorded: 'My email is ana@example.com'" in message
    assert "dialogue: 'My email is jonas@example.de'" in message
    assert RERECORD.format(name="order_lookup") in message


def test_an_extra_turn_is_reported_with_both_turn_counts(tmp_path: Path) -> None:
    dialogue, cassette = copy_golden(tmp_path, "greeting")
    longer = with_turns(dialogue, [*dialogue.turns, Turn(user="And one more thing")])

    with pytest.raises(ReplayError) as raised:
        replay_dialogue(longer, cassette)

    message = str(raised.value)
    assert "greeting, turn 3: the dialogue has 3 turns but the cassette recorded 2" in message
    assert RERECORD.format(name="greeting") in message


def test_a_missing_turn_is_reported_with_both_turn_counts(tmp_path: Path) -> None:
    dialogue, cassette = copy_golden(tmp_path, "order_lookup")
    shorter = with_turns(dialogue, list(dialogue.turns[:2]))

    with pytest.raises(ReplayError) as raised:
        replay_dialogue(shorter, cassette)

    message = str(raised.value)
    assert "order_lookup: the cassette recorded 3 turns but the dialogue has 2" in message
    assert RERECORD.format(name="order_lookup") in message


def test_a_request_the_recording_lacks_names_the_turn_and_the_field(tmp_path: Path) -> None:
    # The integration now sends `type: agent_reference` where turn 2 recorded `agent_id`.
    dialogue, cassette_file = copy_golden(tmp_path, "order_lookup")
    cassette = load_cassette_data(cassette_file)
    turn_2 = responses_interactions(cassette)[1]["request"]["body"]["json"]
    assert turn_2["agent_reference"]["type"] == "agent_reference"
    turn_2["agent_reference"]["type"] = "agent_id"
    save_cassette_data(cassette_file, cassette)

    with pytest.raises(ReplayError) as raised:
        replay_dialogue(dialogue, cassette_file)

    message = str(raised.value)
    assert (
        "order_lookup, turn 2: the integration now sends a request the recording does not have"
        in message
    )
    assert "body.agent_reference.type" in message
    assert '"agent_id"' in message and '"agent_reference"' in message
    assert RERECORD.format(name="order_lookup") in message
    assert "Can't overwrite existing cassette" not in message


def test_a_different_agent_in_the_dialogue_names_the_agent_field(tmp_path: Path) -> None:
    dialogue, cassette = copy_golden(tmp_path, "greeting")
    other_agent = dialogue.model_copy(update={"agent": "retail-support-guarded"})

    with pytest.raises(ReplayError) as raised:
        replay_dialogue(other_agent, cassette)

    message = str(raised.value)
    assert "greeting, turn 1: the integration now sends a request the recording does not have" in (
        message
    )
    assert "body.agent_reference.name" in message
    assert '"retail-support"' in message and '"retail-support-guarded"' in message
    assert RERECORD.format(name="greeting") in message


def test_a_missing_cassette_names_the_path_and_the_command(tmp_path: Path) -> None:
    dialogue, cassette = copy_golden(tmp_path, "greeting")
    cassette.unlink()

    with pytest.raises(ReplayError) as raised:
        replay_dialogue(dialogue, cassette)

    message = str(raised.value)
    assert f"greeting: no cassette at {cassette}" in message
    assert RERECORD.format(name="greeting") in message


def test_changed_output_breaking_an_expectation_fails_replay_naming_turn_and_key(
    tmp_path: Path,
) -> None:
    dialogue, cassette_file = copy_golden(tmp_path, "greeting")
    cassette = load_cassette_data(cassette_file)
    output = responses_interactions(cassette)[1]["response"]["body"]["json"]["output"]
    [message_item] = [item for item in output if item["type"] == "message"]
    message_item["content"][0]["text"] = "We are closed today."
    save_cassette_data(cassette_file, cassette)

    # A changed output is checked again (its digest is not the recorded one, goldens/held.py),
    # so --snapshot-update cannot accept this.
    with pytest.raises(ReplayError) as raised:
        replay_dialogue(dialogue, cassette_file)
    message = str(raised.value)
    assert "greeting, turn 2: the recording breaks the dialogue's expectations" in message
    assert "expect.reply_matches: '(?i)search (the|our) catalog' does not match" in message
    assert RERECORD.format(name="greeting") in message


def test_a_changed_long_reply_is_shown_whole_as_a_word_diff(tmp_path: Path) -> None:
    dialogue, cassette_file = copy_golden(tmp_path, "greeting")
    cassette = load_cassette_data(cassette_file)
    output = responses_interactions(cassette)[1]["response"]["body"]["json"]["output"]
    [message_item] = [item for item in output if item["type"] == "message"]
    old_text = message_item["content"][0]["text"]
    # A change at the very end of a reply longer than 160 characters (a cut at 160 would hide it).
    long_old = old_text + " " + "We answer every question about your orders. " * 6
    message_item["content"][0]["text"] = long_old + "Goodbye."
    save_cassette_data(cassette_file, cassette)

    result = replay_dialogue(dialogue, cassette_file)
    expected = copy.deepcopy(result.snapshot())  # the result's own document stays as replayed
    expected["turns"][1]["output"]["items"][0]["content"][0]["text"] = long_old + "Farewell."
    snapshot_file = tmp_path / "greeting.json"
    snapshot_file.write_text(json.dumps(expected), encoding="utf-8")

    explanation = explain_snapshot_mismatch("greeting", snapshot_file, result.snapshot(), dialogue)
    assert "the cassette still matches" in explanation
    assert "wording:\n  turn 2: reply reworded (similarity 0.98)" in explanation
    assert "[-Farewell.-]{+Goodbye.+}" in explanation  # the word that changed, at the end
    assert old_text in explanation  # the whole text, not cut
    assert "pytest --snapshot-update -k greeting" in explanation  # as printed: .venv/bin/pytest


def test_an_explanation_without_a_committed_snapshot_says_so(tmp_path: Path) -> None:
    dialogue, cassette = copy_golden(tmp_path, "greeting")
    result = replay_dialogue(dialogue, cassette)
    missing = tmp_path / "snapshots" / "greeting.json"
    explanation = explain_snapshot_mismatch("greeting", missing, result.snapshot())
    assert f"no snapshot at {missing}" in explanation
    assert RERECORD.format(name="greeting") in explanation


def test_a_recorded_interaction_never_played_is_listed(tmp_path: Path) -> None:
    # A second copy of the approval answer: a responses call that carries no user text, so
    # the turn count still matches, but replay never sends it.
    dialogue, cassette_file = copy_golden(tmp_path, "approval_return")
    cassette = load_cassette_data(cassette_file)
    [approval] = [
        i
        for i in responses_interactions(cassette)
        if isinstance(i["request"]["body"]["json"]["input"], list)
    ]
    cassette["interactions"].append(approval)
    save_cassette_data(cassette_file, cassette)

    with pytest.raises(ReplayError) as raised:
        replay_dialogue(dialogue, cassette_file)

    message = str(raised.value)
    assert (
        "approval_return: 1 recorded request(s) were never sent on replay "
        "(POST /api/projects/recorded/openai/v1/responses)" in message
    )
    assert RERECORD.format(name="approval_return") in message


def test_a_duplicated_user_turn_in_the_cassette_is_a_turn_count_mismatch(tmp_path: Path) -> None:
    dialogue, cassette_file = copy_golden(tmp_path, "greeting")
    cassette = load_cassette_data(cassette_file)
    cassette["interactions"].append(cassette["interactions"][-1])
    save_cassette_data(cassette_file, cassette)

    with pytest.raises(ReplayError) as raised:
        replay_dialogue(dialogue, cassette_file)

    assert "greeting: the cassette recorded 3 turns but the dialogue has 2" in str(raised.value)


def test_a_hand_edited_429_is_explained_and_never_waited_for(tmp_path: Path) -> None:
    dialogue, cassette_file = copy_golden(tmp_path, "greeting")
    cassette = load_cassette_data(cassette_file)
    first = responses_interactions(cassette)[0]
    throttled = {
        "request": first["request"],
        "response": {
            "status": {"code": 429, "message": "Too Many Requests"},
            "headers": {"content-type": "application/json", "retry-after": "30"},
            "body": {"json": {"error": {"code": "rate_limit_exceeded", "message": "later"}}},
        },
    }
    cassette["interactions"].insert(cassette["interactions"].index(first), throttled)
    save_cassette_data(cassette_file, cassette)

    started = time.monotonic()
    with pytest.raises(ReplayError) as caught:
        replay_dialogue(dialogue, cassette_file)

    # Waiting the Retry-After out would be a 30 s sleep, then a blamed body.input. Generous: it
    # only tells "did not wait the Retry-After" from "waited it", whatever the machine's load.
    assert time.monotonic() - started < 20
    message = str(caught.value)
    assert "greeting: interaction 2 of the cassette (POST " in message
    assert "is a recorded HTTP 429 with Retry-After: 30" in message
    assert "body.input" not in message
    assert RERECORD.format(name="greeting") in message


def test_replay_never_retries_so_never_sleeps(snippet: Any) -> None:
    assert snippet.read_settings(replay_environment("agent")).max_retries == 0
