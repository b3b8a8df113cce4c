"""The canary measurement (benchmarks/canaries.py) run as it is: fake secrets planted on every
path (request, response header, tool output, reply, error body, log line, old golden), through
scripts/record.py, --check, the recorder, replay and the golden diff. Nothing may come out, in
any encoding (base64, percent-encoded in either case, JSON-escaped, \\u-escaped...)."""

from __future__ import annotations

import re
import subprocess
import sys

from benchmarks.canaries import CANARIES, PATHS
from tests.paths import PROJECT_ROOT

SCRIPT = PROJECT_ROOT / "benchmarks" / "canaries.py"
# The formats and encodings a redaction most easily misses: each is planted.
REQUIRED = {
    "Basic auth header",
    "known secret, base64",
    "known secret, %-encoded lower case",
    "known secret, \\u-escaped in JSON",
    "known secret, JSON-escaped twice",
    "known secret, + as \\u002B",
    "OpenAI project key",
    "Anthropic key",
    "password= in free text",
    "ADO.NET connection string",
}


def test_no_canary_reaches_a_file_or_an_output_line() -> None:
    assert {canary.name for canary in CANARIES} >= REQUIRED
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
    assert int(figures["canaries planted"]) == len(CANARIES) * len(PATHS) >= 28 * 8
    assert (figures["found in files"], figures["found in output"]) == ("0", "0"), done.stdout
    # The table: a row per format, planted on every path, none found; the totals end 0 0.
    rows = {
        line[: line.index("  ")]: line.split()[-3:]
        for line in done.stdout.splitlines()
        if line and not line.startswith((" ", "format", "canaries", "found"))
    }
    assert set(rows) == {canary.name for canary in CANARIES} | {"total"}
    for name, (planted, in_files, in_output) in rows.items():
        assert (in_files, in_output) == ("0", "0"), name
        assert int(planted) == (len(PATHS) if name != "total" else len(CANARIES) * len(PATHS))
    assert done.returncode == 0, done.stderr
