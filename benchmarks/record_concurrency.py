"""Recording speed against the emulator (100 ms latency per request): concurrency 1 vs 15.

100 generated dialogues of 4 to 10 turns, each built from the shipped dialogues' turns (their
agent, request mode and system message, user texts drawn from that agent's turns; dialogues
that expect an error are left out, and scripted `[emulate: ...]` texts from rebuilt ones), recorded end to end as `foundry-goldens record --emulator` does:
the snippet signs in for real through the run's Entra ID stand-in, cassettes are sanitized and
leak-scanned, expectations checked, snapshots written by replay, into a temporary directory,
with the real rich progress display (to a terminal-like console that discards it).
Samples alternate between the two concurrency levels after a warm-up without latency; medians.

Two services, each in one run:
- `in-process` (what `record --emulator` does): a fresh emulator per dialogue inside the
  recording process, all trusting one Entra ID stand-in for the run (one sign-in, as against
  a live project); the emulator's own work (serving every request) shares the recorder's
  interpreter lock;
- `remote` (what recording a live project is): one emulator in its own process, as Foundry is
  a service elsewhere, recorded through the live path (its endpoint and service principal
  as a team's .env sets them); the recorder signs in once and reuses its client, as it does
  against a live project.

    python benchmarks/record_concurrency.py [--service remote|in-process|both]
        [--dialogues 100] [--latency-ms 100] [--samples-1 2] [--samples-15 3] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rich.console import Console

from foundry_goldens.goldens.dialogues import Dialogue, Turn, load_dialogues
from foundry_goldens.recording.progress import RichProgress
from foundry_goldens.recording.recorder import RecordOptions, record_dialogues
from foundry_goldens.recording.targets import (
    DEFAULT_EMULATOR_AGENT,
    EmulatorTarget,
    LiveTarget,
    Target,
)
from tests.paths import DIALOGUE_DIR

TARGET_SPEEDUP = 10.0
MIN_TURNS, MAX_TURNS = 4, 10


def generated_dialogues(count: int, seed: int = 11) -> list[Dialogue]:
    """`count` dialogues of 4..10 turns drawn from the shipped ones (deterministic)."""
    shipped = [
        d
        for d in load_dialogues(DIALOGUE_DIR)
        if all(turn.expect.error is None for turn in d.turns)
    ]
    texts: dict[str, list[str]] = {}
    for dialogue in shipped:
        agent = dialogue.agent or DEFAULT_EMULATOR_AGENT
        texts.setdefault(agent, []).extend(turn.user for turn in dialogue.turns)
    rng = random.Random(seed)
    dialogues = []
    for number in range(count):
        base = shipped[number % len(shipped)]
        pool = texts[base.agent or DEFAULT_EMULATOR_AGENT]
        if base.request_mode == "rebuild":
            # A scripted blocked prompt breaks the rebuilt chat's seeding count (the recorder
            # rejects it): rebuilt dialogues keep to ordinary texts.
            pool = [text for text in pool if "[emulate:" not in text]
        turns = [Turn(user=rng.choice(pool)) for _ in range(rng.randint(MIN_TURNS, MAX_TURNS))]
        dialogues.append(
            Dialogue(
                name=f"bench-{number:03d}",
                agent=base.agent,
                request_mode=base.request_mode,
                system=base.system,
                turns=turns,
            )
        )
    return dialogues


class RemoteService:
    """`python -m foundry_goldens.emulator` in its own process, with sign-in and latency."""

    def __init__(self, latency: float) -> None:
        self._process = subprocess.Popen(
            [sys.executable, "-m", "foundry_goldens.emulator", "--latency-ms", str(latency * 1000)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self._process.stdout is not None
        self.settings: dict[str, str] = {}
        for line in self._process.stdout:  # the settings it prints, then its agents
            if line.startswith("agents:"):
                break
            key, _, value = line.strip().partition("=")
            self.settings[key] = value

    def target(self) -> LiveTarget:
        return LiveTarget(
            endpoint=self.settings["AZURE_AI_PROJECT_ENDPOINT"],
            agent=DEFAULT_EMULATOR_AGENT,
            settings=self.settings,
        )

    def close(self) -> None:
        self._process.terminate()
        self._process.wait(timeout=10)


def record_once(dialogues: list[Dialogue], target: Target, concurrency: int) -> float:
    # A terminal-like console: the live display renders and refreshes as it does for a person.
    console = Console(file=io.StringIO(), force_terminal=True, width=120)
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        options = RecordOptions(
            cassette_dir=root / "cassettes",
            snapshot_dir=root / "snapshots",
            concurrency=concurrency,
        )
        started = time.perf_counter()
        with RichProgress(console) as progress:
            outcomes = record_dialogues(dialogues, target, options, progress)
        elapsed = time.perf_counter() - started
        failed = [o for o in outcomes if not o.ok]
        if failed:
            raise SystemExit(f"benchmark recording failed: {failed[0].name}: {failed[0].detail}")
        return elapsed


def measure(
    dialogues: list[Dialogue], target: Target, samples_1: int, samples_15: int
) -> dict[int, list[float]]:
    # Alternated: 15, 1, 15, 1, 15 ... so drift on a shared machine touches both levels.
    order = []
    for index in range(max(samples_1, samples_15)):
        if index < samples_15:
            order.append(15)
        if index < samples_1:
            order.append(1)
    seconds: dict[int, list[float]] = {1: [], 15: []}
    for concurrency in order:
        seconds[concurrency].append(record_once(dialogues, target, concurrency))
    return seconds


def report(service: str, seconds: dict[int, list[float]]) -> float:
    speedup = statistics.median(seconds[1]) / statistics.median(seconds[15])
    print(f"  service {service}:")
    for level in (1, 15):
        runs = ", ".join(f"{s:.2f}" for s in seconds[level])
        print(
            f"    concurrency {level:2d}: median {statistics.median(seconds[level]):7.2f} s  ({runs})"
        )
    print(f"    speed-up: {speedup:.1f}x  (target >= {TARGET_SPEEDUP:.0f}x)")
    return speedup


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--service", choices=("remote", "in-process", "both"), default="both")
    parser.add_argument("--dialogues", type=int, default=100)
    parser.add_argument("--latency-ms", type=float, default=100.0)
    parser.add_argument("--samples-1", type=int, default=2)
    parser.add_argument("--samples-15", type=int, default=3)
    parser.add_argument(
        "--profile", action="store_true", help="cProfile one in-process recording at 15"
    )
    args = parser.parse_args()
    dialogues = generated_dialogues(args.dialogues)
    latency = args.latency_ms / 1000
    record_once(dialogues, EmulatorTarget(), 15)  # warm-up: imports, caches, thread pools
    if args.profile:
        profiler = cProfile.Profile()
        profiler.enable()
        profiled = record_once(dialogues, EmulatorTarget(latency=latency), 15)
        profiler.disable()
        print(f"concurrency 15: {profiled:.2f} s (profiled)")
        pstats.Stats(profiler).sort_stats("tottime").print_stats(40)
        return 0
    turns = sum(len(d.turns) for d in dialogues)
    print(
        f"recording {len(dialogues)} dialogues ({turns} turns, {MIN_TURNS}-{MAX_TURNS} each), "
        f"{args.latency_ms:.0f} ms latency per request, rich progress display"
    )
    speedups = []
    if args.service in ("remote", "both"):
        service = RemoteService(latency)
        try:
            target = service.target()
            record_once(dialogues[:15], target, 15)  # warm-up: the client, its sign-in
            speedups.append(
                report("remote", measure(dialogues, target, args.samples_1, args.samples_15))
            )
        finally:
            service.close()
    if args.service in ("in-process", "both"):
        seconds = measure(
            dialogues, EmulatorTarget(latency=latency), args.samples_1, args.samples_15
        )
        speedups.append(report("in-process", seconds))
    return 0 if min(speedups) >= TARGET_SPEEDUP else 1


if __name__ == "__main__":
    sys.exit(main())
