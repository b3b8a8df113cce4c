"""Golden dialogue files: a bad file gets an error naming the file and the field."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from foundry_goldens.goldens.dialogues import DialogueError, load_dialogue, load_dialogues
from tests.paths import DIALOGUE_DIR


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / f"{name}.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_valid_dialogue_loads_with_expectations(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "lookup",
        "name: lookup\ndescription: d\nagent: retail-support\nturns:\n"
        "  - user: Hi\n  - user: ORD-1\n    expect:\n      tools: [get_order]\n"
        "      reply_contains: [shipped]\n",
    )
    dialogue = load_dialogue(path)
    assert dialogue.agent == "retail-support"
    assert [t.user for t in dialogue.turns] == ["Hi", "ORD-1"]
    assert dialogue.turns[1].expect.tools == ["get_order"]
    assert dialogue.turns[1].expect.reply_contains == ["shipped"]


@pytest.mark.parametrize(
    ("text", "field", "says"),
    [
        ("name: bad\nturns:\n  - user: hi\n    expct: {}\n", "turns[0].expct", "unknown key"),
        ("name: bad\nturns:\n  - user: '   '\n", "turns[0].user", "empty"),
        ("name: bad\nturns: []\n", "turns", "at least 1"),
        ("name: bad\n", "turns", "required field is missing"),
        ("name: bad\ntunrs: []\nturns:\n  - user: hi\n", "tunrs", "unknown key"),
        (
            "name: bad\nturns:\n  - user: hi\n    expect:\n      tools: get_order\n",
            "turns[0].expect.tools",
            "list",
        ),
    ],
)
def test_invalid_dialogue_names_file_and_field(
    tmp_path: Path, text: str, field: str, says: str
) -> None:
    path = write(tmp_path, "bad", text)
    with pytest.raises(DialogueError) as error:
        load_dialogue(path)
    message = str(error.value)
    assert str(path) in message
    assert f"{field}:" in message
    assert says in message


def test_name_must_match_file(tmp_path: Path) -> None:
    path = write(tmp_path, "one", "name: two\nturns:\n  - user: hi\n")
    with pytest.raises(DialogueError, match=r"one\.yaml: name: 'two' does not match"):
        load_dialogue(path)


def test_duplicate_names_are_refused(tmp_path: Path) -> None:
    write(tmp_path, "same", "name: same\nturns:\n  - user: hi\n")
    (tmp_path / "same.yml").write_text("name: same\nturns:\n  - user: hi\n", encoding="utf-8")
    with pytest.raises(DialogueError, match="duplicate dialogue name 'same'"):
        load_dialogues(tmp_path)


def test_not_yaml_and_not_a_mapping(tmp_path: Path) -> None:
    with pytest.raises(DialogueError, match="not valid YAML"):
        load_dialogue(write(tmp_path, "broken", "name: [unclosed\n"))
    with pytest.raises(DialogueError, match="expected a mapping"):
        load_dialogue(write(tmp_path, "listy", "- user: hi\n"))


def test_only_selects_and_unknown_names_are_reported(tmp_path: Path) -> None:
    write(tmp_path, "a", "name: a\nturns:\n  - user: hi\n")
    write(tmp_path, "b", "name: b\nturns:\n  - user: hi\n")
    assert [d.name for d in load_dialogues(tmp_path, ["b"])] == ["b"]
    with pytest.raises(DialogueError, match="no dialogue named zzz; known: a, b"):
        load_dialogues(tmp_path, ["zzz"])


def test_shipped_dialogues_are_valid_and_cover_the_required_scenarios() -> None:
    dialogues = load_dialogues(DIALOGUE_DIR)
    assert len(dialogues) >= 8
    assert any(len(d.turns) >= 8 for d in dialogues), "a long conversation of 8+ turns"
    assert any(any(not t.user.isascii() for t in d.turns) for d in dialogues), "non-ASCII text"


@pytest.mark.parametrize("name", ["nl\n", "with space", " lead", "tab\there", "Upper"])
def test_names_with_whitespace_or_line_breaks_are_rejected(tmp_path: Path, name: str) -> None:
    path = tmp_path / "nl.yaml"
    path.write_text(yaml.safe_dump({"name": name, "turns": [{"user": "hi"}]}), encoding="utf-8")
    with pytest.raises(DialogueError, match=r"nl\.yaml[\s\S]*name: .*not a valid dialogue name"):
        load_dialogue(path)


def test_an_agent_with_a_line_break_is_rejected(tmp_path: Path) -> None:
    path = write(tmp_path, "a", 'name: a\nagent: "retail-support\\n"\nturns:\n  - user: hi\n')
    with pytest.raises(DialogueError, match=r"a\.yaml[\s\S]*agent: .*not an agent name"):
        load_dialogue(path)


def test_a_file_that_is_not_utf8_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "latin.yaml"
    path.write_bytes("name: latin\nturns:\n  - user: Grüße\n".encode("latin-1"))
    with pytest.raises(DialogueError, match=r"latin\.yaml: not UTF-8 text.*save it as UTF-8"):
        load_dialogues(tmp_path)


def test_a_directory_named_like_a_dialogue_is_named(tmp_path: Path) -> None:
    (tmp_path / "x.yaml").mkdir()
    with pytest.raises(DialogueError, match=r"x\.yaml: is a directory"):
        load_dialogues(tmp_path)


def test_a_missing_dialogue_directory_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(DialogueError, match=r"nonexistent: no such dialogue directory"):
        load_dialogues(tmp_path / "nonexistent")


def test_an_empty_dialogue_directory_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(DialogueError, match="no dialogues"):
        load_dialogues(tmp_path)


def test_only_naming_an_unknown_dialogue_lists_the_known_ones(tmp_path: Path) -> None:
    write(tmp_path, "greeting", "name: greeting\nturns:\n  - user: hi\n")
    with pytest.raises(DialogueError, match="no dialogue named nope; known: greeting"):
        load_dialogues(tmp_path, ["nope"])
