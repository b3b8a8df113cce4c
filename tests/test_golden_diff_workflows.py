"""The GitHub workflows cannot run here, so they are checked against GitHub's workflow schema
(bundled with check-jsonschema, no network) and for the few things the review flow relies on;
the PR comment's script runs under node against an in-memory stand-in for GitHub's issues API."""

from __future__ import annotations

import json
import re
import shutil
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
    assert (
        '.venv/bin/python scripts/golden_diff.py --base "origin/$BASE_REF" --fail-on-change' in runs
    )
    comment = by_name["actions/github-script"]
    assert comment["env"]["CHANGED"] == "${{ steps.diff.outputs.changed }}"
    assert "steps.diff.outputs.changed == 'true'" in comment["if"]


def test_drift_workflow_signs_in_with_oidc_and_falls_back_to_the_client_secret() -> None:
    workflow = load("goldens-drift.yml")
    assert {"workflow_dispatch", "schedule"} <= set(workflow[True])
    assert workflow["permissions"]["id-token"] == "write"
    (job,) = workflow["jobs"].values()
    assert job["env"]["USE_CLIENT_SECRET"] == "${{ secrets.AZURE_CLIENT_SECRET != '' }}"
    (login,) = [s for s in steps(workflow) if s.get("uses", "").startswith("azure/login@")]
    assert login["if"] == "${{ env.USE_CLIENT_SECRET != 'true' }}"
    assert login["with"] == {
        "client-id": "${{ vars.AZURE_CLIENT_ID }}",
        "tenant-id": "${{ vars.AZURE_TENANT_ID }}",
        "subscription-id": "${{ vars.AZURE_SUBSCRIPTION_ID }}",
    }
    names = [s.get("name", s.get("uses", "")) for s in steps(workflow)]
    (check,) = [
        step
        for step in steps(workflow)
        if "python scripts/record.py --check" in step.get("run", "")
    ]
    assert names.index(login["name"]) < names.index(check["name"])
    assert ".venv/bin/python scripts/record.py --check" in check["run"]
    # Empty with OIDC: the snippet then takes DefaultAzureCredential (the Azure CLI session).
    assert check["env"]["AZURE_CLIENT_SECRET"] == "${{ secrets.AZURE_CLIENT_SECRET }}"
    for name in ("AZURE_AI_PROJECT_ENDPOINT", "AZURE_FOUNDRY_AGENT_NAME"):
        assert check["env"][name] == "${{ secrets." + name + " }}"
    for name in ("AZURE_TENANT_ID", "AZURE_CLIENT_ID"):
        assert check["env"][name] == "${{ vars." + name + " }}"
    runs = "\n".join(step.get("run", "") for step in steps(workflow))
    assert "$GITHUB_STEP_SUMMARY" in runs
    assert any(
        step.get("uses", "").startswith("actions/upload-artifact") for step in steps(workflow)
    )


@pytest.mark.parametrize("name", ["goldens.yml", "goldens-drift.yml"])
def test_actions_are_pinned_by_commit_and_installs_keyed_on_the_lock(name: str) -> None:
    text = (WORKFLOWS / name).read_text(encoding="utf-8")
    uses = re.findall(r"^\s*(?:- )?uses: (\S+)(.*)$", text, flags=re.MULTILINE)
    assert uses
    for action, comment in uses:
        assert re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", action), action
        assert re.fullmatch(r" # v\d+\.\d+\.\d+", comment), f"{action}: tag comment {comment!r}"
    (python,) = [
        s for s in steps(load(name)) if s.get("uses", "").startswith("actions/setup-python@")
    ]
    assert python["with"]["cache-dependency-path"] == "constraints.txt"
    (checkout,) = [
        s for s in steps(load(name)) if s.get("uses", "").startswith("actions/checkout@")
    ]
    assert checkout["with"]["persist-credentials"] is False
    assert "make setup" in "\n".join(s.get("run", "") for s in steps(load(name)))


