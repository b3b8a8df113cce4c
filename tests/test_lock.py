"""constraints.txt, the lock every install uses (make setup, .ci/run, the workflows), must still
fit pyproject.toml: a dependency added or a range moved without `make lock` fails here, offline."""

from __future__ import annotations

import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "constraints.txt"


def pins(text: str) -> dict[str, Version]:
    found: dict[str, Version] = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        name, separator, version = line.partition("==")
        assert separator and version, f"constraints.txt: {line!r} is not pinned with =="
        found[canonicalize_name(name)] = Version(version.split(";", 1)[0].strip())
    return found


def declared() -> list[Requirement]:
    """The runtime and dev dependencies, and the build backend (`make setup` builds with it)."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    project = pyproject["project"]
    return [
        Requirement(r)
        for r in [
            *project["dependencies"],
            *project["optional-dependencies"]["dev"],
            *pyproject["build-system"]["requires"],
        ]
    ]


def unmet(requirements: list[Requirement], locked: dict[str, Version]) -> list[str]:
    problems = []
    for requirement in requirements:
        if requirement.marker is not None and not requirement.marker.evaluate():
            continue
        version = locked.get(canonicalize_name(requirement.name))
        if version is None:
            problems.append(f"{requirement.name} is not in constraints.txt")
        elif not requirement.specifier.contains(version, prereleases=True):
            problems.append(f"{requirement.name}=={version} is outside {requirement.specifier}")
    return problems


def test_the_lock_pins_every_declared_dependency_within_its_range() -> None:
    problems = unmet([*declared(), Requirement("pip")], pins(LOCK.read_text(encoding="utf-8")))
    assert not problems, "; ".join(problems) + ": run `make lock` and commit constraints.txt"


def test_a_stale_lock_is_caught() -> None:
    locked = pins("rich==13.9.4\n    # via foundry-goldens\n")
    assert unmet([Requirement("rich>=14,<16"), Requirement("trustme>=1.2")], locked) == [
        "rich==13.9.4 is outside <16,>=14",
        "trustme is not in constraints.txt",
    ]


def test_the_package_keeps_loose_ranges() -> None:
    # Users install the package beside their own pins: ranges, never the lock's exact versions.
    exact = [str(r) for r in declared() if any(s.operator in {"==", "==="} for s in r.specifier)]
    assert not exact
