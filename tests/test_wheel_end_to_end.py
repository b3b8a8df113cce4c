"""End to end, as a new team would: build the sdist, the wheel from it, install the wheel into
a fresh virtual environment outside this repository, `foundry-goldens init`, `record
--emulator`, `pytest`; nothing may refer to this repository's paths. The sdist and the wheel
are also what a release publishes: their metadata and package data are checked here, with the
release workflow's own check (scripts/check_release.py), and the release workflow's structure
below.

Slow by nature (a wheel build and a pip install that resolves every dependency; pip's cache
makes repeats fast). It runs in `make test` like every other test."""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path
from typing import Any

import pytest
import yaml

import foundry_goldens
from foundry_goldens import scaffold
from foundry_goldens.goldens import schema
from scripts import check_release
from tests.paths import PROJECT_ROOT

# What the sdist is built from: the package, the metadata pyproject.toml reads, setup.py's build
# step and the snippet's one source (its named files: never a developer's integration/.env).
SOURCES = ("pyproject.toml", "README.md", "setup.py", "foundry_goldens")
INTEGRATION = [f"integration/{name}" for name in scaffold.INTEGRATION_FILES]
PACKAGED = "foundry_goldens/scaffold/templates/"


def run(command: list[str], cwd: Path, env: dict[str, str]) -> str:
    result = subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=900, check=False
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"{' '.join(command)} exited {result.returncode}:\n{output}"
    return output


def clean_environment() -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AZURE_", "FOUNDRY_", "PYTEST_", "VIRTUAL_ENV", "PYTHON"))
    }
    repo_bin = str(Path(sys.executable).parent)
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if p != repo_bin)
    return env


