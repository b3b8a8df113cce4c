"""Recording speed against the emulator with 100 ms latency per request: concurrency 1 vs 15.

30 generated dialogues x 4 turns, recorded end to end (cassettes, leak scan, snapshots by
replay) into a temporary directory, side by side in one run.

    python benchmarks/record_concurrency.py [--dialogues 30] [--latency-ms 100]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from foundry_goldens.goldens.dialogues import Dialogue, Turn
from foundry_goldens.recording.progress import SilentProgress
from foundry_goldens.recording.recorder import RecordOptions, record_dialogues
from foundry_goldens.recording.targets import EmulatorTarget

TARGET_SPEEDUP = 10.0
SCRIPT = (
    "Hi there!",
    "Do you sell headphones?",
    "My email is ana@example.com",
    "What is the status of order ORD-1001?",
)


def generated_dialogues(count: int) -> list[Dialogue]:
    return [
        Dialogue(name=f"bench-{i:02d}", turns=[Turn(user=text) for text in SCRIPT])
        for i in range(count)
    ]


def record_once(dialogues: list[Dialogue], latency: float, concurrency: int) -> float:
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        options = RecordOptions(
            cassette_dir=root / "cassettes",
            snapshot_dir=root / "snapshots",
            concurrency=concurrency,
        )
        started = time.perf_counter()
        outcomes = record_dialogues(
            dialogues, EmulatorTarget(latency=latency), options, SilentProgress()
        )
        elapsed = time.perf_counter() - started
        failed = [o for o in outcomes if not o.ok]
        if failed:
            raise SystemExit(f"benchmark recording failed: {failed[0].name}: {failed[0].detail}")
        return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dialogues", type=int, default=30)
    parser.add_argument("--latency-ms", type=float, default=100.0)
    args = parser.parse_args()
    dialogues = generated_dialogues(args.dialogues)
    latency = args.latency_ms / 1000
    record_once(dialogues, 0.0, 15)  # warm-up, without latency: imports, caches, thread pool
    sequential = record_once(dialogues, latency, 1)
    parallel = record_once(dialogues, latency, 15)
    speedup = sequential / parallel
    print(
        f"recording {args.dialogues} dialogues x {len(SCRIPT)} turns, {args.latency_ms:.0f} ms latency per request"
    )
    print(f"  concurrency  1: {sequential:7.2f} s")
    print(f"  concurrency 15: {parallel:7.2f} s")
    print(f"  speed-up: {speedup:.1f}x  (target >= {TARGET_SPEEDUP:.0f}x)")
    return 0 if speedup >= TARGET_SPEEDUP else 1


if __name__ == "__main__":
    sys.exit(main())
