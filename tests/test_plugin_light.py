"""The plugin costs a project without goldens nothing: its entry module imports pytest and the
standard library only, and the golden machinery only where [tool.foundry-goldens] is found.
Behaviour, not timing (benchmarks/plugin_overhead.py measures the time)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.test_plugin import make_project, pytest_in

HEAVY = ("syrupy", "vcr", "openai", "azure", "pydantic", "yaml", "deepdiff", "rich")
MACHINERY = "foundry_goldens.pytest_goldens"

PROBE = f"""
import json, sys
import foundry_goldens.plugin
heavy = {HEAVY!r}
print(json.dumps(sorted(
    name for name in sys.modules
    if name.split(".")[0] in heavy or name == {MACHINERY!r}
)))
"""

# Run by pytest in the project: what the session imported by the time its one test runs.
MODULES_TEST = """
import json, sys
from pathlib import Path


def test_record_modules():
    Path("modules.json").write_text(json.dumps(sorted(sys.modules)), encoding="utf-8")
"""


def test_importing_the_entry_module_imports_nothing_heavy() -> None:
    result = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, check=True, timeout=60
    )
    assert json.loads(result.stdout) == []


def _modules_of_a_run(root: Path) -> set[str]:
    (root / "test_modules.py").write_text(MODULES_TEST, encoding="utf-8")
    result = pytest_in(root, "-q", "test_modules.py")
    assert result.returncode == 0, result.stdout + result.stderr
    return set(json.loads((root / "modules.json").read_text("utf-8")))


def test_a_project_without_goldens_never_imports_the_machinery(tmp_path: Path) -> None:
    # A pyproject.toml that names the package only as a dependency: not a goldens project.
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "team"\ndependencies = ["foundry-goldens"]\n', encoding="utf-8"
    )
    modules = _modules_of_a_run(tmp_path)
    assert "foundry_goldens.plugin" in modules  # installed, loaded by its entry point
    assert MACHINERY not in modules
    assert "foundry_goldens.config" in modules  # the text named it: the table was looked for
    for name in ("openai", "azure", "deepdiff", "rich", "vcr"):
        assert not any(m == name or m.startswith(f"{name}.") for m in modules), name


def test_without_any_mention_not_even_the_configuration_is_read(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "team"\n', encoding="utf-8")
    modules = _modules_of_a_run(tmp_path)
    assert "foundry_goldens.config" not in modules
    assert MACHINERY not in modules


def test_a_goldens_project_loads_the_machinery(tmp_path: Path) -> None:
    root = make_project(tmp_path, "greeting")
    assert MACHINERY in _modules_of_a_run(root)
