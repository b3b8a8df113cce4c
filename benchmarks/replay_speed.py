"""Cost of a replayed turn along the whole test path, beside `run_inference` alone, in one run.

- whole path: what the pytest plugin's test_golden[<name>] does for one dialogue, end to end
  (the same functions): load the cassette, patch (once per run of golden tests, as the plugin
  does), build every request, run_inference, parse and check each output (expectations
  included), normalize, render the snapshot and compare it with the committed file;
- run_inference alone: the same calls timed from inside that path (cassette already open);
- the whole path again with every turn's expectations re-checked, as replay does for a turn
  whose `expect:` block or output changed since recording (an unchanged one is known to hold:
  foundry_goldens/goldens/held.py). Alternated with the first, round by round.

Every shipped golden dialogue per round; each round starts as a fresh pytest session would
(`foundry_goldens.replay.session.forget_session_caches`), after one warm-up round (imports, the snippet's
client). Per turn figures are medians over rounds of (time over all dialogues / turns).

    python benchmarks/replay_speed.py [--rounds 15] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from foundry_goldens.goldens.dialogues import Dialogue, load_dialogues
from foundry_goldens.goldens.snapshots import GoldenSnapshotExtension
from foundry_goldens.replay.replayer import replay_dialogue
from foundry_goldens.replay.session import ReplaySession, forget_session_caches
from foundry_goldens.snippet.loader import load_integration
from tests.paths import DIALOGUE_DIR, SNAPSHOT_DIR

TARGET_RATIO = 1.3  # whole path / run_inference alone (issue 11)


def whole_path(
    dialogue: Dialogue,
    run_inference: Callable[[str, dict[str, Any]], str],
    session: ReplaySession,
    recheck: bool = False,
) -> None:
    """The plugin's test_golden[<name>] for one dialogue (foundry_goldens.pytest_goldens.check_golden),
    syrupy's comparison included."""
    result = replay_dialogue(
        dialogue,
        run_inference=run_inference,
        cassette_session=session.replaying,
        recheck_expectations=recheck,
    )
    # syrupy: serialize with the extension, read the committed file, compare the strings.
    serialized = GoldenSnapshotExtension().serialize(result.snapshot())
    committed = (SNAPSHOT_DIR / f"{dialogue.name}.json").read_text(encoding="utf-8")
    if serialized != committed:
        raise SystemExit(f"{dialogue.name}: the replayed snapshot differs from the committed one")


def one_round(
    dialogues: list[Dialogue], run_inference: Any, recheck: bool = False
) -> tuple[float, float, int]:
    """(whole path seconds, run_inference seconds, turns) over every dialogue."""
    inner: list[float] = []

    def timed(body: str, environment: dict[str, Any]) -> str:
        started = time.perf_counter()
        try:
            return str(run_inference(body, environment))
        finally:
            inner.append(time.perf_counter() - started)

    forget_session_caches()  # a new pytest session parses every cassette again
    started = time.perf_counter()
    # As the plugin does for a run of golden tests: vcrpy's patches installed once.
    with ReplaySession() as session:
        for dialogue in dialogues:
            whole_path(dialogue, timed, session, recheck)
    return time.perf_counter() - started, sum(inner), len(inner)


def measure(rounds: int) -> dict[str, Any]:
    run_inference = load_integration().run_inference
    dialogues = load_dialogues(DIALOGUE_DIR)
    for recheck in (False, True):  # warm-up: imports, caches, the snippet's client
        one_round(dialogues, run_inference, recheck)
    whole_ms: list[float] = []
    alone_ms: list[float] = []
    ratios: list[float] = []
    recheck_ms: list[float] = []
    recheck_ratios: list[float] = []
    turns = 0
    for number in range(rounds):
        for recheck in (False, True) if number % 2 == 0 else (True, False):
            whole, alone, turns = one_round(dialogues, run_inference, recheck)
            if recheck:
                recheck_ms.append(whole / turns * 1000)
                recheck_ratios.append(whole / alone)
            else:
                whole_ms.append(whole / turns * 1000)
                alone_ms.append(alone / turns * 1000)
                ratios.append(whole / alone)
    return {
        "dialogues": len(dialogues),
        "turns": turns,
        "rounds": rounds,
        "whole_ms": statistics.median(whole_ms),
        "alone_ms": statistics.median(alone_ms),
        "ratio": statistics.median(ratios),
        "ratio_range": (min(ratios), max(ratios)),
        "recheck_ms": statistics.median(recheck_ms),
        "recheck_ratio": statistics.median(recheck_ratios),
    }


def report(result: dict[str, Any]) -> bool:
    low, high = result["ratio_range"]
    print(
        f"replay: {result['dialogues']} dialogues, {result['turns']} turns per round, "
        f"{result['rounds']} rounds (medians)"
    )
    print(f"  whole test path per turn:   {result['whole_ms']:7.3f} ms")
    print(f"  run_inference alone:        {result['alone_ms']:7.3f} ms")
    print(
        f"  whole path / run_inference: {result['ratio']:.3f}x "
        f"(rounds {low:.3f}-{high:.3f}x; target <= {TARGET_RATIO}x)"
    )
    print(
        f"  with every expectation re-checked (expect: block or output changed since "
        f"recording): {result['recheck_ms']:.3f} ms, {result['recheck_ratio']:.3f}x"
    )
    return bool(result["ratio"] <= TARGET_RATIO)


def profile(rounds: int) -> None:
    run_inference = load_integration().run_inference
    dialogues = load_dialogues(DIALOGUE_DIR)
    one_round(dialogues, run_inference)
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(rounds):
        one_round(dialogues, run_inference)
    profiler.disable()
    pstats.Stats(profiler).sort_stats("cumulative").print_stats(45)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--profile", action="store_true", help="print a cProfile instead")
    args = parser.parse_args()
    if args.profile:
        profile(args.rounds)
        return 0
    return 0 if report(measure(args.rounds)) else 1


if __name__ == "__main__":
    sys.exit(main())
