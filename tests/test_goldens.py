"""Offline replay of every golden dialogue through the real integration (one test per dialogue).

No environment variables, no credentials, no network: each cassette answers every request or
the test fails, saying which dialogue and turn diverged and how to re-record.
`pytest --snapshot-update` refreshes goldens/snapshots/ (scripts/record.py does it for you).
"""

from __future__ import annotations

import os
import socket
from typing import Any

import pytest
from syrupy.assertion import SnapshotAssertion

from harness.dialogues import Dialogue, load_dialogues
from harness.paths import DIALOGUE_DIR, SNAPSHOT_DIR
from harness.replay import explain_snapshot_mismatch, replay_dialogue
from harness.snapshots import GoldenSnapshotExtension

DIALOGUES = load_dialogues(DIALOGUE_DIR)


class NetworkBlocked(RuntimeError):
    pass


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """No Azure settings and no sockets: replay must need neither."""
    for key in list(os.environ):
        if key.startswith(("AZURE_", "FOUNDRY_")):
            monkeypatch.delenv(key)

    def refuse(self: socket.socket, address: Any) -> None:
        raise NetworkBlocked(f"replay tried to reach {address!r}; the network is blocked")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)


@pytest.fixture
def golden(snapshot: SnapshotAssertion) -> SnapshotAssertion:
    return snapshot.use_extension(GoldenSnapshotExtension)


@pytest.mark.parametrize("dialogue", DIALOGUES, ids=[d.name for d in DIALOGUES])
def test_golden(dialogue: Dialogue, golden: SnapshotAssertion, offline: None) -> None:
    result = replay_dialogue(dialogue)

    assert len(result.turns) == len(dialogue.turns)
    conversation_ids = {turn.conversation_id for turn in result.turns}
    assert len(conversation_ids) == 1, f"{dialogue.name}: conversation ids {conversation_ids}"

    actual = result.snapshot()
    if not golden == actual:
        raise AssertionError(
            explain_snapshot_mismatch(dialogue.name, SNAPSHOT_DIR / f"{dialogue.name}.json", actual)
        )
