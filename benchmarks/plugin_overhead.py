"""What the installed pytest plugin costs a project that has no goldens.

A temporary directory with one trivial test and no [tool.foundry-goldens] table; `pytest` run
in a subprocess with the plugin (as installed: entry point pytest11) and with
`-p no:foundry-goldens`, paired and alternated (which goes first swaps every pair), after one
warm-up pair (bytecode caches). Per pair: wall time, the child's CPU time and peak memory
(maxrss; both from wait4); then, once each, the modules imported (`-X importtime`), and those only the plugin's
run imports.

    python benchmarks/plugin_overhead.py [--samples 20]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

TARGET_RATIO = 1.05  # issue 20: at most 5% over a run without the plugin
PLUGIN = "foundry-goldens"
IMPORT_LINE = re.compile(r"^import time:\s+\d+ \|\s+\d+ \|(\s*)(\S+)")


def _env() -> dict[str, str]:
    env = dict(os.environ)
    for key in ("PYTEST_ADDOPTS", "PYTEST_PLUGINS", "PYTEST_DISABLE_PLUGIN_AUTOLOAD"):
        env.pop(key, None)
    return env


def _command(with_plugin: bool, *extra: str) -> list[str]:
    disabled = [] if with_plugin else ["-p", f"no:{PLUGIN}"]
    return [sys.executable, *extra, "-m", "pytest", "-q", "-p", "no:cacheprovider", *disabled]


def run_once(project: Path, with_plugin: bool) -> tuple[float, float, int]:
    """(wall seconds, CPU seconds, peak memory in KiB) of one pytest run."""
    started = time.perf_counter()
    process = subprocess.Popen(
        _command(with_plugin),
        cwd=project,
        env=_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"pytest exited {process.returncode} in {project}")
    return seconds, usage.ru_utime + usage.ru_stime, usage.ru_maxrss  # maxrss: KiB on Linux


def imported(project: Path, with_plugin: bool) -> set[str]:
    result = subprocess.run(
        _command(with_plugin, "-X", "importtime"),
        cwd=project,
        env=_env(),
        capture_output=True,
        text=True,
        check=True,
    )
    return {m.group(2) for line in result.stderr.splitlines() if (m := IMPORT_LINE.match(line))}


@dataclass(frozen=True)
class Result:
    samples: int
    with_s: float  # medians
    without_s: float
    ratio: float
    ratio_range: tuple[float, float]
    cpu_ratio: float
    cpu_ratio_range: tuple[float, float]
    extra_kib: float
    extra_modules: list[str]


def measure(samples: int) -> Result:
    with tempfile.TemporaryDirectory(prefix="plugin-overhead-") as scratch:
        project = Path(scratch)
        (project / "test_trivial.py").write_text(
            "def test_trivial():\n    assert 1 + 1 == 2\n", encoding="utf-8"
        )
        run_once(project, True)  # warm-up: bytecode caches, the file system
        run_once(project, False)
        ratios: list[float] = []
        cpu_ratios: list[float] = []
        with_s: list[float] = []
        without_s: list[float] = []
        memory: list[int] = []
        for number in range(samples):
            order = (True, False) if number % 2 == 0 else (False, True)
            timed = {flag: run_once(project, flag) for flag in order}
            with_s.append(timed[True][0])
            without_s.append(timed[False][0])
            ratios.append(timed[True][0] / timed[False][0])
            cpu_ratios.append(timed[True][1] / timed[False][1])
            memory.append(timed[True][2] - timed[False][2])
        extra = sorted(imported(project, True) - imported(project, False))
    return Result(
        samples=samples,
        with_s=statistics.median(with_s),
        without_s=statistics.median(without_s),
        ratio=statistics.median(ratios),
        ratio_range=(min(ratios), max(ratios)),
        cpu_ratio=statistics.median(cpu_ratios),
        cpu_ratio_range=(min(cpu_ratios), max(cpu_ratios)),
        extra_kib=statistics.median(memory),
        extra_modules=extra,
    )


def report(result: Result) -> bool:
    low, high = result.ratio_range
    cpu_low, cpu_high = result.cpu_ratio_range
    extra = result.extra_modules
    print(
        f"plugin overhead: one trivial test, no goldens configured, {result.samples} "
        "alternated pairs (medians)"
    )
    print(f"  pytest with the plugin:       {result.with_s:.3f} s")
    print(f"  pytest -p no:{PLUGIN}: {result.without_s:.3f} s")
    print(f"  ratio: {result.ratio:.3f}x (pairs {low:.3f}-{high:.3f}x; target <= {TARGET_RATIO}x)")
    print(
        f"  CPU time ratio (less sensitive to a busy machine): {result.cpu_ratio:.3f}x "
        f"(pairs {cpu_low:.3f}-{cpu_high:.3f}x)"
    )
    print(f"  extra peak memory: {result.extra_kib / 1024:+.1f} MiB")
    print(f"  extra modules imported: {len(extra)}" + (f" ({', '.join(extra)})" if extra else ""))
    return result.ratio <= TARGET_RATIO


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--samples", type=int, default=20)
    args = parser.parse_args()
    return 0 if report(measure(args.samples)) else 1


if __name__ == "__main__":
    sys.exit(main())
