"""The canary measurement (benchmarks/canaries.py) run as it is: fake secrets planted on every
path (request, response header, tool output, reply, error body, log line, old golden), through
scripts/record.py, --check, the recorder, replay and the golden diff. Nothing may come out."""

from __future__ import annotations

import re
import subprocess
import sys

from tests.paths import PROJECT_ROOT

SCRIPT = PROJECT_ROOT / "benchmarks" / "canaries.py"


def test_no_canary_reaches_a_file_or_an_output_line() -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=PROJECT_ROOT,
    )
    figures = dict(re.findall(r"^(canaries planted|found in files|found in output):\s+(\d+)",
                              done.stdout, re.MULTILINE))  # fmt: skip
    assert figures, f"no figures printed:\n{done.stdout}\n{done.stderr}"
    assert int(figures["canaries planted"]) == 18 * 8
    assert (figures["found in files"], figures["found in output"]) == ("0", "0"), done.stdout
    assert done.returncode == 0, done.stderr
