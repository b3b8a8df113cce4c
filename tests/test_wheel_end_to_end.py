"""End to end, as a new team would: build the wheel, install it into a fresh virtual
environment outside this repository, `foundry-goldens init`, `record --emulator`, `pytest`;
nothing may refer to this repository's paths.

Slow by nature (a wheel build and a pip install that resolves every dependency; pip's cache
makes repeats fast). It runs in `make test` like every other test."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from tests.paths import PROJECT_ROOT

# What the wheel is built from: the package and the metadata pyproject.toml reads.
SOURCES = ("pyproject.toml", "README.md", "foundry_goldens")


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
    dist = tmp_path / "dist"
    run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q",
         "-w", str(dist), str(source)],
        tmp_path, env,
    )  # fmt: skip
    (wheel,) = dist.glob("foundry_goldens-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
    assert {name.split("/")[0] for name in names if "dist-info" not in name} == {"foundry_goldens"}
    assert "foundry_goldens/scaffold/templates/integration/run_inference.py" in names
    assert "foundry_goldens/scaffold/templates/integration/.env.example" in names

    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", str(venv)], tmp_path, env)
    bin_dir = venv / "bin"
    run([str(bin_dir / "python"), "-m", "pip", "install", "-q", str(wheel)], tmp_path, env)
    env["PATH"] = os.pathsep.join([str(bin_dir), env["PATH"]])  # as an activated venv

    where = run(
        [str(bin_dir / "python"), "-c", "import foundry_goldens; print(foundry_goldens.__file__)"],
        tmp_path, env,
    )  # fmt: skip
    assert Path(where.strip()).is_relative_to(venv)

    project = tmp_path / "acme-agent"
    outputs = [run(["foundry-goldens", "init", str(project)], tmp_path, env)]
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
