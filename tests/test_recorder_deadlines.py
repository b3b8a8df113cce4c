"""A stalled or hung Foundry fails only its dialogue, within the turn's or the dialogue's
deadline, with a reason naming the turn and the deadline; the other dialogues still record.

Real emulator on loopback with its stall and hang faults; deadlines of a second or two.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from foundry_goldens.emulator import FaultConfig, FoundryEmulator
from foundry_goldens.goldens.dialogues import Dialogue, load_dialogues
from foundry_goldens.recording.progress import SilentProgress
from foundry_goldens.recording.recorder import RecordOptions, record_dialogues
from foundry_goldens.recording.targets import DEFAULT_EMULATOR_AGENT, Session
from foundry_goldens.snippet.credentials import StaticTokenCredential
from foundry_goldens.snippet.driver import TURN_TIMEOUT_KEY, Deadlines, TurnFailure, drive_dialogue
from tests.paths import DIALOGUE_DIR


class FaultForOne:
    """The emulator; the named dialogue's emulator has `faults`, the others none."""

    description = "local Foundry emulator, one dialogue faulted"

    def __init__(self, name: str, faults: FaultConfig) -> None:
        self.name = name
        self.faults = faults

    @contextlib.contextmanager
    def session(self, dialogue: Dialogue) -> Iterator[Session]:
        faults = self.faults if dialogue.name == self.name else FaultConfig()
        with FoundryEmulator(seed=dialogue.name, faults=faults) as emulator:
            environment = {
                "AZURE_AI_PROJECT_ENDPOINT": emulator.endpoint,
                "AZURE_FOUNDRY_AGENT_NAME": dialogue.agent or DEFAULT_EMULATOR_AGENT,
                "AZURE_TOKEN_CREDENTIAL": StaticTokenCredential(),
            }
            yield Session(environment, emulator.endpoint, {})


def record(
    root: Path, target: FaultForOne, dialogue_timeout: float = 600, turn_timeout: float = 100
) -> dict[str, tuple[str, str]]:
    options = RecordOptions(
        root / "cassettes",
        root / "snapshots",
        dialogue_timeout=dialogue_timeout,
        turn_timeout=turn_timeout,
    )
    dialogues = load_dialogues(DIALOGUE_DIR, ["greeting", "order_lookup"])
    outcomes = record_dialogues(dialogues, target, options, SilentProgress())
    return {o.name: (o.status, o.detail) for o in outcomes}


# Generous: it only tells a turn ended by its 1-3 s deadline from one left to the stall or hang
# (forever) or to the other deadline (100 s, 600 s), not how promptly the deadline acted.
ENDED_BY_A_DEADLINE = 60


def test_a_stalled_turn_fails_its_dialogue_at_the_turn_deadline(tmp_path: Path) -> None:
    # greeting's 2nd responses call (turn 2) gets headers, then a byte every 0.2 s forever.
    target = FaultForOne("greeting", FaultConfig(stall_call=2, stall_interval=0.2))
    started = time.monotonic()

    outcomes = record(tmp_path, target, turn_timeout=1.0)

    assert time.monotonic() - started < ENDED_BY_A_DEADLINE
    status, detail = outcomes["greeting"]
    assert status == "failed"
    # vcrpy reads a recorded body inside the transport, so the recorder's watchdog, not the
    # snippet, ends this turn, 2 s after the turn's deadline (at least: later on a busy machine).
    stopped = re.match(
        r"turn 2: Foundry was still answering when the turn's deadline of 1 s "
        r"\(--turn-timeout, FOUNDRY_TURN_TIMEOUT_SECONDS\) passed \(stopped after (\d+\.\d) s",
        detail,
    )
    assert stopped is not None, detail
    assert float(stopped[1]) >= 3.0, detail
    assert outcomes["order_lookup"] == ("recorded", "")
    assert not (tmp_path / "cassettes" / "greeting.json").exists()
    assert (tmp_path / "cassettes" / "order_lookup.json").is_file()


def test_a_hung_turn_fails_its_dialogue_at_the_dialogue_deadline(tmp_path: Path) -> None:
    target = FaultForOne("greeting", FaultConfig(hang_call=2))
    started = time.monotonic()

    outcomes = record(tmp_path, target, dialogue_timeout=2.0)

    assert time.monotonic() - started < ENDED_BY_A_DEADLINE
    status, detail = outcomes["greeting"]
    assert status == "failed"
    assert detail.startswith("turn 2: FoundryError: Foundry error timeout: ")
    assert "the dialogue's deadline of 2 s (--dialogue-timeout) left this turn no more time" in (
        detail
    )
    assert outcomes["order_lookup"] == ("recorded", "")


def test_no_turn_starts_after_the_dialogue_deadline(snippet: ModuleType) -> None:
    [dialogue] = load_dialogues(DIALOGUE_DIR, ["order_lookup"])  # three turns
    started: list[int] = []
    first_started_at: list[float] = []

    def slow_run_inference(body: str, environment: dict[str, Any]) -> str:
        started.append(len(started) + 1)
        first_started_at.append(time.monotonic())
        answer = str(snippet.run_inference(body, environment))
        if len(started) == 2:
            # A slow AI GO! side (Foundry itself answers at once): turn 2 ends once the
            # dialogue's deadline, set before turn 1 started, has passed, however busy the
            # machine. Turn 1 has nearly 2 s to spare (with 0.6 s per turn and a 1 s deadline it
            # would have 0.4 s: on a busy machine turn 2 could miss the deadline).
            time.sleep(max(0.0, first_started_at[0] + 2.0 - time.monotonic()))
        return answer

    with FoundryEmulator(seed="order_lookup") as emulator:
        environment = {
            "AZURE_AI_PROJECT_ENDPOINT": emulator.endpoint,
            "AZURE_FOUNDRY_AGENT_NAME": DEFAULT_EMULATOR_AGENT,
            "AZURE_TOKEN_CREDENTIAL": StaticTokenCredential(),
        }
        with pytest.raises(TurnFailure) as caught:
            drive_dialogue(
                dialogue, slow_run_inference, environment, deadlines=Deadlines(2.0, 100.0)
            )

    assert started == [1, 2]
    assert str(caught.value) == (
        "order_lookup, turn 3: the dialogue's deadline of 2 s (--dialogue-timeout) passed"
    )


def test_the_driver_sets_the_snippets_own_turn_deadline_key(snippet: ModuleType) -> None:
    assert snippet.TURN_TIMEOUT_KEY == TURN_TIMEOUT_KEY
