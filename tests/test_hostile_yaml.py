"""Goldens come in pull requests from strangers: a dialogue (or an old YAML cassette, or a
dialogue the golden diff reads from a revision) with YAML anchors and aliases, nesting, or
size meant to exhaust memory is refused with an error naming the file, quickly and small.

A 1 KB "billion laughs" dialogue, expanded, would run pytest into a 6 GB memory limit; it is
never expanded: loading refuses the first anchor. Loading uses libyaml where PyYAML has it and the
pure-Python loader otherwise; every in-process test here runs with each (`loader`).
"""

from __future__ import annotations

import itertools
import shutil
import subprocess
import sys
import tracemalloc
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st
from yaml.constructor import SafeConstructor
from yaml.resolver import Resolver

from foundry_goldens import yamltext
from foundry_goldens.cassettes import format as cassette_format
from foundry_goldens.cassettes.format import MAX_LEGACY_YAML_BYTES, CassetteFormatError
from foundry_goldens.goldens.dialogues import (
    MAX_DIALOGUE_BYTES,
    DialogueError,
    load_dialogue,
    load_dialogues,
)
from foundry_goldens.yamltext import MAX_YAML_DEPTH, UnsafeYamlError, load_yaml
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


LOADERS = [
    pytest.param(
        True,
        id="libyaml",
        marks=pytest.mark.skipif(not yaml.__with_libyaml__, reason="PyYAML without libyaml"),
    ),
    pytest.param(False, id="pure"),
]


