"""Live recording through the local sign-in, under concurrency: failures and lost requests.

Every shipped dialogue is recorded end to end (cassettes, leak scan, snapshots by replay) into
a temporary directory, never the repository's goldens, as `foundry-goldens record --emulator`
does, but harder on the sign-in: each dialogue's emulator has an Entra ID stand-in of its own
(the recorder's run shares one), so each dialogue's snippet signs in with a real
`ClientSecretCredential` over TLS, concurrently with the others' traffic, then talks to the
emulator. 20 runs at each of concurrency 1, 4 and 15 (the model's rate_limit).

Per level it reports dialogues that failed (target: 0) and requests that reached the server
unrecorded (target: 0): those the recorder caught (it fails the dialogue and says how many),
plus, counted apart from the recorder's check, those missing from a written cassette: the
requests its emulator answered minus the interactions it holds (no fault is injected, so no
answered request is a dropped retry).

    python benchmarks/signin_stress.py [--runs 20] [--levels 1 4 15] [--patch-every-transport]

`--patch-every-transport` records with vcrpy's patches on every HTTP library (so each
sign-in's `force_reset` unpatches the process, which the recorder avoids): it shows what the
figures catch.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from foundry_goldens.cassettes.router import ThreadCassetteRouter
from foundry_goldens.emulator import EmulatorStats
from foundry_goldens.emulator.entra import TOKEN_ROUTE
from foundry_goldens.goldens.dialogues import Dialogue, load_dialogues
from foundry_goldens.recording.progress import DialogueOutcome, SilentProgress
from foundry_goldens.recording.recorder import RecordOptions, record_dialogues
from foundry_goldens.recording.targets import EmulatorTarget, Session
from tests.paths import DIALOGUE_DIR

LEVELS = (1, 4, 15)


class WatchedTarget:
    """EmulatorTarget, keeping each dialogue's final emulator counters."""

    description = "local Foundry emulator with sign-in"

    def __init__(self) -> None:
        self._inner = EmulatorTarget()
        self._lock = threading.Lock()
        self.stats: dict[str, EmulatorStats] = {}

    @contextlib.contextmanager
    def session(self, dialogue: Dialogue) -> Iterator[Session]:
        try:
            with self._inner.session(dialogue) as session:
                yield session
        finally:
            assert session.server_stats is not None
            with self._lock:
                self.stats[dialogue.name] = session.server_stats()


# How the recorder words it (foundry_goldens/recording/recorder.py) when it fails a dialogue for this.
CAUGHT = re.compile(r"(\d+) request\(s\) reached the server without being recorded")


def record_once(
    dialogues: list[Dialogue], concurrency: int
) -> tuple[list[DialogueOutcome], int, int, int]:
    """One recording run: outcomes, unrecorded requests the recorder caught, answered requests
    missing from a written cassette, sign-ins."""
    with tempfile.TemporaryDirectory(prefix="signin-stress-") as scratch:
        root = Path(scratch)
        target = WatchedTarget()
        options = RecordOptions(root / "cassettes", root / "snapshots", concurrency=concurrency)
        outcomes = record_dialogues(dialogues, target, options, SilentProgress())
        caught = sum(int(m[1]) for o in outcomes if (m := CAUGHT.search(o.detail)))
        unrecorded = 0
        for outcome in outcomes:
            cassette = root / "cassettes" / f"{outcome.name}.json"
            if outcome.ok and cassette.is_file():
                served = sum(target.stats[outcome.name].requests.values())
                interactions = len(json.loads(cassette.read_text(encoding="utf-8"))["interactions"])
                unrecorded += max(0, served - interactions)
        sign_ins = sum(stats.sign_in.get(TOKEN_ROUTE, 0) for stats in target.stats.values())
        return outcomes, caught, unrecorded, sign_ins


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20, help="runs per level (default 20)")
    parser.add_argument("--levels", type=int, nargs="+", default=list(LEVELS))
    parser.add_argument("--patch-every-transport", action="store_true")
    args = parser.parse_args()
    if args.patch_every_transport:
        ThreadCassetteRouter.skip_patchers = ()
    dialogues = load_dialogues(DIALOGUE_DIR)
    record_once(dialogues, max(args.levels))  # warm-up: imports, caches, thread pools
    print(
        f"recording {len(dialogues)} shipped dialogues through the local sign-in, "
        f"{args.runs} runs per level"
        + (" (every transport patched, as before the fix)" if args.patch_every_transport else "")
    )
    worst = 0
    for level in args.levels:
        failures = caught = unrecorded = sign_ins = 0
        reasons: Counter[str] = Counter()
        started = time.perf_counter()
        for _ in range(args.runs):
            outcomes, seen_lost, lost, signed = record_once(dialogues, level)
            failed = [o for o in outcomes if not o.ok]
            failures += len(failed)
            caught += seen_lost
            unrecorded += lost
            sign_ins += signed
            reasons.update(o.detail.split(":", 1)[-1].strip()[:90] for o in failed)
        seconds = (time.perf_counter() - started) / args.runs
        print(
            f"  concurrency {level:2d}: {failures:3d} of {args.runs * len(dialogues)} dialogues "
            f"failed, {caught + unrecorded} requests reached the server unrecorded "
            f"({caught} caught by the recorder, {unrecorded} missing from written cassettes; "
            f"{sign_ins} sign-ins, {seconds:.2f} s per run)"
        )
        for reason, count in reasons.most_common(3):
            print(f"      {count} x {reason}")
        if failures or caught or unrecorded:
            worst = 1
    print("  target: 0 failures and 0 unrecorded requests at every level")
    return worst


if __name__ == "__main__":
    sys.exit(main())
