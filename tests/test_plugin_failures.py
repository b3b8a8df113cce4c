"""A failing golden test reads as the harness's explanation in a few lines: the dialogue, the
turn, what changed and the one command that fixes it, with advice right for the cause; no
harness frames, no chained repeats (`--tb=long` and `--full-trace` show them). And the orphan
check follows syrupy's --snapshot-warn-unused."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.paths import CASSETTE_DIR, INTEGRATION_PATH, SNAPSHOT_DIR
from tests.test_plugin import make_project, pytest_in

HARNESS_FILES = ("plugin.py", "pytest_goldens.py", "replayer.py", "driver.py", "_pytest")


def run(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # -rN: no short summary, whose lines are cut to the terminal's width.
    return pytest_in(root, "-rN", *args, COLUMNS="100")


def two_failing(root: Path) -> Path:
    """greeting's committed reply reworded; order_lookup's turn 2 user text changed."""
    make_project(root, "greeting", "order_lookup")
    snapshot = root / "snaps" / "greeting.json"
    snapshot.write_text(
        snapshot.read_text("utf-8").replace("Contoso Retail support assistant", "Retail helper"),
        encoding="utf-8",
    )
    spec = root / "specs" / "order_lookup.yaml"
    spec.write_text(
        spec.read_text("utf-8").replace("My email is ana@example.com", "My e-mail is ana@x.com"),
        encoding="utf-8",
    )
    return root


def failures_section(stdout: str) -> str:
    return stdout.split(" FAILURES ")[1].split("snapshot report summary")[0]


def test_two_failing_dialogues_are_their_explanations_alone(tmp_path: Path) -> None:
    result = run(two_failing(tmp_path))
    assert result.returncode == 1, result.stdout + result.stderr
    failures = failures_section(result.stdout)
    # Headers as pytest names a test function; no dotted path of the directories.
    assert re.search(r"^_+ test_golden\[greeting\] _+$", failures, re.MULTILINE), failures
    assert re.search(r"^_+ test_golden\[order_lookup\] _+$", failures, re.MULTILINE), failures
    assert ".specs." not in result.stdout
    for name in HARNESS_FILES:
        assert name not in failures, name
    # Each explanation once: no chained exception repeating it.
    assert failures.count("the user text changed since recording") == 1
    assert failures.count("greeting: the output changed against") == 1
    assert "The above exception was the direct cause" not in failures
    assert "[-Retail helper.-]" in failures or "[-helper.-]" in failures  # the word diff
    assert "--snapshot-update -k greeting" in failures  # the command that accepts it
    assert "record --emulator --only order_lookup" in failures  # the one that re-records
    assert len(result.stdout.splitlines()) <= 40, result.stdout


@pytest.mark.parametrize("option", ["--tb=long", "--full-trace"])
def test_the_long_traceback_is_one_option_away(tmp_path: Path, option: str) -> None:
    result = run(two_failing(tmp_path), option)
    assert result.returncode == 1
    failures = failures_section(result.stdout)
    assert "replayer.py" in failures  # the harness's frames
    assert "the user text changed since recording" in failures


def test_the_node_ids_are_the_dialogue_files(tmp_path: Path) -> None:
    result = run(two_failing(tmp_path), "--collect-only", "-q")
    assert "specs/greeting.yaml::test_golden[greeting]" in result.stdout
    assert "specs/order_lookup.yaml::test_golden[order_lookup]" in result.stdout


def test_a_snippet_that_drops_the_conversation_is_told_to_fix_the_snippet(tmp_path: Path) -> None:
    """Without the conversation_id echo (and without its memory of the chat) the snippet starts
    a new conversation on turn 2: re-recording would fail the same check."""
    root = make_project(
        tmp_path, "greeting", table='replay-env = { FOUNDRY_CONVERSATION_MEMORY = "0" }\n'
    )
    snippet = root / "run_inference.py"
    text = INTEGRATION_PATH.read_text("utf-8")
    echo = "conversation_id=_latest_conversation_id(messages),"
    assert text.count(echo) == 1
    snippet.write_text(text.replace(echo, 'conversation_id="",'), encoding="utf-8")
    pyproject = root / "pyproject.toml"
    pyproject.write_text(
        pyproject.read_text("utf-8").replace(str(INTEGRATION_PATH), str(snippet)), "utf-8"
    )
    result = run(root)
    assert result.returncode == 1, result.stdout + result.stderr
    failure = failures_section(result.stdout)
    assert "greeting, turn 2: the snippet started a new conversation" in failure
    assert "fix the snippet" in failure
    assert "re-record it:" not in failure


def test_a_snippet_that_raises_says_where_in_one_line(tmp_path: Path) -> None:
    root = make_project(
        tmp_path, "greeting", table='replay-env = { FOUNDRY_MCP_APPROVAL = "sometimes" }\n'
    )
    result = run(root)
    assert result.returncode == 1, result.stdout + result.stderr
    failure = failures_section(result.stdout)
    assert "greeting, turn 1: ValueError: FOUNDRY_MCP_APPROVAL must be" in failure
    assert re.search(r"\(ValueError raised at run_inference\.py:\d+; --tb=long", failure)
    assert "Traceback" not in failure and "replayer.py" not in failure


def orphaned(root: Path) -> Path:
    make_project(root, "greeting")
    shutil.copyfile(SNAPSHOT_DIR / "order_lookup.json", root / "snaps" / "order_lookup.json")
    shutil.copyfile(CASSETTE_DIR / "order_lookup.json", root / "tapes" / "order_lookup.json")
    return root


def test_orphans_fail_the_run_in_a_few_lines(tmp_path: Path) -> None:
    result = run(orphaned(tmp_path))
    assert result.returncode == 1
    failure = failures_section(result.stdout)
    assert "golden files without a dialogue" in failure
    assert "pytest_goldens.py" not in failure


def test_snapshot_warn_unused_makes_orphans_a_warning(tmp_path: Path) -> None:
    root = orphaned(tmp_path)
    result = run(root, "--snapshot-warn-unused", "-rw")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "every_golden_has_its_dialogue" in result.stdout
    warnings = result.stdout.split("warnings summary")[1]
    assert "golden files without a dialogue" in warnings
    assert str(root / "tapes" / "order_lookup.json") in warnings
    assert "1 snapshot unused" in result.stdout  # syrupy's own report, warned too
    assert (root / "tapes" / "order_lookup.json").exists()  # warned about, not deleted
