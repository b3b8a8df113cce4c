"""Cost of one replayed turn, side by side in one run (medians over every shipped golden turn).

- replay: run_inference through vcrpy on the cassette, clients reused (what tests do);
- in-memory conversion alone: parse the input + convert the recorded output, no HTTP stack;
- tutorial: replay, but the credential, project client and OpenAI client rebuilt every turn.

    python benchmarks/replay_speed.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from foundry_goldens.goldens.dialogues import load_dialogues
from foundry_goldens.replay.replayer import replay_dialogue
from foundry_goldens.snippet.loader import load_integration
from tests.paths import DIALOGUE_DIR

TARGET_REPLAY_MS = 3.0
TARGET_RATIO = 20.0


def _timed(
    fn: Callable[[str, dict[str, Any]], str],
    samples: list[float],
    before: Callable[[], None] | None = None,
) -> Callable[[str, dict[str, Any]], str]:
    def run(body: str, environment: dict[str, Any]) -> str:
        started = time.perf_counter()
        if before is not None:
            before()
        result = fn(body, environment)
        samples.append(time.perf_counter() - started)
        return result

    return run


def measure(rounds: int) -> dict[str, Any]:
    module = load_integration()
    dialogues = load_dialogues(DIALOGUE_DIR)

    # Capture each turn's request body and raw Foundry output once, for the in-memory baseline.
    captured: list[tuple[str, Any]] = []
    real_query = module.query_model

    def capture(body: str, environment: dict[str, Any]) -> str:
        raws: list[Any] = []

        def recording_query(model_input: Any, env: dict[str, Any]) -> Any:
            raw = real_query(model_input, env)
            raws.append(raw)
            return raw

        setattr(module, "query_model", recording_query)  # noqa: B010 (a module, typed loosely)
        try:
            return module.run_inference(body, environment)
        finally:
            setattr(module, "query_model", real_query)  # noqa: B010
            captured.append((body, raws[0]))

    for dialogue in dialogues:  # also warms imports, caches and the client
        replay_dialogue(dialogue, run_inference=capture)

    replay_samples: list[float] = []
    tutorial_samples: list[float] = []
    conversion_samples: list[float] = []
    for _ in range(rounds):
        for dialogue in dialogues:
            replay_dialogue(dialogue, run_inference=_timed(module.run_inference, replay_samples))
            replay_dialogue(
                dialogue,
                run_inference=_timed(
                    module.run_inference, tutorial_samples, before=module.reset_client_cache
                ),
            )
        for body, raw in captured:
            started = time.perf_counter()
            model_input = module.convert_user_input(module.parse_chat_input(body))
            assert model_input.user_message
            module.convert_model_output(raw).model_dump_json()
            conversion_samples.append(time.perf_counter() - started)

    median_ms = {
        "replay": statistics.median(replay_samples) * 1000,
        "conversion": statistics.median(conversion_samples) * 1000,
        "tutorial": statistics.median(tutorial_samples) * 1000,
    }
    return {
        "turns": len(captured),
        "samples": len(replay_samples),
        "median_ms": median_ms,
        "replay_over_conversion": median_ms["replay"] / median_ms["conversion"],
        "tutorial_over_replay": median_ms["tutorial"] / median_ms["replay"],
    }


def report(result: dict[str, Any]) -> bool:
    m = result["median_ms"]
    print(f"replayed turns: {result['turns']} per round, {result['samples']} samples per variant")
    print(
        f"  median replayed turn (reused client):     {m['replay']:8.3f} ms  (target <= {TARGET_REPLAY_MS} ms)"
    )
    print(f"  median in-memory conversion alone:        {m['conversion']:8.3f} ms")
    print(f"  median tutorial turn (clients rebuilt):   {m['tutorial']:8.3f} ms")
    print(
        f"  replay / conversion: {result['replay_over_conversion']:.1f}x  (target <= {TARGET_RATIO:.0f}x)"
    )
    print(f"  tutorial / replay:   {result['tutorial_over_replay']:.1f}x")
    return m["replay"] <= TARGET_REPLAY_MS and result["replay_over_conversion"] <= TARGET_RATIO


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    return 0 if report(measure(args.rounds)) else 1


if __name__ == "__main__":
    sys.exit(main())
