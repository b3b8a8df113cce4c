"""What replay adds on top of the snippet itself, against a floor with no vcrpy at all.

Three figures, each from paired samples that alternate which variant runs first; medians with
the min-max of the samples:

(a) the whole golden path per dialogue (what the plugin's test_golden[<name>] runs: cassette
    load, vcrpy patched once for the run, requests built, run_inference, checks, normalizing,
    the snapshot rendered and compared; benchmarks/replay_speed.py's `whole_path`) against
    `run_inference` alone over a trivial in-memory transport: httpx2's HTTPTransport (the one
    openai's client sends through) patched at the class to hand back the dialogue's recorded
    responses in recorded order. The snippet is not touched; nothing matches, parses or copies;
    every output is checked equal to the cassette path's. Target <= 1.35x.
(b) `run_inference` timed inside the open cassette (vcrpy's stubs and matching included)
    against the same transport.
(c) collection per dialogue: the time pytest spends in its collection phase
    (`pytest --collect-only`, a fresh process per sample, the plugin collecting the dialogue
    directory) divided by the number of dialogues, on the shipped goldens and on a synthetic
    directory of 500 (the shipped ones under new names); with libyaml and with PyYAML's pure
    loader (the process imports with `yaml.__with_libyaml__` off), alternated.

`--clock cpu` times with this thread's CPU time instead of the wall clock: on a shared, busy
machine that is what an idle one would show (the replay is single-threaded; the wall clock also
counts the time other processes had the CPU).

    python benchmarks/replay_overhead.py [--rounds 15] [--samples 5] [--clock wall|cpu]
        [--skip-replay] [--skip-collection]
"""

from __future__ import annotations

import argparse
import contextlib
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from unittest import mock

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx2  # noqa: E402

from foundry_goldens.cassettes.player import (  # noqa: E402
    load_cassette,
    replay_vcr,
)
from foundry_goldens.config import active  # noqa: E402
from foundry_goldens.goldens.dialogues import Dialogue, load_dialogues  # noqa: E402
from foundry_goldens.replay.replayer import recorded_agent, replay_environment  # noqa: E402
from foundry_goldens.replay.session import ReplaySession, forget_session_caches  # noqa: E402
from foundry_goldens.snippet.driver import drive_dialogue  # noqa: E402
from foundry_goldens.snippet.loader import load_integration  # noqa: E402
from tests.paths import CASSETTE_DIR, DIALOGUE_DIR  # noqa: E402

sys.path.insert(0, str(ROOT / "benchmarks"))
from replay_speed import whole_path  # noqa: E402

CLOCKS = {"wall": time.perf_counter, "cpu": time.thread_time}
clock = CLOCKS["wall"]  # set by main
CLOCK_NAME = {function: name for name, function in CLOCKS.items()}
TARGET_WHOLE = 1.35  # (a): whole golden path / run_inference over the trivial transport
TARGET_COLLECTION_MS = 1.0  # (c): per dialogue, with libyaml
SYNTHETIC = 500


def _median_range(values: list[float]) -> str:
    return f"{statistics.median(values):.3f} ({min(values):.3f}-{max(values):.3f})"


# -- (a) and (b) -----------------------------------------------------------------------------


class Recorded:
    """A dialogue's recorded responses, as plain data ready to become httpx2 responses."""

    def __init__(self, dialogue: Dialogue) -> None:
        cassette = load_cassette(replay_vcr(), CASSETTE_DIR / f"{dialogue.name}.json")
        self.responses = [
            (
                int(response["status"]["code"]),
                [(name, value) for name, values in response["headers"].items() for value in values],
                response["body"]["string"],
            )
            for _, response in cassette.data
        ]
        self.agent = dialogue.agent or recorded_agent(cassette) or active().agent or "agent"


@contextlib.contextmanager
def trivial_transport(queue: list[Any]) -> Iterator[None]:
    """Every httpx2 request answered by the next recorded response in `queue` (consumed)."""

    def handle_request(self: Any, request: httpx2.Request) -> httpx2.Response:
        status, headers, body = queue.pop(0)
        return httpx2.Response(status, headers=headers, stream=httpx2.ByteStream(body))

    with mock.patch.object(httpx2.HTTPTransport, "handle_request", handle_request):
        yield


