"""Replay checks again only the turns whose expectations are not known to hold
(foundry_goldens/goldens/held.py): a recording stores one digest per turn in its cassette's
metadata, and a turn is checked when its `expect:` block, its output or the evaluator changed.

Copies of the shipped goldens in tmp_path, replayed offline; the recorder runs against the
local emulator.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from foundry_goldens.goldens import held
from foundry_goldens.goldens.dialogues import Dialogue, Turn, TurnExpectations, load_dialogues
from foundry_goldens.goldens.expectations import evaluate, facts_from_snapshot_turn
from foundry_goldens.recording.progress import SilentProgress
from foundry_goldens.recording.recorder import RecordOptions, record_dialogues
from foundry_goldens.recording.targets import EmulatorTarget
from foundry_goldens.replay.replayer import ReplayError, replay_dialogue
from foundry_goldens.snippet import checking
from foundry_goldens.snippet.checking import turn_facts
from tests.paths import DIALOGUE_DIR
from tests.test_replay_errors import (
    copy_golden,
    load_cassette_data,
    responses_interactions,
    save_cassette_data,
    with_turns,
)


@pytest.fixture
def checked_turns(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The user text of every turn whose expectations replay evaluates, in order."""
    seen: list[str] = []
    original: Callable[..., Any] = checking.evaluate

    def counting(turn: Turn, facts: Any) -> Any:
        seen.append(turn.user)
        return original(turn, facts)

    monkeypatch.setattr(checking, "evaluate", counting)
    return seen


def order_lookup_copy(tmp_path: Path) -> tuple[Dialogue, Path, dict[str, Any]]:
    """The shipped order_lookup (3 turns, each with expectations), its cassette copy's path and
    data."""
    dialogue, cassette_file = copy_golden(tmp_path, "order_lookup")
    return dialogue, cassette_file, load_cassette_data(cassette_file)


def stored_digests(cassette_file: Path) -> Any:
    return load_cassette_data(cassette_file).get("metadata", {}).get(held.METADATA_KEY)


def with_expect(dialogue: Dialogue, number: int, **changes: Any) -> Dialogue:
    turns = list(dialogue.turns)
    turn = turns[number - 1]
    expect = TurnExpectations.model_validate({**turn.expect.model_dump(), **changes})
    turns[number - 1] = turn.model_copy(update={"expect": expect})
    return with_turns(dialogue, turns)


def test_a_recording_stores_the_digests_its_replay_finds(
    tmp_path: Path, checked_turns: list[str]
) -> None:
    dialogues = [d for d in _shipped() if d.name in ("order_lookup", "failed_response")]
    options = RecordOptions(cassette_dir=tmp_path / "cassettes", snapshot_dir=tmp_path / "snaps")
    outcomes = record_dialogues(dialogues, EmulatorTarget(), options, SilentProgress())
    assert [o.status for o in outcomes] == ["recorded", "recorded"], [o.detail for o in outcomes]

    for dialogue in dialogues:
        cassette_file = tmp_path / "cassettes" / f"{dialogue.name}.json"
        digests = stored_digests(cassette_file)
        assert len(digests) == len(dialogue.turns)
        checked_turns.clear()
        result = replay_dialogue(dialogue, cassette_file)
        assert checked_turns == []  # every turn known to hold: none evaluated again
        assert result.expectations_held == digests


@pytest.mark.usefixtures("offline")
def test_only_the_turn_whose_expect_block_changed_is_checked_again(
    tmp_path: Path, checked_turns: list[str]
) -> None:
    dialogue, cassette_file = copy_golden(tmp_path, "order_lookup")
    replay_dialogue(dialogue, cassette_file)
    assert checked_turns == []

    edited = with_expect(dialogue, 2, reply_contains=["ORD-1001"])
    result = replay_dialogue(edited, cassette_file)
    assert checked_turns == [dialogue.turns[1].user]
    digests = stored_digests(cassette_file)
    assert result.expectations_held[0] == digests[0]
    assert result.expectations_held[1] != digests[1]  # what held now, for a new recording
    assert result.expectations_held[2] == digests[2]


@pytest.mark.usefixtures("offline")
def test_an_edited_expect_block_that_no_longer_holds_fails_replay(tmp_path: Path) -> None:
    dialogue, cassette_file = copy_golden(tmp_path, "order_lookup")
    edited = with_expect(dialogue, 3, reply_contains=["delivered yesterday"])

    with pytest.raises(ReplayError) as raised:
        replay_dialogue(edited, cassette_file)
    message = str(raised.value)
    assert "order_lookup, turn 3: the recording breaks the dialogue's expectations" in message
    assert "expect.reply_contains: 'delivered yesterday' not in the reply" in message


@pytest.mark.usefixtures("offline")
def test_a_changed_output_is_checked_again_although_its_recording_held(
    tmp_path: Path, checked_turns: list[str]
) -> None:
    dialogue, cassette_file, cassette = order_lookup_copy(tmp_path)
    assert len(cassette["metadata"][held.METADATA_KEY]) == 3
    output = responses_interactions(cassette)[-1]["response"]["body"]["json"]["output"]
    [message_item] = [item for item in output if item["type"] == "message"]
    message_item["content"][0]["text"] = "Your order ORD-1002 was delivered."
    save_cassette_data(cassette_file, cassette)

    with pytest.raises(ReplayError) as raised:
        replay_dialogue(dialogue, cassette_file)
    assert checked_turns == [dialogue.turns[2].user]
    assert 'expect.reply_matches: "(has not|hasn\'t) shipped yet" does not match' in str(
        raised.value
    )


