"""The cassette format: indented JSON, reviewable, deterministic, round-tripping; older YAML
cassettes still read."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import vcr.serialize
import yaml
from vcr.request import Request

from foundry_goldens.cassettes import format as cassette_format
from foundry_goldens.cassettes.format import (
    CassetteFormatError,
    decode_body,
    deserialize,
    serialize,
)
from tests.paths import CASSETTE_DIR, PROJECT_ROOT

URI = "https://foundry.invalid/api/projects/recorded/openai/v1/responses?api-version=v1"


def _cassette(
    request_body: Any, response_body: Any, **response_headers: list[str]
) -> dict[str, Any]:
    return {
        "version": 1,
        "interactions": [
            {
                "request": {
                    "method": "POST",
                    "uri": URI,
                    "body": request_body,
                    "headers": {"content-type": ["application/json"]},
                },
                "response": {
                    "status": {"code": 200, "message": "OK"},
                    "headers": response_headers or {"content-type": ["application/json"]},
                    "body": {"string": response_body},
                },
            }
        ],
    }


def _stored(text: str) -> dict[str, Any]:
    interaction: dict[str, Any] = json.loads(text)["interactions"][0]
    return interaction


def test_json_bodies_are_structured_json() -> None:
    text = serialize(
        _cassette(
            '{"input": "Hi", "conversation": "conv_1", "tools": [{"type": "mcp"}]}',
            b'{"id": "resp_1", "output": [], "error": null}',
        )
    )
    stored = _stored(text)
    assert stored["request"]["body"] == {
        "json": {"input": "Hi", "conversation": "conv_1", "tools": [{"type": "mcp"}]}
    }
    assert stored["response"]["body"] == {"json": {"id": "resp_1", "output": [], "error": None}}
    assert "\\" not in text and '"string"' not in text  # no body as one escaped string
    assert '            "input": "Hi",\n' in text  # one field per line


def test_key_order_is_kept_as_recorded() -> None:
    text = serialize(_cassette('{"zeta": 1, "alpha": 2}', b"{}"))
    assert text.index("zeta") < text.index("alpha")


def test_non_ascii_text_stays_readable() -> None:
    text = serialize(_cassette('{"input": "Grüße, 東京 🚀"}', "Ça va?".encode()))
    assert "Grüße, 東京 🚀" in text
    assert "Ça va?" in text
    assert "\\u" not in text and "\\x" not in text


def test_multi_line_text_is_stored_line_by_line() -> None:
    sse = 'event: response.created\ndata: {"id":"resp_1"}\n\nevent: done\ndata: [DONE]'
    text = serialize(_cassette(None, sse.encode(), **{"content-type": ["text/event-stream"]}))
    assert _stored(text)["response"]["body"] == {
        "lines": [
            "event: response.created\n",
            'data: {"id":"resp_1"}\n',
            "\n",
            "event: done\n",
            "data: [DONE]",
        ]
    }
    assert deserialize(text)["interactions"][0]["response"]["body"]["string"] == sse


@pytest.mark.parametrize(
    "value", ["a\nb\n", "\n", "\n\n", "a\r\nb", "a\u2028b\nc", "tail\nno newline", "x\x0by\nz"]
)
def test_only_a_newline_splits_lines_and_joining_gives_the_text_back(value: str) -> None:
    stored = _stored(serialize(_cassette(None, value.encode())))["response"]["body"]
    assert "".join(stored["lines"]) == value
    assert all(line.count("\n") <= 1 and ("\n" not in line[:-1]) for line in stored["lines"])


def test_plain_text_stays_a_plain_string() -> None:
    text = serialize(_cassette("grant_type=x&scope=y", b"not json {"))
    stored = _stored(text)
    assert stored["request"]["body"] == "grant_type=x&scope=y"
    assert stored["response"]["body"] == "not json {"


def test_json_scalars_are_text_not_structure() -> None:
    stored = _stored(serialize(_cassette("42", b'"quoted"')))
    assert stored["request"]["body"] == "42"
    assert stored["response"]["body"] == '"quoted"'


def test_no_body_and_an_empty_body_differ() -> None:
    stored = _stored(serialize(_cassette(None, b"")))
    assert stored["request"]["body"] is None
    assert stored["response"]["body"] == ""


def test_only_non_utf8_bytes_are_base64() -> None:
    text = serialize(_cassette(None, b"\x89PNG\r\n\x1a\n\xff"))
    assert _stored(text)["response"]["body"] == {"base64": "iVBORw0KGgr/"}
    restored = deserialize(text)["interactions"][0]["response"]["body"]["string"]
    assert restored == b"\x89PNG\r\n\x1a\n\xff"


def test_single_header_values_are_scalars() -> None:
    text = serialize(
        _cassette(None, b"", **{"content-type": ["application/json"], "link": ["<a>", "<b>"]})
    )
    assert _stored(text)["response"]["headers"] == {
        "content-type": "application/json",
        "link": ["<a>", "<b>"],
    }
    restored = deserialize(text)["interactions"][0]["response"]["headers"]
    assert restored == {"content-type": ["application/json"], "link": ["<a>", "<b>"]}


def test_deserialize_gives_vcrpy_its_body_strings() -> None:
    text = serialize(_cassette('{"input": "é",  "n": 1.5}', b'{"ok": true}'))
    interaction = deserialize(text)["interactions"][0]
    assert interaction["request"] == {
        "method": "POST",
        "uri": URI,
        "body": '{"input":"é","n":1.5}'.encode(),  # compact, deterministic, UTF-8 kept
        "headers": {"content-type": ["application/json"]},
    }
    assert interaction["response"]["body"] == {"string": b'{"ok":true}'}
    assert interaction["response"]["status"] == {"code": 200, "message": "OK"}


def test_integers_beyond_64_bits_survive() -> None:
    big = 2**70 + 1
    text = serialize(_cassette(f'{{"n": {big}}}', f"[{big}, -{big}]".encode()))
    interaction = deserialize(text)["interactions"][0]
    assert json.loads(interaction["request"]["body"]) == {"n": big}
    assert json.loads(interaction["response"]["body"]["string"]) == [big, -big]


@pytest.mark.parametrize(
    ("request_body", "response_body"),
    [
        ('{"input": "Hi", "metadata": {"a": [1, 2.5, true, null]}}', b'{"id": "x"}'),
        (None, b"line one\nline two\n"),
        ("", b"trailing spaces  \nhere \n"),
        ("yes", b"null"),
        ('{"date": "2024-01-01", "num": "1_000", "on": "on", "empty": ""}', b"[]"),
        (b"\xff\x00", "tab\there"),
        ('{"nested": "{\\"order_id\\": \\"ORD-1\\"}"}', "Grüße\n東京\n"),
        ('{"small": 1e-07, "big": 1e+300, "neg": -0.0}', b'{"emoji": "\\ud83d\\ude80"}'),
    ],
)
def test_the_format_round_trips_its_own_output(request_body: Any, response_body: Any) -> None:
    text = serialize(_cassette(request_body, response_body))
    assert serialize(deserialize(text)) == text
    assert serialize(_cassette(request_body, response_body)) == text  # deterministic


def test_metadata_is_kept() -> None:
    cassette = {**_cassette(None, b""), "metadata": {"dialogue": "greeting"}}
    text = serialize(cassette)
    assert deserialize(text)["metadata"] == {"dialogue": "greeting"}


def test_it_plugs_into_vcrpy_serialization() -> None:
    request = Request("POST", URI, b'{"input": "Hi"}', {"content-type": "application/json"})
    response = {
        "status": {"code": 200, "message": "OK"},
        "headers": {"content-type": ["application/json"]},
        "body": {"string": b'{"id": "resp_1"}'},
    }
    text = vcr.serialize.serialize(
        {"requests": [request], "responses": [response]}, cassette_format
    )
    requests, responses = vcr.serialize.deserialize(text, cassette_format)
    assert requests[0].uri == URI
    assert requests[0].body == b'{"input":"Hi"}'
    assert responses[0]["body"]["string"] == b'{"id":"resp_1"}'


@pytest.mark.parametrize(
    "text",
    [
        "[1]\n",
        '{"version": 1}\n',
        '{"version": 1, "interactions": [{"request": {"method": "GET"}}]}\n',
        '{"version": 1, "interactions": [\n',
        '{"version": 1, "interactions": [{"request": {"method": "GET", "uri": "u", '
        '"body": {"xml": "x"}}, "response": {}}]}\n',
        "- just a list\n",
        "version: 1\n",
        "version: 1\ninteractions:\n"
        "- request: {method: GET, uri: u, body: {xml: x}}\n  response: {}\n",
        "version: [1\n",
    ],
)
def test_a_malformed_cassette_is_refused(text: str) -> None:
    with pytest.raises(CassetteFormatError):
        deserialize(text)


def test_decode_body_refuses_unknown_shapes() -> None:
    with pytest.raises(CassetteFormatError, match="json"):
        decode_body({"json": 1, "text": 2})


# -- cassettes an older version wrote as YAML ---------------------------------------------


def _as_old_yaml(data: dict[str, Any]) -> str:
    """A cassette the way versions before JSON cassettes wrote it."""
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=2**31 - 1)


@pytest.mark.parametrize("path", sorted(CASSETTE_DIR.glob("*.json")), ids=lambda p: p.stem)
def test_a_yaml_cassette_of_the_same_data_replays_the_same(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert deserialize(_as_old_yaml(json.loads(text))) == deserialize(text)


def test_the_shipped_cassettes_are_what_the_format_writes() -> None:
    paths = sorted(CASSETTE_DIR.glob("*.json"))
    assert paths and not list(CASSETTE_DIR.glob("*.yaml"))
    for path in paths:
        text = path.read_text(encoding="utf-8")
        assert serialize(deserialize(text)) == text, path.name


def test_find_cassette_prefers_json_then_an_old_yaml_one(tmp_path: Path) -> None:
    json_path, yaml_path = tmp_path / "greeting.json", tmp_path / "greeting.yaml"
    assert cassette_format.find_cassette(tmp_path, "greeting") == json_path  # to report missing
    yaml_path.write_text("version: 1\ninteractions: []\n", encoding="utf-8")
    assert cassette_format.find_cassette(tmp_path, "greeting") == yaml_path
    json_path.write_text('{"version": 1, "interactions": []}\n', encoding="utf-8")
    assert cassette_format.find_cassette(tmp_path, "greeting") == json_path


def test_a_non_ascii_golden_replays_where_the_locale_is_not_utf8() -> None:
    """Cassettes are UTF-8 whatever the machine: vcrpy's own persister read them in the
    locale's encoding, so on an ASCII (or Windows cp1252) locale the non_ascii golden's
    cassette did not decode and its replay failed."""
    environment = {
        **os.environ,
        "LC_ALL": "C",
        "PYTHONCOERCECLOCALE": "0",  # Python would otherwise switch the C locale to UTF-8
        "PYTHONUTF8": "0",
    }
    script = (
        "import locale; assert locale.getpreferredencoding(False).upper() != 'UTF-8';"
        "from foundry_goldens.goldens.dialogues import load_dialogues;"
        "from foundry_goldens.replay.replayer import replay_dialogue;"
        "from foundry_goldens.replay.session import ReplaySession;"
        "from tests.paths import DIALOGUE_DIR;"
        "[dialogue] = load_dialogues(DIALOGUE_DIR, ['non_ascii']);"
        "session = ReplaySession();"
        "result = replay_dialogue(dialogue, cassette_session=session.replaying);"
        "session.close();"
        "import sys; sys.stdout.buffer.write(result.turns[0].reply.encode('utf-8'))"
    )
    run = subprocess.run(
        [sys.executable, "-c", script],
        cwd=PROJECT_ROOT,
        env=environment,
        capture_output=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr.decode("utf-8", "replace")[-2000:]
    assert any(byte > 127 for byte in run.stdout)  # the reply's non-ASCII text came through
