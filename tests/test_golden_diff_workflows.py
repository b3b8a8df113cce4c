"""The GitHub workflows cannot run here, so they are checked against GitHub's workflow schema
(bundled with check-jsonschema, no network) and for the few things the review flow relies on."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = ROOT / ".github" / "workflows"
CHECK_JSONSCHEMA = Path(sys.executable).parent / "check-jsonschema"


def check_workflow(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CHECK_JSONSCHEMA), "--builtin-schema", "vendor.github-workflows", str(path)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def load(name: str) -> dict[Any, Any]:
    data = yaml.safe_load((WORKFLOWS / name).read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def steps(workflow: dict[Any, Any]) -> list[dict[str, Any]]:
    (job,) = workflow["jobs"].values()
    return list(job["steps"])


@pytest.mark.parametrize("name", ["goldens.yml", "goldens-drift.yml"])
def test_workflow_matches_github_schema(name: str) -> None:
    completed = check_workflow(WORKFLOWS / name)
    assert completed.returncode == 0, completed.stdout + completed.stderr


def test_schema_check_catches_a_broken_workflow(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text("on: pull_request\njobs:\n  x:\n    runs-on: ubuntu-latest\n    stepz: []\n")
    assert check_workflow(broken).returncode != 0


def test_pull_request_workflow_replays_and_posts_one_comment() -> None:
    workflow = load("goldens.yml")
    assert "pull_request" in workflow[True]  # PyYAML reads the key `on` as True
    assert workflow["permissions"]["pull-requests"] == "write"
    by_name = {step.get("uses", "").split("@")[0]: step for step in steps(workflow)}
    assert by_name["actions/checkout"]["with"]["fetch-depth"] == 0
    assert by_name["actions/setup-python"]["with"]["python-version"] == "3.11"
    runs = "\n".join(step.get("run", "") for step in steps(workflow))
    assert "make test" in runs
    assert '.venv/bin/python scripts/golden_diff.py --base "origin/$BASE_REF"' in runs
    script = by_name["actions/github-script"]["with"]["script"]
    assert "<!-- golden-diff -->" in script and "updateComment" in script


def test_drift_workflow_checks_the_live_agent_with_secrets() -> None:
    workflow = load("goldens-drift.yml")
    assert {"workflow_dispatch", "schedule"} <= set(workflow[True])
    (check,) = [
        step
        for step in steps(workflow)
        if "python scripts/record.py --check" in step.get("run", "")
    ]
    assert ".venv/bin/python scripts/record.py --check" in check["run"]
    for secret in (
        "AZURE_AI_PROJECT_ENDPOINT",
        "AZURE_FOUNDRY_AGENT_NAME",
        "AZURE_TENANT_ID",
        "AZURE_CLIENT_ID",
        "AZURE_CLIENT_SECRET",
    ):
        assert check["env"][secret] == "${{ secrets." + secret + " }}"
    runs = "\n".join(step.get("run", "") for step in steps(workflow))
    assert "$GITHUB_STEP_SUMMARY" in runs
    assert any(
        step.get("uses", "").startswith("actions/upload-artifact") for step in steps(workflow)
    )
