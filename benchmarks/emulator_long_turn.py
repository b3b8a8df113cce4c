"""One emulator turn with a very long user message: linear, not quadratic, in its length.

The emulator reads slots (e-mail, order id, product query) from the user text with regular
expressions; an unanchored pattern rescans a long token from every position in it (100 KB takes
minutes). Each shape of text is sent at 100 KB and 200 KB, alternated, through the real snippet
on loopback; linear time doubles, quadratic time quadruples.

    python benchmarks/emulator_long_turn.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from foundry_goldens.emulator import FoundryEmulator
from foundry_goldens.snippet.credentials import StaticTokenCredential
from foundry_goldens.snippet.loader import load_integration

TARGET_TURN_SECONDS = 1.0  # a 100 KB turn
TARGET_GROWTH = 3.0  # time(200 KB) / time(100 KB): 2 when linear, 4 when quadratic
SHAPES = {
    "one long word": "a",
    "dotted word": "a.",
    "words": "hello there ",
    "e-mail-like": "x@y.z ",
    "japanese": "靴",
}


def text_of(unit: str, size: int) -> str:
    return (unit * (size // len(unit) + 1))[:size]


def measure(rounds: int) -> dict[str, tuple[float, float]]:
    snippet = load_integration()
    medians: dict[str, tuple[float, float]] = {}
    with FoundryEmulator() as emulator:
        environment = {
            "AZURE_AI_PROJECT_ENDPOINT": emulator.endpoint,
            "AZURE_FOUNDRY_AGENT_NAME": "retail-support",
            "AZURE_TOKEN_CREDENTIAL": StaticTokenCredential(),
        }
        warm_up = json.dumps({"messages": [{"role": "user", "content": "Hi"}]})
        snippet.run_inference(warm_up, environment)  # clients built outside the samples
        for shape, unit in SHAPES.items():
            samples: dict[int, list[float]] = {100_000: [], 200_000: []}
            for _ in range(rounds):
                for size, times in samples.items():  # alternated
                    body = json.dumps(
                        {"messages": [{"role": "user", "content": text_of(unit, size)}]}
                    )
                    started = time.perf_counter()
                    snippet.run_inference(body, environment)
                    times.append(time.perf_counter() - started)
            medians[shape] = (
                statistics.median(samples[100_000]),
                statistics.median(samples[200_000]),
            )
    return medians


def report(medians: dict[str, tuple[float, float]]) -> bool:
    ok = True
    print("median seconds per turn     100 KB   200 KB   growth")
    for shape, (small, large) in medians.items():
        growth = large / small
        missed = small > TARGET_TURN_SECONDS or growth > TARGET_GROWTH
        ok = ok and not missed
        flag = "  MISSED" if missed else ""
        print(f"  {shape:<24} {small:7.3f}  {large:7.3f}  {growth:6.2f}x{flag}")
    print(f"targets: 100 KB turn <= {TARGET_TURN_SECONDS:g} s, growth <= {TARGET_GROWTH:g}x")
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    return 0 if report(measure(args.rounds)) else 1


if __name__ == "__main__":
    sys.exit(main())
