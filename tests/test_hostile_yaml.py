"""Goldens come in pull requests from strangers: a dialogue (or an old YAML cassette, or a
dialogue the golden diff reads from a revision) with YAML anchors and aliases, nesting, or
size meant to exhaust memory is refused with an error naming the file, quickly and small.

A 1 KB "billion laughs" dialogue once ran pytest into a 6 GB memory limit; now it is never
expanded: loading refuses the first anchor.
"""

from __future__ import annotations

import itertools
import shutil
import subprocess
import sys
import tracemalloc
from pathlib import Path

import pytest
import yaml

from foundry_goldens.cassettes import format as cassette_format
from foundry_goldens.cassettes.format import MAX_LEGACY_YAML_BYTES, CassetteFormatError
from foundry_goldens.goldens.dialogues import (
    MAX_DIALOGUE_BYTES,
    MAX_YAML_DEPTH,
    DialogueError,
    UnsafeYamlError,
    load_dialogue,
    load_dialogues,
    load_yaml,
)
from tests.paths import CASSETTE_DIR, DIALOGUE_DIR, SNAPSHOT_DIR
from tests.test_plugin import make_project, pytest_in


def laughs(levels: int = 9, top: str = "name") -> str:
    """About 1 KB that expands to 9**levels strings once anything walks it."""
    lines = ['a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    names = "abcdefghijklmnopqrstuvwxyz"
    for previous, current in itertools.pairwise(names[:levels]):
        lines.append(f"{current}: &{current} [{', '.join([f'*{previous}'] * 9)}]")
    lines.append(f"{top}: *{names[levels - 1]}")
    return "\n".join(lines) + "\n"


BOMB_DIALOGUE = (
    "name: greeting\nturns:\n  - user: hi\n    expect:\n      reply_contains: *i\n" + laughs()
)


# ---------------------------------------------------------------------- the loader


def test_plain_yaml_loads_as_safe_load_reads_it() -> None:
    text = "name: x\nturns:\n  - user: 'hi'\n    expect: {tools: [a, b], max_prompt_tokens: 3}\n"
    assert load_yaml(text) == {
        "name": "x",
        "turns": [{"user": "hi", "expect": {"tools": ["a", "b"], "max_prompt_tokens": 3}}],
    }


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("a: &x 1\nb: 2\n", 1),  # an anchor alone
        ("a: 1\nb: *x\n", 2),  # an alias of nothing
        ("a: 1\nb: &x [1]\nc: *x\n", 2),
        ("base: &b {k: v}\nother:\n  <<: *b\n", 1),  # a merge key needs an alias
    ],
)
def test_anchors_and_aliases_are_refused_with_their_line(text: str, line: int) -> None:
    with pytest.raises(UnsafeYamlError, match=rf"^line {line}: YAML anchors and aliases"):
        load_yaml(text)


def test_a_billion_laughs_is_refused_small_and_unexpanded() -> None:
    tracemalloc.start()
    try:
        with pytest.raises(UnsafeYamlError, match="anchors and aliases"):
            load_yaml(laughs())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 5 * 1024 * 1024


def test_nesting_past_the_limit_is_refused() -> None:
    assert load_yaml("[" * MAX_YAML_DEPTH + "]" * MAX_YAML_DEPTH) is not None
    deep = "[" * (MAX_YAML_DEPTH + 1) + "]" * (MAX_YAML_DEPTH + 1)
    with pytest.raises(UnsafeYamlError, match=f"nested more than {MAX_YAML_DEPTH} levels"):
        load_yaml(deep)
    with pytest.raises(yaml.YAMLError):  # libyaml's own limit, or ours: never a RecursionError
        load_yaml("[" * 100_000)


@pytest.mark.parametrize("text", ["n: " + "1" * 5000, "day: 2024-13-01", "day: 2024-02-30"])
def test_values_the_constructor_cannot_build_are_yaml_errors(text: str) -> None:
    with pytest.raises(UnsafeYamlError):
        load_yaml(text)


# ---------------------------------------------------------------------- dialogues


def test_a_dialogue_with_a_billion_laughs_is_an_error_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "greeting.yaml"
    path.write_text(BOMB_DIALOGUE, encoding="utf-8")
    with pytest.raises(DialogueError) as caught:
        load_dialogue(path)
    assert str(caught.value).startswith(f"{path}: refused: line 5: YAML anchors and aliases")


