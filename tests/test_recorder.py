"""The recorder against the local emulator: real HTTP on loopback, real vcrpy cassettes.

Every directory is under tmp_path; the repository's cassettes/ and goldens/ are only read.
Covers what a recording writes (sanitized, placeholder endpoint, deterministic bytes), that
parallel recording keeps each thread's traffic in its own cassette, and all-or-nothing per
dialogue (a failing dialogue leaves its previous files untouched and says which turn and why).
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from foundry_goldens.cassettes.sanitizer import PLACEHOLDER_ENDPOINT, secrets_from_environment
from foundry_goldens.emulator import FaultConfig, FoundryEmulator
from foundry_goldens.goldens.dialogues import Dialogue, load_dialogue, load_dialogues
from foundry_goldens.goldens.snapshots import render_snapshot
from foundry_goldens.recording.progress import DialogueOutcome, SilentProgress
from foundry_goldens.recording.recorder import MAX_CONCURRENCY, RecordOptions, record_dialogues
from foundry_goldens.recording.targets import (
    DEFAULT_EMULATOR_AGENT,
    EmulatorTarget,
    Session,
    Target,
    emulator_sign_in,
)
from foundry_goldens.replay.replayer import replay_dialogue
from tests.paths import DIALOGUE_DIR

# Turn 2 ("What can you do") calls no tool, so this expectation fails in turn 2.
GREETING_EXPECTING_A_TOOL_IN_TURN_2 = """\
name: greeting
agent: retail-support
turns:
  - user: "Hello!"
  - user: "What can you do for me?"
    expect:
      tools: [get_order]