@pytest.mark.usefixtures("offline")
def test_recheck_expectations_checks_every_turn(tmp_path: Path, checked_turns: list[str]) -> None:
    dialogue, cassette_file = copy_golden(tmp_path, "order_lookup")
    result = replay_dialogue(dialogue, cassette_file, recheck_expectations=True)
    assert checked_turns == [turn.user for turn in dialogue.turns]
    assert result.expectations_held == stored_digests(cassette_file)


@pytest.mark.usefixtures("offline")
def test_a_cassette_without_digests_checks_every_turn(
    tmp_path: Path, checked_turns: list[str]
) -> None:
    dialogue, cassette_file, cassette = order_lookup_copy(tmp_path)
    digests = cassette.pop("metadata")[held.METADATA_KEY]
    save_cassette_data(cassette_file, cassette)

    result = replay_dialogue(dialogue, cassette_file)
    assert checked_turns == [turn.user for turn in dialogue.turns]
    assert result.expectations_held == digests


@pytest.mark.usefixtures("offline")
def test_a_new_evaluator_checks_every_turn(
    tmp_path: Path, checked_turns: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # latticeflow-core upgraded, or this package's checks edited: what held may not hold now.
    monkeypatch.setattr(held, "evaluator_identity", lambda: b"another evaluator")
    dialogue, cassette_file = copy_golden(tmp_path, "order_lookup")
    replay_dialogue(dialogue, cassette_file)
    assert checked_turns == [turn.user for turn in dialogue.turns]


@pytest.fixture
def uncached_identity() -> Iterator[Callable[[], bytes]]:
    """held.evaluator_identity, worked out afresh on every call (and cached again after)."""

    def fresh() -> bytes:
        held.evaluator_identity.cache_clear()
        return held.evaluator_identity()

    yield fresh
    held.evaluator_identity.cache_clear()


def test_the_evaluator_is_its_checks_source_whatever_its_line_endings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, uncached_identity: Callable[[], bytes]
) -> None:
    before = uncached_identity()
    copies = []
    for module in held._EVALUATOR_MODULES:
        copy = tmp_path / Path(str(module.__file__)).name
        copy.write_bytes(Path(str(module.__file__)).read_bytes().replace(b"\n", b"\r\n"))
        copies.append(ModuleType(module.__name__))
        copies[-1].__file__ = str(copy)
    monkeypatch.setattr(held, "_EVALUATOR_MODULES", tuple(copies))
    assert uncached_identity() == before  # a Windows checkout of the same checks

    copy.write_bytes(copy.read_bytes() + b"# edited\r\n")
    assert uncached_identity() != before  # any edit counts

    copy.unlink()  # no source to read: no turn is known to hold, not even from another run
    without_source = uncached_identity()
    assert without_source != before and uncached_identity() != without_source


@pytest.mark.usefixtures("offline")
@pytest.mark.parametrize("stored", ["yes", ["sha256:0"], [1, 2, 3]])
def test_malformed_digests_name_the_cassette_and_the_field(tmp_path: Path, stored: Any) -> None:
    dialogue, cassette_file = copy_golden(tmp_path, "greeting")
    cassette = load_cassette_data(cassette_file)
    cassette["metadata"][held.METADATA_KEY] = stored
    save_cassette_data(cassette_file, cassette)

    with pytest.raises(ReplayError) as raised:
        replay_dialogue(dialogue, cassette_file)
    message = str(raised.value)
    assert f"greeting: cassette {cassette_file}: metadata.expectations_held must be" in message
    assert "foundry-goldens record --emulator --only greeting" in message


def _shipped() -> list[Dialogue]:
    return load_dialogues(DIALOGUE_DIR)


def _variants(turn: Turn, facts: Any) -> list[TurnExpectations]:
    """The turn's own block and blocks that break or probe every tool it called."""
    called = sorted({item.name for item in facts.items if item.type == "function_call"})
    variants = [turn.expect, TurnExpectations(tools=["no_such_tool"])]
    for name in called:
        variants += [
            TurnExpectations(tools_not_called=[name]),
            TurnExpectations(calls_in_order=[name, name]),
            TurnExpectations(tool_output_contains={name: ["ORD-", "zzz-nowhere"]}),
            TurnExpectations(tool_output_not_contains={name: ["."]}),
        ]
    return variants


@pytest.mark.usefixtures("offline")
@pytest.mark.parametrize("dialogue", _shipped(), ids=lambda d: d.name)
def test_checks_answer_the_same_on_the_output_and_on_its_snapshot(dialogue: Dialogue) -> None:
    """What makes a digest of the snapshot form sound: ids aside (aliased), a turn's checks
    see the same facts in the output as returned and in the snapshot."""
    result = replay_dialogue(dialogue, recheck_expectations=True)
    snapshot_turns = result.snapshot()["turns"]
    for turn, turn_result, snapshot_turn in zip(
        dialogue.turns, result.turns, snapshot_turns, strict=True
    ):
        raw, stored = turn_facts(turn_result), facts_from_snapshot_turn(snapshot_turn)
        for expect in _variants(turn, raw):
            probe = turn.model_copy(update={"expect": expect})
            assert [str(b) for b in evaluate(probe, raw)] == [
                str(b) for b in evaluate(probe, stored)
            ], (turn.user, expect)
