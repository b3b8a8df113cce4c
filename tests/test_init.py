"""`foundry-goldens init`: the scaffold it writes (the snippet from its one source,
integration/), and its refusal to write into a non-empty directory."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path

import pytest
from packaging.requirements import Requirement

import foundry_goldens
from foundry_goldens import scaffold
from foundry_goldens.config import load_config
from foundry_goldens.goldens import schema
from foundry_goldens.scaffold import InitError, init_project, integration_root, template_root
from tests.paths import PROJECT_ROOT

INTEGRATION = [f"integration/{name}" for name in scaffold.INTEGRATION_FILES]
# The scaffold's one remaining copy: it must not drift from the reference project's original.
DIALOGUE = "goldens/dialogues/greeting.yaml"
COPIES = [*INTEGRATION, DIALOGUE]


def test_the_packaged_dialogue_equals_the_reference_file() -> None:
    packaged = template_root().joinpath(*DIALOGUE.split("/")).read_bytes()
    assert packaged == (PROJECT_ROOT / DIALOGUE).read_bytes(), (
        f"foundry_goldens/scaffold/templates/{DIALOGUE} differs from {DIALOGUE}: "
        f"copy {DIALOGUE} over it"
    )


def test_the_snippet_has_one_source_and_init_writes_it_as_it_is(tmp_path: Path) -> None:
    # No second copy in the package tree: a checkout reads integration/ (a wheel carries the
    # copy its build made; tests/test_wheel_end_to_end.py checks that one).
    assert not (PROJECT_ROOT / "foundry_goldens/scaffold/templates/integration").exists()
    assert Path(str(integration_root())) == PROJECT_ROOT / "integration"
    init_project(tmp_path / "team")
    for relative in INTEGRATION:
        written = (tmp_path / "team" / relative).read_bytes()
        assert written == (PROJECT_ROOT / relative).read_bytes(), relative
    # Only the named files: never a developer's integration/.env.
    written_names = {p.name for p in (tmp_path / "team" / "integration").iterdir()}
    assert written_names == set(scaffold.INTEGRATION_FILES)


def test_without_the_snippet_init_says_so_and_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Neither a checkout around the package nor a wheel's copy: a broken install.
    monkeypatch.setattr(scaffold, "__file__", str(tmp_path / "site" / "fg" / "scaffold" / "x.py"))
    with pytest.raises(InitError, match="lacks the integration snippet"):
        init_project(tmp_path / "team")
    assert not (tmp_path / "team").exists()


def test_the_build_copies_the_files_init_reads() -> None:
    """setup.py's list of integration files is the scaffold's (setup.py cannot import the
    package: the build runs before its dependencies are installed)."""
    tree = ast.parse((PROJECT_ROOT / "setup.py").read_text("utf-8"))
    (value,) = [
        node.value
        for node in tree.body
        if isinstance(node, ast.Assign)
        and [getattr(t, "id", None) for t in node.targets] == ["INTEGRATION_FILES"]
    ]
    assert ast.literal_eval(value) == scaffold.INTEGRATION_FILES


def test_a_build_copy_of_the_snippet_is_never_committed() -> None:
    ignored = (PROJECT_ROOT / ".gitignore").read_text("utf-8").splitlines()
    assert "/foundry_goldens/scaffold/templates/integration/" in ignored


def test_init_writes_a_configured_project(tmp_path: Path) -> None:
    target = tmp_path / "acme-agent"
    written = init_project(target)
    names = {path.relative_to(target).as_posix() for path in written}
    assert {
        *COPIES,
        "pyproject.toml",
        "README.md",
        ".gitignore",
        ".github/workflows/goldens.yml",
        ".github/workflows/goldens-drift.yml",
        "goldens/dialogue.schema.json",
    } <= names
    config = load_config(cwd=target)
    assert config.root == target.resolve()
    assert config.require_snippet() == target.resolve() / "integration" / "run_inference.py"
    assert [p.name for p in config.require_dialogues().iterdir()] == ["greeting.yaml"]
    assert "acme-agent" in (target / "README.md").read_text("utf-8")
    assert "{version}" not in (target / ".github/workflows/goldens.yml").read_text("utf-8")


def test_init_into_an_empty_directory_is_fine(tmp_path: Path) -> None:
    init_project(tmp_path)
    assert (tmp_path / "pyproject.toml").is_file()


def test_init_refuses_a_non_empty_directory_and_writes_nothing(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine", encoding="utf-8")
    with pytest.raises(InitError, match=r"is not empty \(notes.txt\)"):
        init_project(tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]

    command = [sys.executable, "-m", "foundry_goldens", "init", str(tmp_path)]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    assert result.returncode == 2
    assert "is not empty" in result.stderr and str(tmp_path) in result.stderr


@pytest.mark.parametrize("name", ["goldens.yml", "goldens-drift.yml"])
def test_the_scaffold_workflows_are_valid_and_use_the_command(tmp_path: Path, name: str) -> None:
    init_project(tmp_path)
    workflow = tmp_path / ".github" / "workflows" / name
    check_jsonschema = Path(sys.executable).parent / "check-jsonschema"
    result = subprocess.run(
        [str(check_jsonschema), "--builtin-schema", "vendor.github-workflows", str(workflow)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    text = workflow.read_text("utf-8")
    assert "pip install" in text and "foundry-goldens" in text and "scripts/" not in text


def test_the_scaffold_workflows_pin_actions_by_commit_and_sign_in_with_oidc(
    tmp_path: Path,
) -> None:
    init_project(tmp_path / "team")
    workflows = tmp_path / "team" / ".github" / "workflows"
    uses = [
        line.split("uses:", 1)[1].strip()
        for path in workflows.glob("*.yml")
        for line in path.read_text(encoding="utf-8").splitlines()
        if "uses:" in line
    ]
    assert uses, "the scaffold has workflows with actions"
    for action in uses:  # owner/name@<40 hex> # vX.Y.Z, as this repository's own workflows
        assert re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40} # v\d+\.\d+\.\d+", action), action
    drift = (workflows / "goldens-drift.yml").read_text(encoding="utf-8")
    assert "id-token: write" in drift and "azure/login@" in drift


def test_init_writes_the_shipped_schema_where_the_dialogue_points(tmp_path: Path) -> None:
    written = init_project(tmp_path / "team")
    copy = tmp_path / "team" / schema.PROJECT_SCHEMA
    assert copy in written
    assert copy.read_text("utf-8") == schema.shipped_text()
    dialogue = tmp_path / "team" / "goldens" / "dialogues" / "greeting.yaml"
    first = dialogue.read_text("utf-8").splitlines()[0]
    assert first == schema.MODELINE
    assert (dialogue.parent / first.split("$schema=", 1)[1]).resolve() == copy.resolve()
    check_jsonschema = Path(sys.executable).parent / "check-jsonschema"
    result = subprocess.run(
        [str(check_jsonschema), "--schemafile", str(copy), str(dialogue)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_init_pins_the_version_it_ran_with_and_installs_it_from_its_tag(tmp_path: Path) -> None:
    init_project(tmp_path / "team")
    wanted = f"foundry-goldens @ git+{scaffold._repository()}@v{foundry_goldens.__version__}"
    assert scaffold.requirement() == wanted
    parsed = Requirement(wanted)  # what pip reads: a valid PEP 508 direct reference
    assert parsed.name == "foundry-goldens" and parsed.url is not None
    assert parsed.url.startswith("git+https://") and parsed.url.endswith(
        f"@v{foundry_goldens.__version__}"
    )
    for name in ("goldens.yml", "goldens-drift.yml"):
        text = (tmp_path / "team" / ".github" / "workflows" / name).read_text("utf-8")
        assert f'run: python -m pip install "{wanted}"\n' in text, name
    for name in ("pyproject.toml", "README.md"):
        text = (tmp_path / "team" / name).read_text("utf-8")
        assert f'pip install "{wanted}"' in text, name
    for path in (tmp_path / "team").rglob("*"):
        if path.name in scaffold.RENDERED:  # every placeholder replaced
            assert not re.search(r"\{(name|version|requirement)\}", path.read_text("utf-8"))
        if path.is_file():  # and no install from PyPI, which would find nothing (or a stranger)
            text = path.read_text("utf-8")
            assert "pip install foundry-goldens" not in text, path
            assert "foundry-goldens==" not in text, path


def test_the_repository_url_comes_from_the_package_metadata(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    class Metadata:
        def __init__(self, urls: list[str]) -> None:
            self.urls = urls

        def get_all(self, name: str) -> list[str]:
            return self.urls if name == "Project-URL" else []

    def metadata_with(*urls: str) -> Callable[[str], Metadata]:
        return lambda _name: Metadata(list(urls))

    monkeypatch.setattr(
        scaffold.metadata,
        "metadata",
        metadata_with("Docs, https://x.test", "Repository, https://github.com/acme/fg.git/"),
    )
    assert scaffold._repository() == "https://github.com/acme/fg"
    monkeypatch.setattr(scaffold.metadata, "metadata", metadata_with())
    assert scaffold._repository() == scaffold.REPOSITORY_PLACEHOLDER


def test_the_version_is_written_once() -> None:
    pyproject = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text("utf-8"))
    assert "version" not in pyproject["project"]
    assert pyproject["project"]["dynamic"] == ["version"]
    dynamic = pyproject["tool"]["setuptools"]["dynamic"]["version"]
    assert dynamic == {"attr": "foundry_goldens.__version__"}
    assert pyproject["project"]["requires-python"] == ">=3.11"
    assert scaffold._version() == foundry_goldens.__version__
    source = (PROJECT_ROOT / "foundry_goldens" / "scaffold" / "__init__.py").read_text("utf-8")
    assert not re.search(r"[\"']\d+\.\d+\.\d+[\"']", source), "a version written in scaffold/"


def test_the_readme_installs_this_version_and_not_from_pypi() -> None:
    readme = (PROJECT_ROOT / "README.md").read_text("utf-8")
    repository = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text("utf-8"))["project"][
        "urls"
    ]["Repository"]
    assert f'pip install "foundry-goldens @ git+{repository}@v{foundry_goldens.__version__}"' in (
        readme
    ), "README: the install line names another version or repository than pyproject.toml"
    assert f"foundry_goldens-{foundry_goldens.__version__}-py3-none-any.whl" in readme
    assert "pip install foundry-goldens " not in readme
