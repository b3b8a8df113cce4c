"""`make bench`: every benchmark in one run, each printing its figures and ratios."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHMARKS = (
    "client_reuse.py",
    "replay_speed.py",
    "replay_overhead.py",
    "record_concurrency.py",
    "signin_stress.py",
    "canaries.py",
    "emulator_long_turn.py",
    "live_variation.py",
    "aigo_conversations.py",
    "plugin_overhead.py",
)


def main() -> int:
    worst = 0
    for name in BENCHMARKS:
        print(f"== {name}", flush=True)
        worst = max(
            worst, subprocess.run([sys.executable, str(HERE / name)], check=False).returncode
        )
    return worst


if __name__ == "__main__":
    sys.exit(main())