# The github-script step's script, run as github-script runs it (an async function body given
# `require`, `github` and `context`), against comments kept in memory.
NODE_HARNESS = """
const calls = [];
const comments = JSON.parse(process.env.COMMENTS);
const github = {
  paginate: async (method, params) => method(params),
  rest: { issues: {
    listComments: async () => comments,
    createComment: async ({ issue_number, body }) => calls.push(['create', issue_number, body]),
    updateComment: async ({ comment_id, body }) => calls.push(['update', comment_id, body]),
    deleteComment: async ({ comment_id }) => calls.push(['delete', comment_id]),
  } },
};
const context = { repo: { owner: 'o', repo: 'r' }, issue: { number: 7 } };
const script = new (Object.getPrototypeOf(async () => {}).constructor)(
  'require', 'github', 'context', process.env.SCRIPT);
script(require, github, context).then(() => console.log(JSON.stringify(calls)));
"""
MARKER = "<!-- golden-diff -->"
BOT = {"type": "Bot"}


def comment_calls(tmp_path: Path, changed: str, comments: list[dict[str, Any]]) -> list[Any]:
    node = shutil.which("node")
    assert node, "node is needed to run the PR workflow's github-script"
    by_name = {step.get("uses", "").split("@")[0]: step for step in steps(load("goldens.yml"))}
    (tmp_path / "golden-diff.md").write_text("## 1 dialogue changed\n", encoding="utf-8")
    completed = subprocess.run(
        [node, "-e", NODE_HARNESS],
        cwd=tmp_path,
        env={
            "SCRIPT": by_name["actions/github-script"]["with"]["script"],
            "CHANGED": changed,
            "COMMENTS": json.dumps(comments),
        },
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return list(json.loads(completed.stdout))


def test_pr_comment_is_posted_only_when_goldens_changed(tmp_path: Path) -> None:
    body = f"{MARKER}\n## 1 dialogue changed\n"
    assert comment_calls(tmp_path, "true", []) == [["create", 7, body]]
    assert comment_calls(tmp_path, "false", []) == []


def test_pr_comment_is_updated_in_place_and_removed_once_stale(tmp_path: Path) -> None:
    ours = {"id": 42, "user": BOT, "body": f"{MARKER}\nold report"}
    # A person quoting the marker is not the bot's comment.
    human = {"id": 5, "user": {"type": "User"}, "body": f"{MARKER}\nquoted"}
    body = f"{MARKER}\n## 1 dialogue changed\n"
    assert comment_calls(tmp_path, "true", [human, ours]) == [["update", 42, body]]
    assert comment_calls(tmp_path, "false", [human, ours]) == [["delete", 42]]
    assert comment_calls(tmp_path, "false", [human]) == []


def run_diff_step(clone: Path, base_ref: str) -> tuple[int, str, str]:
    """The PR workflow's diff step, run as GitHub runs it (bash -eo pipefail) in a clone."""
    (step,) = [s for s in steps(load("goldens.yml")) if s.get("id") == "diff"]
    output, summary = clone / "github-output", clone / "step-summary"
    output.unlink(missing_ok=True)  # GitHub gives each step fresh files
    summary.unlink(missing_ok=True)
    completed = subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]],
        cwd=clone,
        env={
            "PATH": "/usr/bin:/bin",
            "BASE_REF": base_ref,
            "GITHUB_OUTPUT": str(output),
            "GITHUB_STEP_SUMMARY": str(summary),
        },
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    return completed.returncode, output.read_text("utf-8"), summary.read_text("utf-8")


