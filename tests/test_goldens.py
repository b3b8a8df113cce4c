"""Offline replay of every golden dialogue through the real integration (one test per dialogue).

No environment variables, no credentials, no network: each cassette answers every request or
the test fails, saying which dialogue and turn diverged and how to re-record.
`pytest --snapshot-update` refreshes goldens/snapshots/ (scripts/record.py does it for you).
"""

from __future__ import annotations

import pytest
from syrupy.assertion import SnapshotAssertion

from harness.dialogues import Dialogue, load_dialogues
from harness.driver import conversations_expected
from harness.paths import DIALOGUE_DIR, SNAPSHOT_DIR
from harness.replay import explain_snapshot_mismatch, replay_dialogue
from harness.snapshots import GoldenSnapshotExtension

DIALOGUES = load_dialogues(DIALOGUE_DIR)


@pytest.fixture
def golden(snapshot: SnapshotAssertion) -> SnapshotAssertion:
    return snapshot.use_extension(GoldenSnapshotExtension)


@pytest.mark.parametrize("dialogue", DIALOGUES, ids=[d.name for d in DIALOGUES])
def test_golden(dialogue: Dialogue, golden: SnapshotAssertion, offline: None) -> None:
    result = replay_dialogue(dialogue)

    assert len(result.turns) == len(dialogue.turns)
    # One conversation when the id is echoed; one per turn, each seeded, when rebuilt.
    conversation_ids = {turn.conversation_id for turn in result.turns}
    expected = conversations_expected(dialogue)
    assert len(conversation_ids) == expected, (
        f"{dialogue.name}: conversation ids {conversation_ids}"
    )

    actual = result.snapshot()
    if not golden == actual:
        raise AssertionError(
            explain_snapshot_mismatch(dialogue.name, SNAPSHOT_DIR / f"{dialogue.name}.json", actual)
        )
