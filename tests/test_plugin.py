"""The pytest plugin in a project of its own (a subprocess in tmp_path, as a team runs it):
one golden test per dialogue, its options in one group, syrupy's --snapshot-update, orphans,
and configuration errors."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from foundry_goldens.goldens.dialogues import load_dialogue
from foundry_goldens.goldens.held import METADATA_KEY, dialogue_digests
from tests.paths import CASSETTE_DIR, DIALOGUE_DIR, INTEGRATION_PATH, SNAPSHOT_DIR


def make_project(root: Path, *names: str, table: str = "") -> Path:
    for sub in ("specs", "snaps", "tapes"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    for name in names:
        shutil.copyfile(DIALOGUE_DIR / f"{name}.yaml", root / "specs" / f"{name}.yaml")
        shutil.copyfile(SNAPSHOT_DIR / f"{name}.json", root / "snaps" / f"{name}.json")
        shutil.copyfile(CASSETTE_DIR / f"{name}.json", root / "tapes" / f"{name}.json")
    (root / "pyproject.toml").write_text(
        "[tool.foundry-goldens]\n"
        f"snippet = '{INTEGRATION_PATH}'\n"
        'dialogues = "specs"\nsnapshots = "snaps"\ncassettes = "tapes"\n' + table,
        encoding="utf-8",
    )
    return root


def pytest_in(root: Path, *args: str, **environment: str) -> subprocess.CompletedProcess[str]:
    """pytest in `root` in a subprocess, without the caller's Azure and foundry-goldens
    settings (`environment` adds some) or PYTEST_ADDOPTS."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AZURE_", "FOUNDRY_"))}
    env.pop("PYTEST_ADDOPTS", None)
    env.update(environment)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_its_options_are_one_group_in_pytest_help(tmp_path: Path) -> None:
    result = pytest_in(make_project(tmp_path), "--help")
    assert result.returncode == 0, result.stderr
    group = result.stdout.split("foundry-goldens: replay the golden dialogues offline:")[1]
    group = group.split("\n\n")[0]
    for option in ("--goldens-root", "--goldens-config", "--goldens-snippet",
                   "--goldens-dialogues", "--goldens-snapshots", "--goldens-cassettes",
                   "--goldens-agent", "--no-goldens",
                   "--goldens-recheck-expectations"):  # fmt: skip
        assert option in group
    assert "--snapshot-update" in result.stdout  # syrupy's own, not the plugin's


def test_plain_pytest_replays_each_dialogue_with_no_test_file(tmp_path: Path) -> None:
    root = make_project(tmp_path, "greeting", "order_lookup")
    result = pytest_in(root, "-v")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "specs/greeting.yaml::test_golden[greeting] PASSED" in result.stdout
    assert "specs/order_lookup.yaml::test_golden[order_lookup] PASSED" in result.stdout
    assert "every_golden_has_its_dialogue PASSED" in result.stdout
    assert "2 snapshots passed" in result.stdout


PATCH_PROBE = """
import http.client

import httpx2

ORIGINAL = httpx2.HTTPTransport.handle_request, http.client.HTTPConnection.request


def test_{name}() -> None:
    # vcrpy's patches are on only while golden tests run, never under a team's own tests.
    assert (httpx2.HTTPTransport.handle_request, http.client.HTTPConnection.request) == ORIGINAL
"""


def test_replay_patches_once_for_the_golden_run_and_never_under_other_tests(
    tmp_path: Path,
) -> None:
    root = make_project(tmp_path, "greeting", "order_lookup", "approval_return")
    (root / "a_first").mkdir()
    (root / "a_first" / "test_before.py").write_text(PATCH_PROBE.format(name="before"), "utf-8")
    (root / "test_zz_after.py").write_text(PATCH_PROBE.format(name="after"), "utf-8")
    result = pytest_in(root, "-v", "-p", "no:randomly")
    assert result.returncode == 0, result.stdout + result.stderr
    order = [line.split(" ")[0] for line in result.stdout.splitlines() if " PASSED" in line]
    assert order == [
        "a_first/test_before.py::test_before",
        "specs/approval_return.yaml::test_golden[approval_return]",
        "specs/greeting.yaml::test_golden[greeting]",
        "specs/order_lookup.yaml::test_golden[order_lookup]",
        "specs::every_golden_has_its_dialogue",
        "test_zz_after.py::test_after",
    ], result.stdout
    # Only the golden tests themselves run under the patches (a failing one included).
    failing = root / "snaps" / "greeting.json"
    failing.write_text(failing.read_text("utf-8").replace("Contoso", "Fabrikam"), "utf-8")
    result = pytest_in(root, "-v", "-p", "no:randomly")
    assert "test_golden[greeting] FAILED" in result.stdout
    assert "test_zz_after.py::test_after PASSED" in result.stdout, result.stdout