@pytest.fixture(params=LOADERS)
def loader(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> bool:
    """Load YAML with libyaml (True) or PyYAML's pure-Python loader (False)."""
    monkeypatch.setattr(yamltext, "USE_LIBYAML", request.param)
    return bool(request.param)


in_either_loader = pytest.mark.usefixtures("loader")


# ---------------------------------------------------------------------- the loader


@in_either_loader
def test_plain_yaml_loads_as_safe_load_reads_it() -> None:
    text = "name: x\nturns:\n  - user: 'hi'\n    expect: {tools: [a, b], max_prompt_tokens: 3}\n"
    assert load_yaml(text) == {
        "name": "x",
        "turns": [{"user": "hi", "expect": {"tools": ["a", "b"], "max_prompt_tokens": 3}}],
    }


@in_either_loader
@in_either_loader
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


@in_either_loader
def test_a_billion_laughs_is_refused_small_and_unexpanded() -> None:
    tracemalloc.start()
    try:
        with pytest.raises(UnsafeYamlError, match="anchors and aliases"):
            load_yaml(laughs())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 5 * 1024 * 1024


@in_either_loader
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


ALIKE = [
    "a: 1\n---\nb: 2\n",  # one document only
    "a: 1\n--- &x\nb: *x\n",  # an anchor past the first document: that error comes first
    "a: [1, 2\n",
    "a: b: c\n",
    "",
    "null",
    "- 1\n- 2.5\n- .inf\n- 0x1F\n- 0o17\n- 017\n- 1_000\n- 1:30\n- yes\n- ~\n- 2024-01-02\n",
    "<<: {a: 1}\nb: 2\n",  # a merge key without an alias
    "a: !!binary aGVsbG8=\nb: !!set {x, y}\nc: !!omap [k: 1]\nd: !!str 1\n",
    "? [1]\n: 2\n",
    "a: 1\na: 2\n",
    "a: !custom 1\n",
    "key: !!python/object:os.system x\n",
    "- - - - 1\n",
    "[" * MAX_YAML_DEPTH + "1" + "]" * MAX_YAML_DEPTH,
]


def _outcome(text: str) -> tuple[Any, ...]:
    try:
        return ("loaded", repr(load_yaml(text)))
    except UnsafeYamlError as error:
        return ("refused", str(error))
    except yaml.YAMLError:  # invalid YAML: each parser words (and places) that its own way
        return ("invalid",)


@pytest.mark.skipif(not yaml.__with_libyaml__, reason="PyYAML without libyaml")
@pytest.mark.parametrize(
    "text", ALIKE + [path.read_text("utf-8") for path in DIALOGUE_DIR.glob("*.yaml")]
)
def test_libyaml_loads_what_the_pure_loader_loads_and_refuses_alike(
    text: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(yamltext, "USE_LIBYAML", True)
    with_libyaml = _outcome(text)
    monkeypatch.setattr(yamltext, "USE_LIBYAML", False)
    assert with_libyaml == _outcome(text)


# libyaml's parser under the composer hook that refuses, composing in Python (the reference
# for load_yaml's libyaml path): with libyaml, load_yaml must refuse, load and fail exactly as
# this does.
if yaml.__with_libyaml__:
    from yaml._yaml import CParser

    class _HookedLoader(yamltext._StrictComposer, CParser, SafeConstructor, Resolver):
        def __init__(self, stream: str) -> None:
            CParser.__init__(self, stream)
            yamltext._StrictComposer.__init__(self)
            SafeConstructor.__init__(self)
            Resolver.__init__(self)


def _hooked_outcome(text: str) -> tuple[Any, ...]:
    loader = _HookedLoader(text)
    try:
        return ("loaded", repr(loader.get_single_data()))
    except UnsafeYamlError as error:
        return ("refused", str(error))
    except (ValueError, OverflowError, RecursionError) as error:
        return ("refused", f"a value cannot be loaded: {error}")
    except yaml.YAMLError as error:
        return (type(error).__name__, str(error))
    finally:
        loader.dispose()


def _libyaml_outcome(text: str) -> tuple[Any, ...]:
    try:
        return ("loaded", repr(load_yaml(text)))
    except UnsafeYamlError as error:
        return ("refused", str(error))
    except yaml.YAMLError as error:
        return (type(error).__name__, str(error))


# Text made mostly of YAML's indicators, so nesting, anchors, aliases and errors are common;
# and YAML that PyYAML wrote (block or flow style), some with an anchor or alias spliced in.
INDICATORS = st.text(alphabet="[]{}-?:,&*!|>'\"#a1 \n", max_size=60)
DEEP = st.builds(
    lambda opening, rest: opening + rest,
    st.sampled_from(["[" * 99, "[" * 100, "- " * 99, "a: " * 3, "? "]),
    st.text(alphabet="[]{}-:&* a\n", max_size=12),
)
VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(alphabet="ab: -&*#", max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text("abc", max_size=2), inner),
    max_leaves=12,
)


def _written(value: Any, flow: bool, splice: tuple[str, str]) -> str:
    return yaml.safe_dump(value, default_flow_style=flow).replace(splice[0], splice[1], 1)


WRITTEN = st.builds(
    _written,
    VALUES,
    st.booleans(),
    st.sampled_from([("", ""), (": ", ": &x "), ("- ", "- *x "), ("[", "&y ["), ("{", "*y {")]),
)
YAMLISH = INDICATORS | DEEP | WRITTEN


@pytest.mark.skipif(not yaml.__with_libyaml__, reason="PyYAML without libyaml")
@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(YAMLISH)
@example("[" * (MAX_YAML_DEPTH - 1) + "1" + "]" * (MAX_YAML_DEPTH - 1))
@example("[" * MAX_YAML_DEPTH + "1" + "]" * MAX_YAML_DEPTH)
@example("- " * MAX_YAML_DEPTH + "x")
@example("- " * (MAX_YAML_DEPTH - 1) + "x")
@example("a: &x [1]\nb: *x\n")
def test_libyaml_composing_refuses_exactly_what_the_composer_hook_refused(text: str) -> None:
    outcome = _libyaml_outcome(text)
    event(outcome[0])
    assert outcome == _hooked_outcome(text)
    if not yamltext._may_be_refused(text):  # the scan it skipped would have found nothing
        assert outcome[0] != "refused" or "cannot be loaded" in outcome[1]


# ---------------------------------------------------------------------- dialogues


@in_either_loader
def test_a_dialogue_with_a_billion_laughs_is_an_error_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "greeting.yaml"
    path.write_text(BOMB_DIALOGUE, encoding="utf-8")
    with pytest.raises(DialogueError) as caught:
        load_dialogue(path)
    assert str(caught.value).startswith(f"{path}: refused: line 5: YAML anchors and aliases")


@in_either_loader
def test_a_dialogue_over_the_size_limit_is_refused_unparsed(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    body = "name: big\nturns:\n  - user: hi\n"
    path.write_text(body + "#" * (MAX_DIALOGUE_BYTES - len(body)), encoding="utf-8")
    assert load_dialogue(path).name == "big"  # exactly the limit: fine
    with path.open("a", encoding="utf-8") as file:
        file.write("#")
    with pytest.raises(DialogueError, match=r"big\.yaml: larger than the 1 MiB"):
        load_dialogue(path)


@in_either_loader
def test_the_committed_dialogues_still_load() -> None:
    assert len(load_dialogues(DIALOGUE_DIR)) == len(list(DIALOGUE_DIR.glob("*.yaml")))


# ---------------------------------------------------------------------- old YAML cassettes


@in_either_loader
def test_an_old_yaml_cassette_with_aliases_is_refused() -> None:
    text = "version: 1\n" + laughs(top="interactions")
    with pytest.raises(CassetteFormatError, match="anchors and aliases"):
        cassette_format.deserialize(text)


@in_either_loader
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
    # The program's name before "error:" is the command's business (cli/), not this test's.
    assert ": error: refused dialogue goldens/dialogues/greeting.yaml at " in line, line
    assert "YAML anchors and aliases" in line