def test_diff_step_tells_the_comment_whether_goldens_changed(tmp_path: Path) -> None:
    clone = tmp_path / "clone"  # its origin/<branch> is the base, as in actions/checkout's clone
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True, timeout=120)
    branch = subprocess.run(
        ["git", "rev-parse", "--abbrev-ref", "HEAD"],
        cwd=clone,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    # The whole environment, so that .venv/bin/python finds its pyvenv.cfg.
    (clone / ".venv").symlink_to(Path(sys.executable).parent.parent, target_is_directory=True)

    assert run_diff_step(clone, branch)[:2] == (0, "changed=false\n")

    snapshot = clone / "goldens" / "snapshots" / "greeting.json"
    reworded = snapshot.read_text("utf-8").replace('"text": "', '"text": "Reworded. ', 1)
    snapshot.write_text(reworded, encoding="utf-8")
    status, output, summary = run_diff_step(clone, branch)
    assert (status, output) == (0, "changed=true\n")
    assert snapshot.stem in summary

    status, output, summary = run_diff_step(clone, "no-such-branch")
    assert (status, output) == (1, "changed=unknown\n")
    assert summary.startswith("## Golden diff failed")

    # A crash exits 1 as a change does; it must not post (or delete) the comment.
    (clone / "scripts" / "golden_diff.py").write_text("raise SystemExit('boom')\n", "utf-8")
    status, output, summary = run_diff_step(clone, branch)
    assert (status, output) == (1, "changed=unknown\n")
    assert "boom" in summary


# -- the diff runs even when the replay failed ----------------------------------------------------

SCAFFOLD_WORKFLOWS = (
    ROOT / "foundry_goldens" / "scaffold" / "templates" / "dot-github" / "workflows"
)


def runs(
    condition: str | None,
    *,
    outcomes: dict[str, str],
    event: str = "pull_request",
    cancelled: bool = False,
) -> bool:
    """Whether GitHub runs a step with this `if:` after steps with these outcomes: the few
    operators and functions the workflows use, evaluated as GitHub documents them (no status
    function means `success() && (...)`)."""
    text = (condition or "true").strip()
    if text.startswith("${{") and text.endswith("}}"):
        text = text[3:-2]
    if not re.search(r"\b(?:success|failure|always|cancelled)\(\)", text):
        text = f"success() && ({text})"
    failed = "failure" in outcomes.values()
    for pattern, replacement in (
        (r"!\s*cancelled\(\)", " (not cancelled) "),
        (r"\bcancelled\(\)", " cancelled "),
        (r"\bsuccess\(\)", " success "),
        (r"\bfailure\(\)", " failure "),
        (r"\balways\(\)", " True "),
        (r"\bsteps\.([\w-]+)\.outcome\b", r" outcome('\1') "),
        (r"\bgithub\.event_name\b", " event "),
        (r"&&", " and "),
        (r"\|\|", " or "),
    ):
        text = re.sub(pattern, replacement, text)
    assert not re.search(r"[!$]|\b(?:github|steps|env|secrets)\.", text), text  # all translated
    names = {
        "cancelled": cancelled,
        "success": not failed and not cancelled,
        "failure": failed,
        "outcome": lambda step: outcomes.get(step, "skipped"),
        "event": event,
        "true": True,
        "True": True,
    }
    return bool(eval(text, {"__builtins__": {}}, names))


def diff_and_replay_steps(path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    workflow = yaml.safe_load(path.read_text(encoding="utf-8"))
    all_steps = steps(workflow)
    (diff,) = [s for s in all_steps if "diff" in s.get("run", "") and "--base" in s["run"]]
    (replay,) = [s for s in all_steps if re.search(r"\b(?:pytest|make test)\b", s.get("run", ""))]
    return diff, replay


@pytest.mark.parametrize(
    "path",
    [WORKFLOWS / "goldens.yml", SCAFFOLD_WORKFLOWS / "goldens.yml"],
    ids=["repo", "scaffold"],
)
def test_the_diff_runs_when_the_replay_failed_and_the_job_still_fails(path: Path) -> None:
    diff, replay = diff_and_replay_steps(path)
    replay_id = replay.get("id", "replay")
    setup = {"setup": "success"}  # the reference's install step
    # The replay failed: the diff still runs, since it is what explains a failing golden.
    assert runs(diff.get("if"), outcomes={**setup, replay_id: "failure"})
    assert runs(diff.get("if"), outcomes={**setup, replay_id: "success"})
    # Neither a cancelled run nor (the scaffold) a push compares anything.
    assert not runs(diff.get("if"), outcomes={**setup, replay_id: "failure"}, cancelled=True)
    # And the failed replay fails the job: nothing lets the job pass over it.
    workflow = yaml.safe_load(path.read_text(encoding="utf-8"))
    (job,) = workflow["jobs"].values()
    assert "continue-on-error" not in job and "continue-on-error" not in replay


def test_the_scaffold_diff_waits_for_an_install_and_only_runs_on_pull_requests() -> None:
    diff, replay = diff_and_replay_steps(SCAFFOLD_WORKFLOWS / "goldens.yml")
    assert replay["id"] == "replay"
    failed_install = {"replay": "skipped", "install": "failure"}
    assert not runs(diff["if"], outcomes=failed_install)  # nothing replayed: nothing to explain
    assert not runs(diff["if"], outcomes={"replay": "failure"}, event="push")
    # An `if:` without a status function skips the step after any failure.
    assert not runs("github.event_name == 'pull_request'", outcomes={"replay": "failure"})