def test_the_wheel_installed_elsewhere_inits_records_and_replays(tmp_path: Path) -> None:
    env = clean_environment()
    source = tmp_path / "source"
    source.mkdir()
    for name in SOURCES:
        origin = PROJECT_ROOT / name
        if origin.is_dir():
            shutil.copytree(origin, source / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copyfile(origin, source / name)
    for relative in INTEGRATION:
        (source / relative).parent.mkdir(exist_ok=True)
        shutil.copyfile(PROJECT_ROOT / relative, source / relative)
    dist = tmp_path / "dist"
    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", str(venv)], tmp_path, env)
    bin_dir = venv / "bin"
    # The sdist as `python -m build` makes it: with the pinned setuptools (`build` itself is not
    # a dependency here). Then the wheel from the sdist alone, as `build` does: the sdist must
    # carry everything the build needs.
    run(
        [str(bin_dir / "python"), "-m", "pip", "install", "-q",
         "-c", str(PROJECT_ROOT / "constraints.txt"), "setuptools"],
        tmp_path, env,
    )  # fmt: skip
    build_sdist = f"from setuptools import build_meta; build_meta.build_sdist({str(dist)!r})"
    run([str(bin_dir / "python"), "-c", build_sdist], source, env)
    (sdist,) = dist.glob("foundry_goldens-*.tar.gz")
    with tarfile.open(sdist) as archive:
        in_sdist = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    assert {"setup.py", *INTEGRATION} <= in_sdist
    assert not any(name.startswith(PACKAGED + "integration") for name in in_sdist)
    run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q",
         "-w", str(dist), str(sdist)],
        tmp_path, env,
    )  # fmt: skip
    (wheel,) = dist.glob("foundry_goldens-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        shipped_schema = archive.read("foundry_goldens/goldens/dialogue.schema.json")
        shipped_integration = {r: archive.read(PACKAGED + r) for r in INTEGRATION}
    assert {name.split("/")[0] for name in names if "dist-info" not in name} == {"foundry_goldens"}
    assert sorted(n for n in names if n.startswith(PACKAGED + "integration/")) == sorted(
        PACKAGED + r for r in INTEGRATION
    )
    for relative, data in shipped_integration.items():  # the build's copy of the one source
        assert data == (PROJECT_ROOT / relative).read_bytes(), relative
    assert shipped_schema.decode("utf-8") == schema.render()
    metadata, _ = check_release.wheel_metadata(wheel)
    assert metadata["Version"] == foundry_goldens.__version__
    assert wheel.name == f"foundry_goldens-{foundry_goldens.__version__}-py3-none-any.whl"
    # What makes pip on an older Python say "requires a different Python" instead of installing.
    assert metadata["Requires-Python"] == ">=3.11"
    # The release workflow's check, on this wheel and sdist.
    repository = release_repository(metadata.get_all("Project-URL", []))
    tag = f"v{foundry_goldens.__version__}"
    # Until pyproject.toml names the real repository, its placeholder is all that is wrong.
    problems = check_release.problems(dist, tag, repository)
    assert all("(the placeholder)" in problem for problem in problems), problems
    assert any("version" in p for p in check_release.problems(dist, "v99.0.0", repository))

    run([str(bin_dir / "python"), "-m", "pip", "install", "-q", str(wheel)], tmp_path, env)
    env["PATH"] = os.pathsep.join([str(bin_dir), env["PATH"]])  # as an activated venv

    where = run(
        [str(bin_dir / "python"), "-c", "import foundry_goldens; print(foundry_goldens.__file__)"],
        tmp_path, env,
    )  # fmt: skip
    assert Path(where.strip()).is_relative_to(venv)

    printed = subprocess.run(
        ["foundry-goldens", "schema"], cwd=tmp_path, env=env, capture_output=True, check=True
    ).stdout
    assert printed == shipped_schema

    project = tmp_path / "acme-agent"
    outputs = [run(["foundry-goldens", "init", str(project)], tmp_path, env)]
    assert (project / schema.PROJECT_SCHEMA).read_bytes() == shipped_schema
    for relative in INTEGRATION:  # the snippet a team starts from is this repository's
        assert (project / relative).read_bytes() == (PROJECT_ROOT / relative).read_bytes()
    outputs.append(run(["foundry-goldens", "record", "--emulator"], project, env))
    assert (project / "cassettes" / "greeting.json").is_file()
    assert (project / "goldens" / "snapshots" / "greeting.json").is_file()
    replay = run(["pytest", "-v", "-p", "no:cacheprovider"], project, env)
    outputs.append(replay)
    assert "goldens/dialogues/greeting.yaml::test_golden[greeting] PASSED" in replay
    assert "1 snapshot passed" in replay

    repository = str(PROJECT_ROOT)
    for text in outputs:
        assert repository not in text
    for path in project.rglob("*"):
        if path.is_file():
            assert repository.encode() not in path.read_bytes(), path


def release_repository(project_urls: list[str]) -> str:
    (url,) = [u.split(",", 1)[1].strip() for u in project_urls if u.startswith("Repository,")]
    return url


# -- scripts/check_release.py, on made-up distributions ---------------------------------------

GOOD = {
    "Version": "1.2.3",
    "Requires-Python": ">=3.11",
    "Project-URL": "Repository, https://github.com/acme/foundry-goldens",
}


def fake_dist(directory: Path, **changes: str | None) -> Path:
    fields = {**GOOD, **changes}
    text = "Metadata-Version: 2.4\nName: foundry-goldens\n" + "".join(
        f"{key}: {value}\n" for key, value in fields.items() if value is not None
    )
    directory.mkdir()
    with zipfile.ZipFile(directory / "foundry_goldens-1.2.3-py3-none-any.whl", "w") as archive:
        archive.writestr("foundry_goldens-1.2.3.dist-info/METADATA", text)
        for name in check_release.WHEEL_FILES:
            if name != changes.get("missing"):
                archive.writestr(name, "")
    data = text.encode()
    with tarfile.open(directory / "foundry_goldens-1.2.3.tar.gz", "w:gz") as archive:
        info = tarfile.TarInfo("foundry_goldens-1.2.3/PKG-INFO")
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
    return directory


def test_check_release_passes_the_tag_of_the_built_version(tmp_path: Path) -> None:
    dist = fake_dist(tmp_path / "dist")
    assert check_release.main(["--tag", "v1.2.3", "--repository", REPO, str(dist)]) == 0


REPO = "https://github.com/acme/foundry-goldens"


@pytest.mark.parametrize(
    ("tag", "changes", "says"),
    [
        ("v1.2.4", {}, "version 1.2.3, but the tag is v1.2.4"),
        ("1.2.3", {}, "a release tag is v<version>"),
        ("v1.2.3", {"Requires-Python": None}, "Requires-Python is None"),
        ("v1.2.3", {"Requires-Python": ">=3.8"}, "Requires-Python is '>=3.8'"),
        (
            "v1.2.3",
            {"Project-URL": "Repository, https://github.com/OWNER/foundry-goldens"},
            "(the placeholder)",
        ),
        ("v1.2.3", {"Project-URL": "Repository, https://github.com/else/x"}, "pushed to"),
        ("v1.2.3", {"missing": "foundry_goldens/goldens/dialogue.schema.json"}, "is missing"),
    ],
)
def test_check_release_refuses(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], tag: str, changes: Any, says: str
) -> None:
    dist = fake_dist(tmp_path / "dist", **changes)
    assert check_release.main(["--tag", tag, "--repository", REPO, str(dist)]) == 1
    assert says in capsys.readouterr().err


