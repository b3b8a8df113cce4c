"""The dialogue files' JSON Schema: generated from the pydantic models, shipped in the package,
printed by `foundry-goldens schema`, copied into projects by `init`; it agrees with the loader
(never refuses what it accepts, refuses an unknown key as it does) and every dialogue of this
repository and of the scaffold points to it and validates against it."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from foundry_goldens.cli.main import main
from foundry_goldens.goldens import schema
from foundry_goldens.goldens.dialogues import Dialogue, DialogueError, load_dialogue
from foundry_goldens.scaffold import template_root
from tests.paths import DIALOGUE_DIR, PROJECT_ROOT

CHECK_JSONSCHEMA = Path(sys.executable).parent / "check-jsonschema"
SHIPPED = PROJECT_ROOT / "foundry_goldens" / "goldens" / schema.SCHEMA_FILE
REPOSITORY_COPY = PROJECT_ROOT / schema.PROJECT_SCHEMA
SCAFFOLD_DIALOGUE = PROJECT_ROOT / "foundry_goldens/scaffold/templates/goldens/dialogues"
VALIDATOR = jsonschema.Draft202012Validator(json.loads(SHIPPED.read_text("utf-8")))


def schema_errors(document: Any) -> list[str]:
    return [error.message for error in VALIDATOR.iter_errors(document)]


def pydantic_accepts(document: Any) -> bool:
    try:
        Dialogue.model_validate(document)
    except ValueError:  # pydantic's ValidationError is one
        return False
    return True


def check_jsonschema(*paths: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CHECK_JSONSCHEMA), "--schemafile", str(SHIPPED), *map(str, paths)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


# -- one schema, everywhere ------------------------------------------------------------------


def test_the_shipped_schema_is_the_models() -> None:
    assert SHIPPED.read_text("utf-8") == schema.render(), (
        "foundry_goldens/goldens/dialogue.schema.json differs from the models in "
        "goldens/dialogues.py: run `.venv/bin/python -m foundry_goldens.goldens.schema` and "
        f"`.venv/bin/foundry-goldens schema --output {schema.PROJECT_SCHEMA}`"
    )
    assert schema.shipped_text() == SHIPPED.read_text("utf-8")  # the package resource


def test_this_repositorys_copy_is_the_shipped_schema() -> None:
    assert REPOSITORY_COPY.read_bytes() == SHIPPED.read_bytes(), (
        f"{schema.PROJECT_SCHEMA} differs from the package's: "
        f"`.venv/bin/foundry-goldens schema --output {schema.PROJECT_SCHEMA}`"
    )


def test_the_command_prints_the_shipped_schema(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema"]) == 0
    assert capsys.readouterr().out == SHIPPED.read_text("utf-8")


def test_the_command_writes_the_shipped_schema(tmp_path: Path) -> None:
    target = tmp_path / "dialogue.schema.json"
    assert main(["schema", "--output", str(target)]) == 0
    assert target.read_bytes() == SHIPPED.read_bytes()


def test_the_installed_command_prints_it_byte_for_byte() -> None:
    command = [str(Path(sys.executable).parent / "foundry-goldens"), "schema"]
    result = subprocess.run(command, capture_output=True, check=False, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout == SHIPPED.read_bytes()


def test_the_schema_is_a_valid_2020_12_schema_that_explains_every_key() -> None:
    document = json.loads(SHIPPED.read_text("utf-8"))
    jsonschema.Draft202012Validator.check_schema(document)
    assert document["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert document["description"]
    for where in [document, *document["$defs"].values()]:
        assert where["additionalProperties"] is False, where["title"]
        for key, field in where["properties"].items():
            assert field.get("description"), f"{where['title']}.{key}: no description"


# -- the dialogues point to it and validate --------------------------------------------------


def dialogue_files() -> list[Path]:
    return sorted(DIALOGUE_DIR.glob("*.yaml")) + sorted(SCAFFOLD_DIALOGUE.glob("*.yaml"))


@pytest.mark.parametrize("path", dialogue_files(), ids=lambda p: p.name)
def test_every_dialogue_points_to_the_schema_and_loads(path: Path) -> None:
    first = path.read_text("utf-8").splitlines()[0]
    assert first == schema.MODELINE, f"{path}: first line is not {schema.MODELINE!r}"
    load_dialogue(path)  # the loader reads the line as the comment it is


def test_every_dialogue_validates_with_check_jsonschema() -> None:
    result = check_jsonschema(*dialogue_files())
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_modeline_points_to_the_copy_beside_the_dialogue_directory() -> None:
    relative = schema.MODELINE.split("$schema=", 1)[1]
    assert (DIALOGUE_DIR / relative).resolve() == REPOSITORY_COPY.resolve()


def test_the_modeline_changes_nothing_the_dialogue_holds(tmp_path: Path) -> None:
    # Cassette digests (goldens/held.py) and samples are of the parsed dialogue, never its bytes.
    path = DIALOGUE_DIR / "order_lookup.yaml"
    text = path.read_text("utf-8")
    bare = tmp_path / path.name
    bare.write_text(text.removeprefix(schema.MODELINE + "\n"), "utf-8")
    assert load_dialogue(bare) == load_dialogue(path)


def yaml_strings_in_tests() -> list[str]:
    """Every string constant in tests/*.py that is YAML of a mapping with `turns`: the dialogues
    the other tests write, valid and invalid."""
    found: set[str] = set()
    for source in sorted((PROJECT_ROOT / "tests").glob("*.py")):
        for node in ast.walk(ast.parse(source.read_text("utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                text = node.value
                if "turns:" in text and "\n" in text:
                    found.add(text)
    return sorted(found)


def parsed(text: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return None


def test_the_schema_accepts_every_dialogue_the_loader_accepts_in_the_tests() -> None:
    documents = [d for d in map(parsed, yaml_strings_in_tests()) if isinstance(d, dict)]
    accepted = [d for d in documents if pydantic_accepts(d)]
    assert len(accepted) >= 10, "the test dialogues were not found"
    for document in accepted:
        assert not schema_errors(document), (document, schema_errors(document))


# Dialogues the loader may accept, then one value replaced by any value YAML gives, or a typo'd
# key added. Not a number or boolean written as a string ("5", "yes"), nor 0/1 for a boolean:
# pydantic converts those, the schema (an editor) marks them, and that difference is meant.
BOOL_WORDS = {"t", "f", "y", "n", "yes", "no", "on", "off", "true", "false"}
TEXT = st.text(st.sampled_from("abz-_ ?(.*"), max_size=6).filter(
    lambda s: s.strip().lower() not in BOOL_WORDS
)
WORDS = st.text(st.sampled_from("abz-_?"), min_size=1, max_size=6).filter(
    lambda s: s.lower() not in BOOL_WORDS
)
NAMES = st.sampled_from(["x", "get_order", "ok-1", "a_2"])
ANY = st.one_of(
    st.none(), st.booleans(), st.integers(-3, 99).filter(lambda n: n not in (0, 1)),
    TEXT, st.lists(TEXT, max_size=2), st.dictionaries(NAMES, TEXT, max_size=2),
)  # fmt: skip
CALL = st.one_of(
    NAMES,
    st.fixed_dictionaries(
        {"name": NAMES},
        optional={
            "arguments": st.dictionaries(NAMES, ANY, max_size=2),
            "arguments_include": st.dictionaries(NAMES, ANY, max_size=2),
        },
    ),
)
EXPECT = st.fixed_dictionaries(
    {},
    optional={
        "tools": st.lists(NAMES, max_size=2),
        "calls": st.lists(CALL, max_size=2),
        "calls_in_order": st.lists(CALL, max_size=2),
        "tools_not_called": st.lists(NAMES, max_size=2),
        "reply_contains": st.lists(TEXT, max_size=2),
        "reply_not_matches": st.lists(WORDS, max_size=2),
        "tool_output_contains": st.dictionaries(NAMES, st.lists(WORDS, max_size=2), max_size=2),
        "refusal": st.one_of(st.none(), st.booleans()),
        "max_prompt_tokens": st.one_of(st.none(), st.integers(0, 10**6)),
        "min_completion_tokens": st.integers(0, 5),
    },
) | st.fixed_dictionaries(
    {"error": st.fixed_dictionaries({}, optional={"code": NAMES, "message_contains": TEXT})}
)
TURN = st.fixed_dictionaries({"user": WORDS}, optional={"expect": EXPECT})
DIALOGUE = st.fixed_dictionaries(
    {"name": NAMES, "turns": st.lists(TURN, min_size=1, max_size=3)},
    optional={
        "description": TEXT,
        "agent": NAMES,
        "request_mode": st.sampled_from(["echo", "rebuild"]),
        "system": WORDS,
    },
)


def mappings(value: Any) -> list[dict[str, Any]]:
    """Every mapping of a dialogue document, the document itself first."""
    if isinstance(value, dict):
        return [value, *(m for v in value.values() for m in mappings(v))]
    if isinstance(value, list):
        return [m for v in value for m in mappings(v)]
    return []


def model_mappings(document: dict[str, Any]) -> list[dict[str, Any]]:
    """The mappings of `document` that are models (a dialogue, turn, expect, call or error),
    not free-form (a call's arguments, tool_output_contains)."""
    found = [document]
    for turn in document["turns"] if isinstance(document.get("turns"), list) else []:
        expect = turn.get("expect") if isinstance(turn, dict) else None
        found += [turn] if isinstance(turn, dict) else []
        if isinstance(expect, dict):
            calls = [*expect.get("calls", []), *expect.get("calls_in_order", [])]
            found += [expect, *(c for c in calls if isinstance(c, dict))]
            found += [expect["error"]] if isinstance(expect.get("error"), dict) else []
    return found


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_the_schema_never_refuses_what_the_loader_accepts(data: st.DataObject) -> None:
    document = data.draw(DIALOGUE)
    typo = False
    if data.draw(st.booleans()):  # one value replaced or one key added
        place = data.draw(st.sampled_from(mappings(document)))
        key = data.draw(st.sampled_from([*place, "typo"]))
        typo = key == "typo" and any(place is m for m in model_mappings(document))
        place[key] = data.draw(ANY)
    if pydantic_accepts(document):
        assert not schema_errors(document), schema_errors(document)
    if typo:
        assert not pydantic_accepts(document) and schema_errors(document)


# -- a wrong file fails both -----------------------------------------------------------------

TYPOS = [
    ("top level", "name: typo\ndescriptoin: x\nturns:\n  - user: hi\n", "descriptoin"),
    ("turn", "name: typo\nturns:\n  - user: hi\n    expct: {}\n", "expct"),
    ("expect", "name: typo\nturns:\n  - user: hi\n    expect: {tool: [a]}\n", "tool"),
    (
        "call",
        "name: typo\nturns:\n  - user: hi\n    expect:\n"
        "      calls: [{name: get_order, argument: {id: 1}}]\n",
        "argument",
    ),
    (
        "error",
        "name: typo\nturns:\n  - user: hi\n    expect: {error: {cod: server_error}}\n",
        "cod",
    ),
]


@pytest.mark.parametrize(("where", "text", "key"), TYPOS, ids=[t[0] for t in TYPOS])
def test_a_typod_key_fails_the_loader_and_the_schema(
    tmp_path: Path, where: str, text: str, key: str
) -> None:
    path = tmp_path / "typo.yaml"
    path.write_text(f"{schema.MODELINE}\n{text}", "utf-8")
    with pytest.raises(DialogueError) as error:
        load_dialogue(path)
    message = str(error.value)
    assert f".{key}: unknown key" in message or f"- {key}: unknown key" in message
    assert "docs/contracts.md" not in message  # not in the wheel, nor in a team's project
    assert "allowed here: " in message and "foundry-goldens schema" in message
    assert '"Dialogue files"' in message
    assert schema_errors(yaml.safe_load(text))
    result = check_jsonschema(path)
    # Where a value may be one of two things (a call: a name or a mapping) the report names
    # the value, not the key.
    assert result.returncode == 1 and f"'{key}'" in result.stdout, result.stdout


def test_the_unknown_key_error_lists_the_keys_of_its_place_and_the_nearest(
    tmp_path: Path,
) -> None:
    path = tmp_path / "typo.yaml"
    path.write_text("name: typo\nturns:\n  - user: hi\n    expect: {tool: [a]}\n", "utf-8")
    with pytest.raises(DialogueError) as error:
        load_dialogue(path)
    line = str(error.value).splitlines()[1]
    assert line.startswith("  - turns[0].expect.tool: unknown key; did you mean tools? ")
    assert "allowed here: tools, calls, calls_in_order, tools_not_called, " in line
    assert line.endswith("(turn 1)")
    path.write_text("name: typo\nturns:\n  - user: hi\n    expect: {zzz: 1}\n", "utf-8")
    with pytest.raises(DialogueError, match=r"expect\.zzz: unknown key; allowed here: tools,"):
        load_dialogue(path)


@pytest.mark.parametrize(
    "text",
    [
        "name: Bad Name\nturns:\n  - user: hi\n",
        "name: x\nagent: two words\nturns:\n  - user: hi\n",
        "name: x\nsystem: '  '\nturns:\n  - user: hi\n",
        "name: x\nturns:\n  - user: '   '\n",
        "name: x\nrequest_mode: aigo\nturns:\n  - user: hi\n",
        "name: x\nrequest_mode: replay\nturns:\n  - user: hi\n",
        "name: x\nturns: []\n",
        "name: x\nturns:\n  - user: hi\n    expect: {max_prompt_tokens: -1}\n",
        "name: x\nturns:\n  - user: hi\n    expect: {tools: get_order}\n",
    ],
)
def test_what_the_validators_refuse_the_schema_refuses_too(text: str) -> None:
    document = yaml.safe_load(text)
    assert not pydantic_accepts(document)
    assert schema_errors(document)


# -- the documentation's examples are dialogues ----------------------------------------------


def yaml_blocks_after(markdown: str, heading: str) -> list[str]:
    section = markdown.split(heading, 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```yaml\n(.*?)```", section, flags=re.DOTALL)


@pytest.mark.parametrize(
    "readme",
    [PROJECT_ROOT / "README.md", Path(str(template_root().joinpath("README.md")))],
    ids=["README", "scaffold README"],
)
def test_the_dialogue_files_section_documents_every_key_with_a_valid_example(
    readme: Path,
) -> None:
    text = readme.read_text("utf-8")
    (example,) = yaml_blocks_after(text, "## Dialogue files\n")
    assert example.startswith(schema.MODELINE + "\n")
    document = yaml.safe_load(example)
    assert pydantic_accepts(document) and not schema_errors(document)
    assert any(turn.get("expect") for turn in document["turns"])
    section = text.split("## Dialogue files\n", 1)[1]
    defs = json.loads(SHIPPED.read_text("utf-8"))["$defs"]
    keys = [*Dialogue.model_fields, *defs["Turn"]["properties"]]
    keys += [*defs["TurnExpectations"]["properties"], *defs["ToolCallExpectation"]["properties"]]
    keys += defs["ErrorExpectation"]["properties"]
    for key in keys:
        assert re.search(rf"\b{key}\b", section), f"{readme}: {key} is not described"
