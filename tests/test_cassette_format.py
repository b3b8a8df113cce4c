"""The readable-yaml cassette format: reviewable, deterministic, round-tripping."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import vcr.serialize
import yaml
import yaml_rs
from vcr.request import Request

from harness import cassette_format
from harness.cassette_format import CassetteFormatError, decode_body, deserialize, serialize
from harness.paths import CASSETTE_DIR

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
    interaction: dict[str, Any] = yaml.safe_load(text)["interactions"][0]
    return interaction


def test_json_bodies_are_structured_yaml() -> None:
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
    assert "\\" not in text and "string:" not in text
    assert "      input: Hi\n" in text


def test_key_order_is_kept_as_recorded() -> None:
    text = serialize(_cassette('{"zeta": 1, "alpha": 2}', b"{}"))
    assert text.index("zeta") < text.index("alpha")


def test_non_ascii_text_stays_readable() -> None:
    text = serialize(_cassette('{"input": "Grüße, 東京 🚀"}', "Ça va?".encode()))
    assert "Grüße, 東京 🚀" in text
    assert "Ça va?" in text
    assert "\\u" not in text and "\\x" not in text


def test_multi_line_text_uses_block_style() -> None:
    sse = 'event: response.created\ndata: {"id":"resp_1"}\n\nevent: done\ndata: [DONE]\n\n'
    text = serialize(_cassette(None, sse.encode(), **{"content-type": ["text/event-stream"]}))
    assert "body: |" in text
    assert "    event: response.created\n" in text
    assert _stored(text)["response"]["body"] == sse


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
    assert "!!binary" not in text
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


def test_long_lines_are_never_folded() -> None:
    long_text = " ".join(["word"] * 200)
    text = serialize(_cassette(f'{{"input": "{long_text}"}}', b"{}"))
    assert f"input: {long_text}\n" in text


def test_deserialize_gives_vcrpy_its_body_strings() -> None:
    text = serialize(_cassette('{"input": "é",  "n": 1.5}', b'{"ok": true}'))
    interaction = deserialize(text)["interactions"][0]
    assert interaction["request"] == {
        "method": "POST",
        "uri": URI,
        "body": '{"input":"é","n":1.5}',  # compact, deterministic, UTF-8 kept
        "headers": {"content-type": ["application/json"]},
    }
    assert interaction["response"]["body"] == {"string": '{"ok":true}'}
    assert interaction["response"]["status"] == {"code": 200, "message": "OK"}


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
        "- just a list\n",
        "version: 1\n",
        "version: 1\ninteractions:\n"
        "- request: {method: GET, uri: u, body: {xml: x}}\n  response: {}\n",
    ],
)
def test_a_malformed_cassette_is_refused(text: str) -> None:
    with pytest.raises(CassetteFormatError):
        deserialize(text)


def test_decode_body_refuses_unknown_shapes() -> None:
    with pytest.raises(CassetteFormatError, match="json"):
        decode_body({"json": 1, "text": 2})


def _both_emitters(data: Any) -> tuple[str, str]:
    return (
        yaml.dump(data, Dumper=cassette_format._FastDumper, **_DUMP_OPTIONS),
        yaml.dump(data, Dumper=cassette_format._Dumper, **_DUMP_OPTIONS),
    )


_DUMP_OPTIONS: dict[str, Any] = {
    "sort_keys": False,
    "allow_unicode": True,
    "default_flow_style": False,
    "width": 2**31 - 1,
    "indent": 2,
}


def test_libyaml_matches_the_pure_emitter_on_every_bmp_character_it_is_trusted_with() -> None:
    # Recording uses libyaml's emitter when _libyaml_writes_the_same says it may; goldens must
    # not depend on which emitter ran. Sweep the BMP as values, keys and block text.
    differing = []
    for start in range(0, 0x10000, 32):
        chars = "".join(chr(c) for c in range(start, start + 32) if not 0xD800 <= c <= 0xDFFF)
        for text in (chars, f"a {chars} b", f"{chars}\nnext line\n", f" {chars}\n"):
            data = {"value": text, text: [text]}
            if not cassette_format._libyaml_writes_the_same(data):
                continue
            fast, pure = _both_emitters(data)
            if fast != pure:
                differing.append((hex(start), text[:8]))
    assert differing == []


@pytest.mark.parametrize(
    "data",
    [{"note": "emoji 🚀"}, {"note": "nel\x85here"}, {"key\rwith cr": 1}, {"": 1}],
    ids=["beyond-bmp", "nel", "cr-in-key", "empty-key"],
)
def test_text_where_the_emitters_differ_goes_to_the_pure_one(data: dict[str, Any]) -> None:
    assert not cassette_format._libyaml_writes_the_same(data)
    fast, pure = _both_emitters(data)
    assert fast != pure  # the guard is needed, not decorative
    cassette = {"version": 1, "interactions": [], **data}
    assert serialize(cassette) == serialize(cassette, pure=True)


@pytest.mark.parametrize("path", sorted(CASSETTE_DIR.glob("*.yaml")), ids=lambda p: p.stem)
def test_shipped_cassettes_are_written_the_same_by_both_emitters(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    loaded = deserialize(text)
    assert serialize(loaded) == serialize(loaded, pure=True) == text


# -- loading: yaml_rs (YAML 1.2) only where it reads what PyYAML (YAML 1.1) reads ------------


def _pyyaml(text: str) -> Any:
    return yaml.load(text, Loader=yaml.CSafeLoader)


def _same(a: Any, b: Any) -> bool:
    """Equal, and equal in type at every level (1 == 1.0 == True in Python)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and (a == b or (isinstance(a, float) and repr(a) == repr(b)))