def test_check_release_wants_one_wheel_and_one_sdist(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    (problem,) = check_release.problems(tmp_path / "empty", "v1.2.3", REPO)
    assert "found 0 and 0" in problem


# -- .github/workflows/release.yml -----------------------------------------------------------

WORKFLOWS = PROJECT_ROOT / ".github" / "workflows"
RELEASE = WORKFLOWS / "release.yml"
PINNED = re.compile(r"[\w.-]+/[\w.-]+@[0-9a-f]{40} # v\d+\.\d+\.\d+")


def release() -> dict[Any, Any]:
    data = yaml.safe_load(RELEASE.read_text("utf-8"))
    assert isinstance(data, dict)
    return data


def uses_lines(path: Path) -> list[str]:
    return [
        line.split("uses:", 1)[1].strip()
        for line in path.read_text("utf-8").splitlines()
        if line.strip().startswith(("uses:", "- uses:"))
    ]


def test_the_release_workflow_matches_githubs_schema() -> None:
    check = Path(sys.executable).parent / "check-jsonschema"
    result = subprocess.run(
        [str(check), "--builtin-schema", "vendor.github-workflows", str(RELEASE)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_release_workflow_pins_every_action_by_commit() -> None:
    uses = uses_lines(RELEASE)
    assert len(uses) == 5
    for action in uses:
        assert PINNED.fullmatch(action), f"{action}: pin by full commit SHA, tag in a comment"
    # One action, one pin, across this repository's workflows and the scaffold's.
    pins: dict[str, set[str]] = {}
    scaffold = PROJECT_ROOT / "foundry_goldens" / "scaffold" / "templates" / "dot-github"
    for path in [*WORKFLOWS.glob("*.yml"), *scaffold.rglob("*.yml")]:
        for action in uses_lines(path):
            pins.setdefault(action.split("@")[0], set()).add(action.split("@")[1])
    for action, seen in pins.items():
        assert len(seen) == 1, f"{action} is pinned differently: {sorted(seen)}"


def test_the_release_workflow_builds_checks_the_tag_and_publishes_with_trusted_publishing() -> None:
    workflow = release()
    assert workflow[True] == {"push": {"tags": ["v*"]}}  # PyYAML reads the key `on` as True
    assert workflow["permissions"] == {"contents": "read"}
    build, publish = workflow["jobs"]["build"], workflow["jobs"]["publish"]
    steps = {step.get("name", step.get("uses", "")): step for step in build["steps"]}
    runs = "\n".join(step.get("run", "") for step in build["steps"])
    assert "python -m build\n" in runs + "\n"
    assert "twine check --strict dist/*" in runs
    (check,) = [s for s in steps.values() if "check_release.py" in s.get("run", "")]
    assert check["run"] == (
        'python scripts/check_release.py --tag "$TAG" --repository "$REPOSITORY" dist'
    )
    assert check["env"] == {
        "TAG": "${{ github.ref_name }}",
        "REPOSITORY": "${{ github.server_url }}/${{ github.repository }}",
    }
    order = [runs.index(s) for s in ("python -m build\n", "check_release.py", "twine check")]
    assert order == sorted(order), "build, then check the tag, then twine check"
    python = next(s for s in build["steps"] if s.get("uses", "").startswith("actions/setup"))
    assert python["with"]["python-version"] == "3.11"  # the oldest supported, as constraints
    assert publish["needs"] == "build"
    assert publish["environment"]["name"] == "pypi"
    assert publish["permissions"] == {"id-token": "write"}
    (upload,) = [s for s in publish["steps"] if "gh-action-pypi-publish" in s.get("uses", "")]
    assert "with" not in upload  # no password or token: trusted publishing
