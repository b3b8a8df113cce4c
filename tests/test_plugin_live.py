"""FOUNDRY_GOLDENS_MODE: the golden tests drive each dialogue anew (here on the emulator, over
real loopback HTTP) and judge it as `foundry-goldens record --check` does, writing nothing."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import pytest

from tests.test_plugin import make_project, pytest_in


def pytest_mode(root: Path, mode: str, *args: str) -> subprocess.CompletedProcess[str]:
    return pytest_in(root, "-rN", *args, FOUNDRY_GOLDENS_MODE=mode, COLUMNS="200")


def digest_tree(root: Path) -> dict[str, str]:
    return {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file() and "__pycache__" not in path.parts
    }


def test_emulator_mode_checks_every_dialogue_and_writes_nothing(tmp_path: Path) -> None:
    root = make_project(tmp_path, "greeting", "order_lookup")
    before = digest_tree(root)
    # pytest-recording's network block (when installed) does not reach the golden tests.
    extra = ("--block-network",) if _has_pytest_recording() else ()
    result = pytest_mode(root, "emulator", "-v", *extra)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "FOUNDRY_GOLDENS_MODE=emulator" in result.stdout  # the header says what runs
    assert "specs/greeting.yaml::test_golden[greeting] PASSED" in result.stdout
    assert "specs/order_lookup.yaml::test_golden[order_lookup] PASSED" in result.stdout
    assert digest_tree(root) == before  # no cassette, snapshot or staging directory written


def test_a_reworded_reply_is_information_not_a_failure(tmp_path: Path) -> None:
    root = make_project(tmp_path, "greeting")
    snapshot = root / "snaps" / "greeting.json"
    snapshot.write_text(
        snapshot.read_text("utf-8").replace("Contoso Retail support assistant", "Retail helper"),
        encoding="utf-8",
    )
    result = pytest_mode(root, "emulator")
    assert result.returncode == 0, result.stdout + result.stderr
    information = result.stdout.split("live check: wording and usage (information)")[1]
    assert "greeting (reworded)" in information
    assert "turn 1 [wording]" in information
    assert "[-helper.-]{+support assistant.+}" in information  # the reply's word diff


def test_a_broken_expectation_is_a_behaviour_change_that_fails(tmp_path: Path) -> None:
    root = make_project(tmp_path, "greeting", "order_lookup")
    spec = root / "specs" / "greeting.yaml"
    spec.write_text(
        spec.read_text("utf-8").replace(
            'reply_contains: ["Contoso Retail support assistant"]', 'reply_contains: ["Fabrikam"]'
        ),
        encoding="utf-8",
    )
    result = pytest_mode(root, "emulator", "-v")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "test_golden[order_lookup] PASSED" in result.stdout
    failure = result.stdout.split("test_golden[greeting] ___")[1]
    assert "greeting: the agent's behaviour changed against" in failure
    assert "greeting (changed)" in failure
    assert "[behaviour]" in failure and "Fabrikam" in failure
    assert "record --emulator --only greeting" in failure
    assert "pytest_goldens.py" not in failure  # the explanation, not the harness's frames


def test_an_unknown_mode_is_a_usage_error_naming_the_allowed_values(tmp_path: Path) -> None:
    root = make_project(tmp_path, "greeting")
    result = pytest_mode(root, "recorded")
    assert result.returncode == 4  # pytest's usage error
    assert "FOUNDRY_GOLDENS_MODE='recorded': unknown mode" in result.stderr
    assert "allowed: replay, live, emulator" in result.stderr


def test_live_mode_without_live_settings_is_a_usage_error(tmp_path: Path) -> None:
    root = make_project(tmp_path, "greeting")
    result = pytest_mode(root, "live")
    assert result.returncode == 4
    assert "FOUNDRY_GOLDENS_MODE=live: nothing to record against" in result.stderr
    assert "AZURE_AI_PROJECT_ENDPOINT" in result.stderr


def test_a_live_check_refuses_snapshot_update(tmp_path: Path) -> None:
    root = make_project(tmp_path, "greeting")
    result = pytest_mode(root, "emulator", "--snapshot-update")
    assert result.returncode == 4
    assert "writes nothing: --snapshot-update does not apply" in result.stderr


def test_replay_is_the_default_and_spelled_out_too(tmp_path: Path) -> None:
    root = make_project(tmp_path, "greeting")
    result = pytest_mode(root, "replay", "-v")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "replayed offline from their cassettes" in result.stdout


def _has_pytest_recording() -> bool:
    try:
        import pytest_recording  # noqa: F401
    except ImportError:
        return False
    return True


pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")