@pytest.mark.parametrize("path", sorted(CASSETTE_DIR.glob("*.yaml")), ids=lambda p: p.stem)
def test_shipped_cassettes_load_as_pyyaml_reads_them(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert _same(cassette_format.load_yaml(text), _pyyaml(text))


def test_the_fast_loader_reads_most_shipped_cassettes() -> None:
    texts = [path.read_text(encoding="utf-8") for path in sorted(CASSETTE_DIR.glob("*.yaml"))]
    fast = [text for text in texts if cassette_format._fast_load(text) is not None]
    assert len(fast) >= len(texts) * 3 // 4  # else the speed-up is gone (the guard too wary)


# Plain scalars YAML 1.1 and 1.2 (or yaml_rs) read differently, as values, keys and items.
READ_APART = ["yes", "No", "on", "OFF", "y", "1e3", "1.5e3", "0o17", "0755", "1:20", "1_000",
              "2024-01-01", "2024-01-01 10:00:00", "=", "<<", "0b101", "+.inf", "-.5", "1.",
              "0x1F", "12345678901234567890", ".NaN"]  # fmt: skip


@pytest.mark.parametrize("scalar", READ_APART)
@pytest.mark.parametrize(
    "template",
    ["version: 1\nvalue: {s}\n", "version: 1\n{s}: 1\n", "items:\n- {s}\n- - {s}\n",
     "a:\n  b:\n  - c: 1\n    d: {s}\n", "? {s}\n: 1\n", "'q': {s}\n", "\"q\": {s}\n",
     "- 'it''s': {s}\n"],
)  # fmt: skip
def test_ambiguous_plain_scalars_are_read_as_pyyaml_reads_them(scalar: str, template: str) -> None:
    text = template.format(s=scalar)
    try:
        expected = _pyyaml(text)
    except yaml.YAMLError:  # e.g. `=` as a key: PyYAML's error, as before
        with pytest.raises(yaml.YAMLError):
            cassette_format.load_yaml(text)
        return
    assert _same(cassette_format.load_yaml(text), expected)


def test_the_guard_is_needed_not_decorative() -> None:
    apart = []
    for scalar in READ_APART:
        text = f"k: {scalar}\n"
        try:
            if not _same(yaml_rs.loads(text), _pyyaml(text)):
                apart.append(scalar)
        except yaml.YAMLError:  # `=`: PyYAML has no constructor for it, yaml_rs reads a string
            apart.append(scalar)
    assert len(apart) >= 10, apart


@pytest.mark.parametrize("text", [*READ_APART, "true", "null", "12", "-3.25", "1.0e-05"])
def test_strings_written_by_the_format_load_back_as_strings(text: str) -> None:
    cassette = _cassette(json.dumps({"text": text, text: [text]}), text)
    written = serialize(cassette)
    assert _same(cassette_format.load_yaml(written), _pyyaml(written))
    assert deserialize(written)["interactions"][0]["response"]["body"]["string"] == text


def test_fast_loading_matches_pyyaml_on_every_bmp_character() -> None:
    # Escapes, quoting styles, block text: whatever the emitter writes, both read the same.
    differing = []
    for start in range(0, 0x10000, 32):
        chars = "".join(chr(c) for c in range(start, start + 32) if not 0xD800 <= c <= 0xDFFF)
        for text in (chars, f"a {chars} b", f"{chars}\nnext line\n", f" {chars}\n"):
            written = serialize({"version": 1, "interactions": [], "value": text, text: [text]})
            if not _same(cassette_format.load_yaml(written), _pyyaml(written)):
                differing.append((hex(start), text[:8]))
    assert differing == []


def test_a_quoted_value_holding_a_key_and_scalar_loads_fast() -> None:
    text = "version: 1\nk: 'a: 1e3'\nj: \"b: yes\"\n"
    assert cassette_format._fast_load(text) == {"version": 1, "k": "a: 1e3", "j": "b: yes"}
    assert _same(cassette_format.load_yaml(text), _pyyaml(text))


def test_duplicate_keys_are_left_to_pyyaml() -> None:
    text = "version: 1\nversion: 2\ninteractions: []\n"
    assert cassette_format._fast_load(text) is None
    assert cassette_format.load_yaml(text) == {"version": 2, "interactions": []}