def test_a_changed_snapshot_fails_and_snapshot_update_restores_it(tmp_path: Path) -> None:
    root = make_project(tmp_path, "greeting")
    snapshot = root / "snaps" / "greeting.json"
    snapshot.write_text(snapshot.read_text("utf-8").replace("Contoso", "Fabrikam"), "utf-8")
    failed = pytest_in(root)
    assert failed.returncode == 1
    assert "greeting: the output changed against" in failed.stdout
    updated = pytest_in(root, "--snapshot-update")
    assert updated.returncode == 0, updated.stdout
    assert snapshot.read_bytes() == (SNAPSHOT_DIR / "greeting.json").read_bytes()


def test_orphans_are_reported_and_snapshot_update_deletes_the_snapshot(tmp_path: Path) -> None:
    root = make_project(tmp_path, "greeting")
    shutil.copyfile(SNAPSHOT_DIR / "order_lookup.json", root / "snaps" / "order_lookup.json")
    shutil.copyfile(CASSETTE_DIR / "order_lookup.json", root / "tapes" / "order_lookup.json")
    result = pytest_in(root)
    assert result.returncode == 1
    assert "golden files without a dialogue" in result.stdout
    assert str(root / "tapes" / "order_lookup.json") in result.stdout
    assert "1 snapshot unused" in result.stdout  # syrupy's report, through the extension
    pytest_in(root, "--snapshot-update")
    assert not (root / "snaps" / "order_lookup.json").exists()


def test_command_line_options_override_the_table(tmp_path: Path) -> None:
    root = make_project(tmp_path, "greeting")
    elsewhere = tmp_path / "other"
    elsewhere.mkdir()
    shutil.copyfile(DIALOGUE_DIR / "non_ascii.yaml", elsewhere / "non_ascii.yaml")
    shutil.copyfile(SNAPSHOT_DIR / "non_ascii.json", root / "snaps" / "non_ascii.json")
    shutil.copyfile(CASSETTE_DIR / "non_ascii.json", root / "tapes" / "non_ascii.json")
    (root / "snaps" / "greeting.json").unlink()
    (root / "tapes" / "greeting.json").unlink()
    result = pytest_in(root, "-v", "--goldens-dialogues", str(elsewhere), str(elsewhere))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "test_golden[non_ascii] PASSED" in result.stdout
    assert "greeting" not in result.stdout


def test_a_project_without_the_table_is_left_alone(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.other]\n", encoding="utf-8")
    (tmp_path / "test_mine.py").write_text("def test_mine():\n    pass\n", encoding="utf-8")
    result = pytest_in(tmp_path, "-v")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout and "test_golden" not in result.stdout


def test_a_bad_table_is_a_usage_error_naming_key_and_file(tmp_path: Path) -> None:
    root = make_project(tmp_path, table='snapshot = "typo"\n')
    result = pytest_in(root)
    assert result.returncode == 4  # pytest's usage error
    assert f"[tool.foundry-goldens] snapshot in {root / 'pyproject.toml'}: unknown key" in (
        result.stderr
    )


def test_goldens_root_points_at_a_project_from_elsewhere(tmp_path: Path) -> None:
    root = make_project(tmp_path / "project", "greeting")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    result = pytest_in(elsewhere, "-v", "--goldens-root", str(root), str(root / "specs"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "test_golden[greeting] PASSED" in result.stdout


def test_recheck_expectations_checks_what_the_cassette_records_as_held(tmp_path: Path) -> None:
    """A turn whose digest the cassette records is not checked again, unless asked: a digest
    written for a block that does not hold (by hand) passes, and fails with the option."""
    root = make_project(tmp_path, "greeting")
    spec = root / "specs" / "greeting.yaml"
    spec.write_text(
        spec.read_text("utf-8").replace(
            'reply_contains: ["Contoso Retail support assistant"]',
            'reply_contains: ["Fabrikam"]',
        ),
        encoding="utf-8",
    )
    tape = root / "tapes" / "greeting.json"
    cassette = json.loads(tape.read_text("utf-8"))
    snapshot = json.loads((root / "snaps" / "greeting.json").read_text("utf-8"))
    cassette["metadata"][METADATA_KEY] = dialogue_digests(load_dialogue(spec), snapshot)
    tape.write_text(json.dumps(cassette, indent=2) + "\n", encoding="utf-8")

    assert pytest_in(root).returncode == 0
    rechecked = pytest_in(root, "--goldens-recheck-expectations")
    assert rechecked.returncode == 1, rechecked.stdout
    assert "expect.reply_contains: 'Fabrikam' not in the reply" in rechecked.stdout