def test_a_dialogue_over_the_size_limit_is_refused_unparsed(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    body = "name: big\nturns:\n  - user: hi\n"
    path.write_text(body + "#" * (MAX_DIALOGUE_BYTES - len(body)), encoding="utf-8")
    assert load_dialogue(path).name == "big"  # exactly the limit: fine
    with path.open("a", encoding="utf-8") as file:
        file.write("#")
    with pytest.raises(DialogueError, match=r"big\.yaml: larger than the 1 MiB"):
        load_dialogue(path)


def test_the_committed_dialogues_still_load() -> None:
    assert len(load_dialogues(DIALOGUE_DIR)) == len(list(DIALOGUE_DIR.glob("*.yaml")))


# ---------------------------------------------------------------------- old YAML cassettes


def test_an_old_yaml_cassette_with_aliases_is_refused() -> None:
    text = "version: 1\n" + laughs(top="interactions")
    with pytest.raises(CassetteFormatError, match="anchors and aliases"):
        cassette_format.deserialize(text)


def test_an_old_yaml_cassette_over_the_cap_is_refused_unparsed() -> None:
    text = "version: 1\ninteractions: []\n#" + " " * MAX_LEGACY_YAML_BYTES
    with pytest.raises(CassetteFormatError, match="MiB an old YAML cassette may have"):
        cassette_format.parse(text.encode("utf-8"))


# ---------------------------------------------------------------------- in pytest


def test_pytest_fails_the_bomb_dialogues_test_naming_the_file_and_keeps_its_golden(
    tmp_path: Path,
) -> None:
    root = make_project(tmp_path, "greeting", "order_lookup")
    (root / "specs" / "greeting.yaml").write_text(BOMB_DIALOGUE, encoding="utf-8")
    snapshot = root / "snaps" / "greeting.json"

    result = pytest_in(root, "-v")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "test_golden[greeting] FAILED" in result.stdout
    assert "test_golden[order_lookup] PASSED" in result.stdout
    assert f"{root / 'specs' / 'greeting.yaml'}: refused: line 5" in result.stdout
    assert "unused" not in result.stdout

    updated = pytest_in(root, "--snapshot-update")
    assert updated.returncode == 1
    assert "deleted" not in updated.stdout
    assert snapshot.read_bytes() == (SNAPSHOT_DIR / "greeting.json").read_bytes()


def test_pytest_fails_a_golden_whose_old_yaml_cassette_has_aliases_naming_it(
    tmp_path: Path,
) -> None:
    root = make_project(tmp_path, "greeting")
    (root / "tapes" / "greeting.json").unlink()
    tape = root / "tapes" / "greeting.yaml"
    tape.write_text("version: 1\n" + laughs(top="interactions"), encoding="utf-8")

    result = pytest_in(root, "-v")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "test_golden[greeting] FAILED" in result.stdout
    assert f"{tape}: neither JSON nor YAML: line 2: YAML anchors and aliases" in result.stdout
    assert "unused" not in result.stdout
    pytest_in(root, "--snapshot-update")
    assert (root / "snaps" / "greeting.json").is_file()


# ---------------------------------------------------------------------- foundry-goldens diff


def _git(root: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True)


def test_diff_refuses_a_bomb_in_a_revision_naming_the_file(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    for source, target in (
        (DIALOGUE_DIR / "greeting.yaml", root / "goldens" / "dialogues" / "greeting.yaml"),
        (SNAPSHOT_DIR / "greeting.json", root / "goldens" / "snapshots" / "greeting.json"),
        (CASSETTE_DIR / "greeting.json", root / "cassettes" / "greeting.json"),
    ):
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
    _git(root, "init", "--quiet", "--initial-branch=main")
    _git(root, "config", "user.name", "Golden Tester")
    _git(root, "config", "user.email", "golden@example.com")
    _git(root, "config", "commit.gpgsign", "false")
    _git(root, "add", "-A")
    _git(root, "commit", "--quiet", "-m", "goldens")
    (root / "goldens" / "dialogues" / "greeting.yaml").write_text(BOMB_DIALOGUE, "utf-8")

    result = subprocess.run(
        [sys.executable, "-m", "foundry_goldens", "diff", "--base", "HEAD", "--repo", str(root)],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    [line] = result.stderr.splitlines()
    assert line.startswith(
        "golden_diff: error: refused dialogue goldens/dialogues/greeting.yaml at "
    ), line
    assert "YAML anchors and aliases" in line