"""

# ---------------------------------------------------------------------------- helpers


def options(root: Path, concurrency: int = 4, check: bool = False) -> RecordOptions:
    return RecordOptions(
        cassette_dir=root / "cassettes",
        snapshot_dir=root / "snapshots",
        concurrency=concurrency,
        check=check,
    )


def shipped(*names: str) -> list[Dialogue]:
    return load_dialogues(DIALOGUE_DIR, names)


def record(
    dialogues: Sequence[Dialogue], root: Path, target: Target | None = None, concurrency: int = 4
) -> dict[str, DialogueOutcome]:
    outcomes = record_dialogues(
        dialogues, target or EmulatorTarget(), options(root, concurrency), SilentProgress()
    )
    return {outcome.name: outcome for outcome in outcomes}


def tree(root: Path) -> dict[str, bytes]:
    """Every file under root (relative path -> bytes)."""
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def staging_dirs(root: Path) -> list[Path]:
    """Staging left anywhere: beside the cassettes (where older versions staged) or a run
    directory."""
    return sorted(root.glob(".record-*")) + sorted(root.glob("cassettes/.record/run-*"))


def write_previous(root: Path, name: str) -> tuple[Path, Path, bytes, bytes]:
    """Sentinel 'previous' cassette and snapshot for `name`: any write to them would show."""
    cassette = root / "cassettes" / f"{name}.json"
    snapshot = root / "snapshots" / f"{name}.json"
    cassette.parent.mkdir(parents=True, exist_ok=True)
    snapshot.parent.mkdir(parents=True, exist_ok=True)
    cassette_text = f"# previous cassette of {name}: must survive a failed re-recording\n".encode()
    snapshot_text = f'{{"previous snapshot of": "{name}"}}\n'.encode()
    cassette.write_bytes(cassette_text)
    snapshot.write_bytes(snapshot_text)
    return cassette, snapshot, cassette_text, snapshot_text


class CountingTarget:
    """An EmulatorTarget that also counts how many dialogue sessions were open at once."""

    def __init__(self, latency: float) -> None:
        self._inner = EmulatorTarget(latency=latency)
        self._lock = threading.Lock()
        self._open = 0
        self.most_open = 0

    @property
    def description(self) -> str:
        return self._inner.description

    @contextlib.contextmanager
    def session(self, dialogue: Dialogue) -> Iterator[Session]:
        with self._inner.session(dialogue) as session:
            with self._lock:
                self._open += 1
                self.most_open = max(self.most_open, self._open)
            try:
                yield session
            finally:
                with self._lock:
                    self._open -= 1


class FaultyEmulatorTarget:
    """The emulator with a fault injected, as EmulatorTarget would set it up otherwise."""

    description = "local Foundry emulator with a fault"

    def __init__(self, faults: FaultConfig) -> None:
        self.faults = faults

    @contextlib.contextmanager
    def session(self, dialogue: Dialogue) -> Iterator[Session]:
        # Signed in and counted as EmulatorTarget does: retried and dropped calls must not
        # read as requests that reached the server unrecorded.
        with FoundryEmulator(seed=dialogue.name, faults=self.faults, sign_in=True) as emulator:
            environment = {
                "AZURE_AI_PROJECT_ENDPOINT": emulator.endpoint,
                "AZURE_FOUNDRY_AGENT_NAME": dialogue.agent or DEFAULT_EMULATOR_AGENT,
                **emulator_sign_in(emulator),
            }
            yield Session(
                environment,
                emulator.endpoint,
                secrets_from_environment(environment),
                server_stats=emulator.stats,
            )


# ---------------------------------------------------------------------------- recording


def test_records_a_sanitized_cassette_and_its_snapshot(tmp_path: Path) -> None:
    captured: dict[str, str] = {}

    class RememberingTarget(EmulatorTarget):
        @contextlib.contextmanager
        def session(self, dialogue: Dialogue) -> Iterator[Session]:
            with super().session(dialogue) as session:
                captured["endpoint"] = session.endpoint
                yield session

    [greeting] = shipped("greeting")
    outcomes = record([greeting], tmp_path, RememberingTarget())

    assert outcomes["greeting"].status == "recorded", outcomes["greeting"].detail
    assert outcomes["greeting"].turns_done == 2
    cassette = (tmp_path / "cassettes" / "greeting.json").read_text("utf-8")
    snapshot = (tmp_path / "snapshots" / "greeting.json").read_text("utf-8")

    port = re.fullmatch(r"http://127\.0\.0\.1:(\d+)/api/projects/demo", captured["endpoint"])
    assert port is not None, captured["endpoint"]
    assert "127.0.0.1" not in cassette
    assert f":{port.group(1)}" not in cassette
    assert "/api/projects/demo" not in cassette
    assert not re.search(r"(?im)^\s*['\"]?authorization['\"]?:", cassette)
    assert "bearer" not in cassette.lower()
    assert "static-test-token" not in cassette
    uris = re.findall(r'(?m)^\s*"uri": "(\S+)",$', cassette)
    assert uris, "the cassette recorded no request"
    assert all(uri.startswith(PLACEHOLDER_ENDPOINT + "/") for uri in uris), uris
    # JSON bodies are structured JSON, not escaped strings.
    assert '"body": {\n          "json": {\n            "conversation": "conv_' in cassette

    # The snapshot is what replaying the written cassette yields (the same code the tests run).
    replayed = replay_dialogue(greeting, tmp_path / "cassettes" / "greeting.json")
    assert snapshot == render_snapshot(replayed.snapshot())
    assert staging_dirs(tmp_path) == []


def test_recording_the_same_dialogue_twice_gives_the_same_bytes(tmp_path: Path) -> None:
    dialogues = shipped("order_lookup", "approval_return")
    record(dialogues, tmp_path / "first")
    record(dialogues, tmp_path / "second")

    first, second = tree(tmp_path / "first"), tree(tmp_path / "second")
    assert sorted(first) == [
        "cassettes/approval_return.json",
        "cassettes/order_lookup.json",
        "snapshots/approval_return.json",
        "snapshots/order_lookup.json",
    ]
    assert first == second


def test_concurrency_15_records_the_same_bytes_as_concurrency_1(tmp_path: Path) -> None:
    """Proves the per-thread cassette router: parallel dialogues do not record each other."""
    dialogues = shipped()  # all nine shipped dialogues
    assert len(dialogues) >= 8
    record(dialogues, tmp_path / "serial", concurrency=1)
    # A little latency keeps every dialogue's requests in flight while the others run.
    parallel = CountingTarget(latency=0.02)
    outcomes = record(dialogues, tmp_path / "parallel", parallel, concurrency=MAX_CONCURRENCY)

    assert {o.status for o in outcomes.values()} == {"recorded"}
    assert parallel.most_open >= 5, f"only {parallel.most_open} dialogue(s) ran at once"
    serial, concurrent = tree(tmp_path / "serial"), tree(tmp_path / "parallel")
    assert len(serial) == 2 * len(dialogues)
    for path, content in serial.items():
        assert concurrent[path] == content, f"{path} differs between concurrency 1 and 15"
    assert sorted(concurrent) == sorted(serial)


@pytest.mark.parametrize("concurrency", [0, MAX_CONCURRENCY + 1, -1])
def test_concurrency_out_of_bounds_is_refused(tmp_path: Path, concurrency: int) -> None:
    with pytest.raises(ValueError, match=rf"between 1 and {MAX_CONCURRENCY}") as raised:
        record_dialogues(
            shipped("greeting"), EmulatorTarget(), options(tmp_path, concurrency), SilentProgress()
        )
    assert f"got {concurrency}" in str(raised.value)
    assert tree(tmp_path) == {}
    assert staging_dirs(tmp_path) == []


# ---------------------------------------------------------------------------- all or nothing


def test_a_failed_expectation_leaves_previous_files_untouched(tmp_path: Path) -> None:
    (tmp_path / "dialogues").mkdir()
    path = tmp_path / "dialogues" / "greeting.yaml"
    path.write_text(GREETING_EXPECTING_A_TOOL_IN_TURN_2, encoding="utf-8")
    failing = load_dialogue(path)
    [good] = shipped("order_lookup")
    cassette, snapshot, old_cassette, old_snapshot = write_previous(tmp_path, "greeting")
    write_previous(tmp_path, "order_lookup")
    stamps = (cassette.stat().st_mtime_ns, snapshot.stat().st_mtime_ns)

    outcomes = record([failing, good], tmp_path)

    assert outcomes["greeting"].status == "failed"
    detail = outcomes["greeting"].detail
    assert detail.startswith("turn 2: "), detail
    assert "expect.tools: expected get_order; called: none" in detail
    assert outcomes["greeting"].turns_done == 1
    assert cassette.read_bytes() == old_cassette
    assert snapshot.read_bytes() == old_snapshot
    assert (cassette.stat().st_mtime_ns, snapshot.stat().st_mtime_ns) == stamps

    # The good dialogue completed and replaced its sentinels with a real recording.
    assert outcomes["order_lookup"].status == "recorded", outcomes["order_lookup"].detail
    good_cassette = (tmp_path / "cassettes" / "order_lookup.json").read_text("utf-8")
    assert good_cassette.startswith('{\n  "version": 1,\n  "interactions": [\n')
    assert '"dialogue": "order_lookup"' in (tmp_path / "snapshots" / "order_lookup.json").read_text(
        "utf-8"
    )
    assert staging_dirs(tmp_path) == []
    assert sorted(tree(tmp_path / "cassettes")) == ["greeting.json", "order_lookup.json"]


def test_an_unknown_agent_404_leaves_previous_files_untouched(tmp_path: Path) -> None:
    [greeting] = shipped("greeting")
    lost = greeting.model_copy(update={"agent": "no-such-agent"})
    cassette, snapshot, old_cassette, old_snapshot = write_previous(tmp_path, "greeting")

    outcomes = record([lost, *shipped("multi_tool_turn")], tmp_path)

    assert outcomes["greeting"].status == "failed"
    detail = outcomes["greeting"].detail
    assert detail.startswith("turn 1: FoundryError"), detail
    assert "not_found" in detail and "no-such-agent" in detail
    assert cassette.read_bytes() == old_cassette
    assert snapshot.read_bytes() == old_snapshot
    assert outcomes["multi_tool_turn"].status == "recorded"
    assert (tmp_path / "cassettes" / "multi_tool_turn.json").is_file()
    assert staging_dirs(tmp_path) == []


def test_an_http_failure_in_turn_2_leaves_previous_files_untouched(tmp_path: Path) -> None:
    # Responses call 2 (turn 2) gets a 200 with a truncated body: not retried by the client.
    [greeting] = shipped("greeting")
    cassette, snapshot, old_cassette, old_snapshot = write_previous(tmp_path, "greeting")

    outcomes = record([greeting], tmp_path, FaultyEmulatorTarget(FaultConfig(malformed_call=2)))

    outcome = outcomes["greeting"]
    assert outcome.status == "failed"
    assert outcome.detail.startswith("turn 2: FoundryError"), outcome.detail
    assert "invalid_response" in outcome.detail
    assert outcome.turns_done == 1
    assert cassette.read_bytes() == old_cassette
    assert snapshot.read_bytes() == old_snapshot
    assert staging_dirs(tmp_path) == []


def test_a_retried_server_error_is_recorded_without_the_failed_attempt(tmp_path: Path) -> None:
    """A 500 the client retries past is not a failure, and the cassette does not keep it."""
    [greeting] = shipped("greeting")
    record([greeting], tmp_path / "clean")
    outcomes = record(
        [greeting], tmp_path / "faulty", FaultyEmulatorTarget(FaultConfig(fail_call=2))
    )

    assert outcomes["greeting"].status == "recorded", outcomes["greeting"].detail
    assert tree(tmp_path / "faulty") == tree(tmp_path / "clean")


def test_a_failing_dialogue_without_previous_files_writes_none(tmp_path: Path) -> None:
    [greeting] = shipped("greeting")
    lost = greeting.model_copy(update={"agent": "no-such-agent"})

    outcomes = record([lost], tmp_path)

    assert outcomes["greeting"].status == "failed"
    assert tree(tmp_path) == {}
    assert staging_dirs(tmp_path) == []


def test_the_default_agent_is_used_when_a_dialogue_names_none(tmp_path: Path) -> None:
    [greeting] = shipped("greeting")
    unnamed = greeting.model_copy(update={"agent": None})

    outcomes = record([unnamed], tmp_path)

    assert outcomes["greeting"].status == "recorded", outcomes["greeting"].detail
    cassette = (tmp_path / "cassettes" / "greeting.json").read_text("utf-8")
    assert f'"name": "{DEFAULT_EMULATOR_AGENT}",\n' in cassette


def test_recording_into_a_fresh_directory_creates_it(tmp_path: Path) -> None:
    root = tmp_path / "nested" / "goldens"
    outcomes = record(shipped("greeting"), root)
    assert outcomes["greeting"].status == "recorded"
    assert sorted(tree(root)) == ["cassettes/greeting.json", "snapshots/greeting.json"]


# ---------------------------------------------------------------------------- Ctrl-C late


class InterruptOnFirstFinish(SilentProgress):
    """Sends this process a real SIGINT when the first dialogue is reported finished, i.e.
    after every dialogue was recorded, while the run snapshots and publishes them."""

    def __init__(self, stop: signal.Signals = signal.SIGINT) -> None:
        self.sent = False
        self.stop = stop

    def finished(self, outcome: DialogueOutcome) -> None:
        if not self.sent and outcome.status != "failed":
            self.sent = True
            os.kill(os.getpid(), self.stop)
            time.sleep(0.05)  # the handler runs in the main thread at the next bytecode


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_ctrl_c_while_publishing_does_not_split_the_run(
    tmp_path: Path, stop: signal.Signals
) -> None:
    """A Ctrl-C (or SIGTERM) after some dialogue was moved in place must not end the run as
    "interrupted" (scripts/record.py would then say nothing was written): publishing finishes."""
    progress = InterruptOnFirstFinish(stop)
    try:
        outcomes = record_dialogues(
            shipped("greeting", "order_lookup"), EmulatorTarget(), options(tmp_path), progress
        )
    except KeyboardInterrupt:
        pytest.fail(f"interrupted after publishing: {sorted(tree(tmp_path))} were written")
    assert progress.sent
    assert [o.status for o in outcomes] == ["recorded", "recorded"]
    assert sorted(tree(tmp_path)) == [
        "cassettes/greeting.json",
        "cassettes/order_lookup.json",
        "snapshots/greeting.json",
        "snapshots/order_lookup.json",
    ]
    assert staging_dirs(tmp_path) == []


def test_ctrl_c_while_checking_still_interrupts_and_writes_nothing(tmp_path: Path) -> None:
    record(shipped("greeting"), tmp_path)
    before = tree(tmp_path)
    progress = InterruptOnFirstFinish()
    with pytest.raises(KeyboardInterrupt):
        record_dialogues(
            shipped("greeting"), EmulatorTarget(), options(tmp_path, check=True), progress
        )
    assert progress.sent
    assert tree(tmp_path) == before
    assert staging_dirs(tmp_path) == []