def timing(run_inference: Any, spent: list[float], outputs: list[str]) -> Callable[..., str]:
    def timed(body: str, environment: dict[str, Any], **sample: Any) -> str:
        started = clock()
        try:
            output = str(run_inference(body, environment, **sample))
        finally:
            spent.append(clock() - started)
        outputs.append(output)
        return output

    return timed


def cassette_round(dialogues: list[Dialogue], run_inference: Any) -> tuple[float, float, list[str]]:
    """(whole path seconds, run_inference seconds inside it, outputs) over every dialogue."""
    spent: list[float] = []
    outputs: list[str] = []
    timed = timing(run_inference, spent, outputs)
    forget_session_caches()  # a new pytest session parses every cassette again
    started = clock()
    with ReplaySession() as session:
        for dialogue in dialogues:
            whole_path(dialogue, timed, session)
    return clock() - started, sum(spent), outputs


def transport_round(
    dialogues: list[Dialogue], recorded: dict[str, Recorded], run_inference: Any
) -> tuple[float, list[str]]:
    """(run_inference seconds over the trivial transport, outputs) over every dialogue."""
    spent: list[float] = []
    outputs: list[str] = []
    timed = timing(run_inference, spent, outputs)
    for dialogue in dialogues:
        queue = list(recorded[dialogue.name].responses)
        with trivial_transport(queue):
            drive_dialogue(
                dialogue,
                timed,
                replay_environment(recorded[dialogue.name].agent),
            )
        if queue:
            raise SystemExit(f"{dialogue.name}: {len(queue)} recorded responses never asked for")
    return sum(spent), outputs


# The snippet gives each tool item a fresh uuid4 of its own.
_ITEM_ID = re.compile(r'"id":"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"')


def _without_ids(output: str) -> str:
    return _ITEM_ID.sub('"id":"-"', output)


def measure_replay(rounds: int) -> dict[str, Any]:
    run_inference = load_integration().run_inference
    dialogues = load_dialogues(DIALOGUE_DIR)
    recorded = {d.name: Recorded(d) for d in dialogues}
    # Warm-up (imports, the snippet's clients), and the floor must answer what the cassette does.
    _, _, through_cassette = cassette_round(dialogues, run_inference)
    _, through_transport = transport_round(dialogues, recorded, run_inference)
    if [_without_ids(o) for o in through_cassette] != [_without_ids(o) for o in through_transport]:
        raise SystemExit("the trivial transport's outputs differ from the cassette's")
    whole: list[float] = []
    inside: list[float] = []
    floor: list[float] = []
    for number in range(rounds):
        pair: dict[str, float] = {}
        for variant in ("cassette", "transport") if number % 2 == 0 else ("transport", "cassette"):
            if variant == "cassette":
                pair["whole"], pair["inside"], _ = cassette_round(dialogues, run_inference)
            else:
                pair["floor"], _ = transport_round(dialogues, recorded, run_inference)
        whole.append(pair["whole"])
        inside.append(pair["inside"])
        floor.append(pair["floor"])
    per_dialogue = 1000 / len(dialogues)
    return {
        "dialogues": len(dialogues),
        "turns": sum(len(d.turns) for d in dialogues),
        "rounds": rounds,
        "whole_ms": [w * per_dialogue for w in whole],
        "inside_ms": [i * per_dialogue for i in inside],
        "floor_ms": [f * per_dialogue for f in floor],
        "whole_ratio": [w / f for w, f in zip(whole, floor, strict=True)],
        "inside_ratio": [i / f for i, f in zip(inside, floor, strict=True)],
    }


# -- (c) -------------------------------------------------------------------------------------

# Run in a fresh process: pytest's collection phase timed by a hook wrapper, nothing else.
COLLECT = """
import sys, time
import yaml
if sys.argv[1] == "pure":
    yaml.__with_libyaml__ = False  # read by foundry_goldens.goldens.dialogues at import
import pytest
clock = time.thread_time if sys.argv[4] == "cpu" else time.perf_counter

class Timer:
    spent = 0.0
    @pytest.hookimpl(hookwrapper=True)
    def pytest_collection(self, session):
        started = clock()
        yield
        Timer.spent = clock() - started

code = pytest.main(
    ["--collect-only", "-q", "-p", "no:cacheprovider", "--goldens-dialogues", sys.argv[2],
     sys.argv[2]],
    plugins=[Timer()],
)
from foundry_goldens.goldens import dialogues
assert dialogues.__file__.startswith(sys.argv[3]), dialogues.__file__
print("SPENT", Timer.spent, code)
"""


