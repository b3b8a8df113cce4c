"""jsontext writes what the standard library would, only faster (see its docstring)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from foundry_goldens.jsontext import compact, indented, loads
from tests.paths import CASSETTE_DIR, SNAPSHOT_DIR


def _stdlib_indented(data: Any) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def _stdlib_compact(data: Any) -> bytes:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def test_every_code_point_is_written_as_the_standard_library_writes_it() -> None:
    differing = []
    for start in range(0, 0x110000, 64):
        chars = "".join(chr(c) for c in range(start, start + 64) if not 0xD800 <= c <= 0xDFFF)
        data = {"value": chars, chars: [chars, f" {chars}\n"]}
        if indented(data) != _stdlib_indented(data) or compact(data) != _stdlib_compact(data):
            differing.append(hex(start))
    assert differing == []


@pytest.mark.parametrize(
    "path",
    [*sorted(SNAPSHOT_DIR.glob("*.json")), *sorted(CASSETTE_DIR.glob("*.json"))],
    ids=lambda p: f"{p.parent.name}/{p.stem}",
)
def test_shipped_goldens_are_written_as_the_standard_library_writes_them(path: Path) -> None:
    data = json.loads(path.read_text(encoding="utf-8"))
    assert indented(data) == _stdlib_indented(data) == path.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    "data",
    [
        {"empty": {}, "none": [], "nested": [[], {}], "n": [0, -1, 2**63 - 1, 2**64 - 1]},
        {"floats": [0.1, 1.5, -0.0, 1e16, 1e300, 123456.789]},
        [True, False, None, "", "\u2028\u2029\x7f\x00\x1f"],
    ],
)
def test_values_are_written_as_the_standard_library_writes_them(data: Any) -> None:
    assert indented(data) == _stdlib_indented(data)
    assert compact(data) == _stdlib_compact(data)


@pytest.mark.parametrize("data", [{"n": 2**64}, {"n": -(2**70)}, {1: "integer key"}])
def test_what_orjson_refuses_is_written_by_the_standard_library(data: Any) -> None:
    assert indented(data) == _stdlib_indented(data)
    assert compact(data) == _stdlib_compact(data)


def test_a_float_with_a_small_exponent_is_not_padded_and_reads_back_the_same() -> None:
    # The one documented difference from json.dumps: 1e-07 is written 1e-7.
    assert json.loads(indented({"x": 1e-7})) == {"x": 1e-7}
    assert compact({"x": 1e-7}) == b'{"x":1e-7}'


@pytest.mark.parametrize(
    "text",
    [
        '{"n": 18446744073709551616, "m": -123456789012345678901234567890}',  # beyond 64 bits
        '{"id": "conv_1234567890123456789012"}',  # a long digit run inside a string
        '{"x": NaN, "y": Infinity}',  # orjson refuses these; json reads them
        '{"small": 1e-07, "u64": 18446744073709551615, "text": "Grüße 🚀"}',
        "[]",
    ],
)
def test_loads_reads_what_json_loads_reads(text: str) -> None:

    expected = json.loads(text)
    got = loads(text)
    assert json.dumps(got) == json.dumps(expected)  # NaN != NaN: compare the text


@pytest.mark.parametrize("path", sorted(CASSETTE_DIR.glob("*.json")), ids=lambda p: p.stem)
def test_loads_reads_every_shipped_cassette_as_json_loads_does(path: Path) -> None:

    text = path.read_text(encoding="utf-8")
    assert loads(text) == json.loads(text)


def test_loads_raises_a_value_error_on_broken_json() -> None:

    with pytest.raises(ValueError):
        loads('{"version": 1,')
