"""The golden tests beside pytest-recording (the common vcrpy plugin, a dev dependency so the
whole suite runs with it installed) and a team's own vcrpy tests: one run, everything passes,
neither side's cassettes or network block reaching the other's tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.test_plugin import make_project, pytest_in

pytest.importorskip("pytest_recording")

# A team's test of its own HTTP client, replayed by pytest-recording from its cassette (the
# default place: cassettes/<module>/<test>.yaml beside the test module).
TEAM_TEST = """
import urllib.request

import pytest


@pytest.mark.vcr
def test_team_client_replays_its_cassette():
    with urllib.request.urlopen("http://api.team.example/hello") as response:
        assert response.read() == b"hello from the team's cassette"


def test_team_without_a_cassette():
    assert True
"""

TEAM_CASSETTE = """interactions:
- request:
    body: null
    headers: {}
    method: GET
    uri: http://api.team.example/hello
  response:
    body: {string: hello from the team's cassette}
    headers:
      Content-Type: [text/plain]
    status: {code: 200, message: OK}
version: 1
"""

# A team's conftest: a vcr_config of its own (a record mode that would record anything new),
# module-scoped autouse fixtures (the kind that needs a module above every test).
TEAM_CONFTEST = """
import pytest


@pytest.fixture(scope="module")
def vcr_config():
    return {"record_mode": "new_episodes", "filter_headers": ["authorization"]}


@pytest.fixture(scope="module", autouse=True)
def team_module_setup(request):
    yield request.node.name
"""


def team_project(root: Path) -> Path:
    make_project(root, "greeting", "order_lookup", "approval_return")
    tests = root / "tests"
    (tests / "cassettes" / "test_team").mkdir(parents=True)
    (tests / "test_team.py").write_text(TEAM_TEST, encoding="utf-8")
    (tests / "cassettes" / "test_team" / "test_team_client_replays_its_cassette.yaml").write_text(
        TEAM_CASSETTE, encoding="utf-8"
    )
    (root / "conftest.py").write_text(TEAM_CONFTEST, encoding="utf-8")
    return root


@pytest.mark.parametrize(
    "options",
    [
        (),
        ("--block-network",),
        ("--record-mode", "none"),
        ("--block-network", "--disable-recording"),
    ],
    ids=["plain", "block-network", "record-mode-none", "recording-disabled"],
)
def test_goldens_and_pytest_recording_tests_pass_in_one_run(
    tmp_path: Path, options: tuple[str, ...]
) -> None:
    root = team_project(tmp_path)
    selected = () if "--disable-recording" not in options else ("-k", "not client_replays")
    result = pytest_in(root, "-v", "-p", "no:randomly", *options, *selected)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "Could not obtain a node" not in output
    for golden in ("approval_return", "greeting", "order_lookup"):
        assert f"specs/{golden}.yaml::test_golden[{golden}] PASSED" in result.stdout
    assert "test_team.py::test_team_without_a_cassette PASSED" in result.stdout
    if not selected:
        assert "test_team.py::test_team_client_replays_its_cassette PASSED" in result.stdout
    # Nothing recorded on either side: no new cassette of the team's, the goldens untouched.
    assert sorted(p.name for p in (root / "tests" / "cassettes").rglob("*.yaml")) == [
        "test_team_client_replays_its_cassette.yaml"
    ]
    assert not (root / "specs" / "cassettes").exists()


def test_pytest_recording_runs_team_tests_after_the_goldens_unpatched(tmp_path: Path) -> None:
    """The golden run's vcrpy patches are off before the team's test: its own cassette
    (pytest-recording's) answers it, in the order the team's tests come after the goldens."""
    root = team_project(tmp_path)
    (root / "tests" / "test_team.py").rename(root / "test_zz_team.py")
    (root / "tests" / "cassettes").rename(root / "cassettes")
    (root / "cassettes" / "test_team").rename(root / "cassettes" / "test_zz_team")
    result = pytest_in(root, "-v", "-p", "no:randomly", "specs", "test_zz_team.py")
    assert result.returncode == 0, result.stdout + result.stderr
    lines = [line.split(" ")[0] for line in result.stdout.splitlines() if " PASSED" in line]
    assert lines[-2:] == [
        "test_zz_team.py::test_team_client_replays_its_cassette",
        "test_zz_team.py::test_team_without_a_cassette",
    ], result.stdout