def synthetic_dialogues(target: Path, count: int) -> None:
    """`count` dialogues: the shipped ones in turn, each under a name of its own."""
    shipped = sorted(DIALOGUE_DIR.glob("*.yaml"))
    for number in range(count):
        source = shipped[number % len(shipped)]
        name = f"{source.stem}_{number:04d}"
        text = re.sub(
            r"^name: .*$", f"name: {name}", source.read_text("utf-8"), count=1, flags=re.M
        )
        (target / f"{name}.yaml").write_text(text, encoding="utf-8")


def collect_once(loader: str, directory: Path) -> float:
    """Milliseconds of pytest's collection phase per dialogue in `directory`."""
    result = subprocess.run(
        [sys.executable, "-c", COLLECT, loader, str(directory), str(ROOT), CLOCK_NAME[clock]],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    found = re.search(r"^SPENT (\S+) (\S+)$", result.stdout, re.M)
    if found is None or found.group(2) not in ("0", "ExitCode.OK"):
        raise SystemExit(f"collection failed:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}")
    return float(found.group(1)) * 1000 / len(list(directory.glob("*.yaml")))


def measure_collection(samples: int) -> dict[str, dict[str, list[float]]]:
    figures: dict[str, dict[str, list[float]]] = {}
    with tempfile.TemporaryDirectory() as scratch:
        shipped = Path(scratch) / "shipped"
        shutil.copytree(DIALOGUE_DIR, shipped)  # the same files, away from the rootdir's tests
        synthetic = Path(scratch) / "synthetic"
        synthetic.mkdir()
        synthetic_dialogues(synthetic, SYNTHETIC)
        for directory in (shipped, synthetic):
            figures[directory.name] = {"libyaml": [], "pure": []}
            collect_once("libyaml", directory)  # warm the file cache
            for number in range(samples):
                order = ("libyaml", "pure") if number % 2 == 0 else ("pure", "libyaml")
                for loader in order:
                    figures[directory.name][loader].append(collect_once(loader, directory))
    return figures


# -- report ----------------------------------------------------------------------------------


def report(replay: dict[str, Any] | None, collection: dict[str, Any] | None) -> bool:
    met = True
    if replay is not None:
        print(
            f"replay overhead: {replay['dialogues']} dialogues, {replay['turns']} turns, "
            f"{replay['rounds']} paired rounds (median, min-max)"
        )
        print(f"  whole golden path per dialogue:        {_median_range(replay['whole_ms'])} ms")
        print(f"  run_inference in the cassette:         {_median_range(replay['inside_ms'])} ms")
        print(f"  run_inference over trivial transport:  {_median_range(replay['floor_ms'])} ms")
        whole = statistics.median(replay["whole_ratio"])
        print(
            f"  (a) whole path / transport:  {_median_range(replay['whole_ratio'])}x "
            f"(target <= {TARGET_WHOLE}x)"
        )
        print(f"  (b) cassette / transport:    {_median_range(replay['inside_ratio'])}x")
        met = met and whole <= TARGET_WHOLE
    if collection is not None:
        print("collection per dialogue (pytest's collection phase / dialogues; median, min-max)")
        for name, loaders in collection.items():
            print(
                f"  (c) {name:9}  libyaml {_median_range(loaders['libyaml'])} ms   "
                f"pure {_median_range(loaders['pure'])} ms"
            )
        worst = max(statistics.median(loaders["libyaml"]) for loaders in collection.values())
        met = met and worst <= TARGET_COLLECTION_MS
    return met


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--samples", type=int, default=5, help="collection samples per loader")
    parser.add_argument("--clock", choices=sorted(CLOCKS), default="wall")
    parser.add_argument("--skip-collection", action="store_true")
    parser.add_argument("--skip-replay", action="store_true")
    args = parser.parse_args()
    global clock
    clock = CLOCKS[args.clock]
    print(f"clock: {args.clock}")
    replay = None if args.skip_replay else measure_replay(args.rounds)
    collection = None if args.skip_collection else measure_collection(args.samples)
    return 0 if report(replay, collection) else 1


if __name__ == "__main__":
    sys.exit(main())
