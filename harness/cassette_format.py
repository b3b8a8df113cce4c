"""A vcrpy serializer that keeps cassettes reviewable in a pull-request diff.

vcrpy's own YAML serializer stores every body as one escaped string (or as
``!!binary`` base64), so a one-word change in a request shows up as a changed
line hundreds of characters long. Here a body is stored as what it is:

- JSON (an object or an array) as structured YAML under ``json:``;
- other text as a plain string, in block style (``|``) when it has several lines;
- ``null`` when there is no body;
- only bytes that are not UTF-8 under ``base64:`` (no Foundry traffic has any).

Headers with one value are stored as a scalar instead of vcrpy's one-item list.

Register it on a VCR instance with
``my_vcr.register_serializer(SERIALIZER_NAME, harness.cassette_format)``.
The output is deterministic (keys in recorded order, no line folding, UTF-8
text as is) and ``serialize(deserialize(text)) == text`` for any text this
module wrote. A JSON body comes back from a cassette re-encoded compactly,
which is what replay serves and what the ``json_body`` matcher compares.
"""

from __future__ import annotations

import base64
import functools
import json
import re
from collections.abc import Mapping
from typing import Any

import yaml

SERIALIZER_NAME = "readable-yaml"

try:  # libyaml only makes loading faster; its result is the same as the pure loader's.
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - depends on how PyYAML was built
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

try:  # a Rust YAML parser, fifteen times faster than libyaml + PyYAML's constructor
    import yaml_rs
except ImportError:  # pragma: no cover - an optional speed-up
    yaml_rs = None  # type: ignore[assignment]


class CassetteFormatError(ValueError):
    """A cassette file that does not have the shape this format writes."""


class _Dumper(yaml.SafeDumper):
    """Safe YAML with multi-line strings in block style (the reference emitter)."""

    def ignore_aliases(self, data: Any) -> bool:
        # Two equal bodies must both be written out, not as &anchor / *alias.
        return True


try:
    from yaml import CSafeDumper as _CBase
except ImportError:  # pragma: no cover - depends on how PyYAML was built
    _CBase = None  # type: ignore[assignment,misc]


if _CBase is not None:

    class _FastDumper(_CBase):
        """libyaml's emitter: the same bytes as `_Dumper` for the text it is given (see
        `_libyaml_writes_the_same`), thirty times faster; the emitter was most of a
        recording's CPU time."""

        def ignore_aliases(self, data: Any) -> bool:
            return True


# Where libyaml and the pure emitter differ (tests/test_cassette_format.py sweeps every
# BMP code point as a value and as a key): characters beyond the BMP, NEL, CR in keys,
# and empty keys.
_EMITTERS_DIFFER = re.compile("[\r\x85\U00010000-\U0010ffff]")


def _libyaml_writes_the_same(data: Any) -> bool:
    if isinstance(data, str):
        return not _EMITTERS_DIFFER.search(data)
    if isinstance(data, dict):
        return all(
            key != "" and _libyaml_writes_the_same(key) and _libyaml_writes_the_same(value)
            for key, value in data.items()
        )
    if isinstance(data, list):
        return all(_libyaml_writes_the_same(item) for item in data)
    return True


def _represent_str(dumper: Any, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _represent_str)
if _CBase is not None:
    _FastDumper.add_representer(str, _represent_str)


# -- bodies -----------------------------------------------------------------


def _as_bytes_or_text(body: Any) -> str | bytes | None:
    """vcrpy hands over bodies as str, bytes, a file-like object or a list of chunks."""
    if body is None or isinstance(body, str | bytes):
        return body
    if isinstance(body, bytearray):
        return bytes(body)
    if hasattr(body, "read"):
        return _as_bytes_or_text(body.read())
    if isinstance(body, list | tuple):
        chunks = [c.encode("utf-8") if isinstance(c, str) else bytes(c) for c in body]
        return b"".join(chunks)
    raise CassetteFormatError(f"cannot store a body of type {type(body).__name__}")


def encode_body(body: Any) -> Any:
    """The YAML value that stores one body (see the module docstring)."""
    value = _as_bytes_or_text(body)
    if value is None:
        return None
    if isinstance(value, bytes):
        try:
            text = value.decode("utf-8")
        except UnicodeDecodeError:
            return {"base64": base64.b64encode(value).decode("ascii")}
    else:
        text = value
    parsed = _parse_json_container(text)
    if parsed is not None:
        return {"json": parsed}
    return text


def decode_body(stored: Any) -> str | bytes | None:
    """The body vcrpy needs back from a stored value: text, bytes or None."""
    if stored is None or isinstance(stored, str):
        return stored
    if isinstance(stored, Mapping) and len(stored) == 1:
        if "json" in stored:
            return encode_json(stored["json"])
        if "base64" in stored:
            return base64.b64decode(stored["base64"])
    raise CassetteFormatError(
        f"a body must be null, a string, {{json: ...}} or {{base64: ...}}, not {stored!r:.80}"
    )


def encode_json(value: Any) -> str:
    """Compact, deterministic JSON: key order as given, non-ASCII kept as is."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _parse_json_container(text: str) -> Any:
    """The parsed JSON object or array in ``text``, or None when it holds neither."""
    stripped = text.lstrip()
    if not stripped.startswith(("{", "[")):
        return None
    try:
        parsed = json.loads(text)
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict | list) else None


# -- headers ----------------------------------------------------------------


def _encode_headers(headers: Mapping[str, Any]) -> dict[str, Any]:
    encoded: dict[str, Any] = {}
    for name, values in headers.items():
        if isinstance(values, list | tuple):
            encoded[name] = values[0] if len(values) == 1 else list(values)
        else:
            encoded[name] = values
    return encoded


def _decode_headers(headers: Mapping[str, Any] | None) -> dict[str, list[Any]]:
    return {
        name: list(values) if isinstance(values, list) else [values]
        for name, values in (headers or {}).items()
    }


# -- interactions -----------------------------------------------------------


def _encode_request(request: Mapping[str, Any]) -> dict[str, Any]:
    encoded: dict[str, Any] = {"method": request["method"], "uri": request["uri"]}
    encoded["headers"] = _encode_headers(request.get("headers") or {})
    encoded["body"] = encode_body(request.get("body"))
    return encoded


def _decode_request(request: Mapping[str, Any]) -> dict[str, Any]:
    # vcrpy builds Request(**this), so exactly these four keys.
    return {
        "method": request["method"],
        "uri": request["uri"],
        "body": decode_body(request.get("body")),
        "headers": _decode_headers(request.get("headers")),
    }


def _encode_response(response: Mapping[str, Any]) -> dict[str, Any]:
    encoded: dict[str, Any] = {}
    for key, value in response.items():
        if key == "headers":
            encoded["headers"] = _encode_headers(value or {})
        elif key == "body":
            body = value.get("string") if isinstance(value, Mapping) else value
            encoded["body"] = encode_body(body)
        else:
            encoded[key] = value
    return encoded


def _decode_response(response: Mapping[str, Any]) -> dict[str, Any]:
    decoded: dict[str, Any] = {}
    for key, value in response.items():
        if key == "headers":
            decoded["headers"] = _decode_headers(value)
        elif key == "body":
            decoded["body"] = {"string": decode_body(value)}
        else:
            decoded[key] = value
    decoded.setdefault("headers", {})
    decoded.setdefault("body", {"string": ""})
    return decoded


def serialize(cassette_dict: Mapping[str, Any], *, pure: bool = False) -> str:
    """vcrpy serializer hook: ``{"version", "interactions", ["metadata"]}`` to YAML text."""
    data: dict[str, Any] = {}
    for key, value in cassette_dict.items():
        if key == "interactions":
            data[key] = [
                {
                    "request": _encode_request(interaction["request"]),
                    "response": _encode_response(interaction["response"]),
                }
                for interaction in value
            ]
        else:
            data[key] = value
    fast = _CBase is not None and not pure and _libyaml_writes_the_same(data)
    text: str = yaml.dump(
        data,
        Dumper=_FastDumper if fast else _Dumper,
        sort_keys=False,
        allow_unicode=True,
        default_flow_style=False,
        width=2**31 - 1,  # never fold a long line: a fold moves when one word changes
        indent=2,
    )
    return text


# -- loading fast -------------------------------------------------------------
#
# Parsing a cassette was a third of a replayed test. yaml_rs reads YAML 1.2, PyYAML YAML 1.1:
# they agree on everything this module writes except plain scalars that one of them resolves
# to something else than a string (`yes`, `1e3`, `0o17`, `0755`, `1:20`, dates...), and on a
# few line-break characters. `_fast_load` is used only when the text has none of either;
# otherwise (and whenever yaml_rs fails) PyYAML reads it, as before.

# Characters the two read differently as line breaks or whitespace.
_BREAKS_APART = re.compile("[\t\r\x85\u2028\u2029\ufeff]")
# Where a plain scalar can start on a line (indentation, `- `, `? `, `: `, or after `key: `),
# when it starts like a number or an indicator, or is one of YAML 1.1's or 1.2's words for
# booleans and null.
_SCALAR = (
    r"(?:-(?! )|[+.0-9~!&*%@`{\[>|,#=<])"
    r"|(?:[yY](?:es|ES)?|[nN](?:o|O)?|[oO](?:n|N|ff|FF)|[tT](?:rue|RUE)|[fF](?:alse|ALSE)"
    r"|[nN](?:ull|ULL))(?=: |:$|$)"
)
# Two patterns, each led by a literal (a line break, `: `) that re finds fast.
_PLAIN_CANDIDATES = (
    # A key or an item: at the start of a line, after indentation and `- `/`? `/`: `.
    re.compile(rf"(?m)\n *(?:[-?:] )*((?:{_SCALAR})[^\n]*?)(?=: |:$|$)"),
    # A value: after `: `, to the end of the line (a plain value never holds `: `); the `: `
    # may also be inside a quoted value (`_plain` tells).
    re.compile(rf"(?m): ((?:{_SCALAR})(?:(?!: )[^\n])*)$"),
)
_KEY = re.compile(r" *(?:[-?:] )*(?:'(?:[^'\n]|'')*'|\"(?:[^\"\\\n]|\\.)*\"|(?:(?!: )[^\n'\"])+)")
# Plain scalars both read the same: decimal integers and floats as PyYAML writes them.
_READ_ALIKE = re.compile(
    r"-?(?:0|[1-9][0-9]{0,17})(?:\.[0-9]+(?:e[-+][0-9]+)?)?|true|false|null|\{\}|\[\]"
)
_STR_TAG = "tag:yaml.org,2002:str"
_RESOLVER = yaml.resolver.Resolver()


@functools.lru_cache(maxsize=4096)
def _read_apart(scalar: str) -> bool:
    """Whether PyYAML and yaml_rs might read this plain scalar differently."""
    if _READ_ALIKE.fullmatch(scalar):
        return False
    if _RESOLVER.resolve(yaml.ScalarNode, scalar, (True, False)) != _STR_TAG:
        return True
    try:
        parsed = yaml_rs.loads(f"k: {scalar}\n", parse_datetime=False)
    except Exception:
        return True
    return not (isinstance(parsed, dict) and parsed.get("k") == scalar)


def _plain(lines: str, match: re.Match[str]) -> bool:
    """Whether a candidate is a plain scalar: an item or key, or a value right after its key
    (not text after `: ` inside a quoted value)."""
    if match.group(0)[0] == "\n":
        return True
    separator = match.start()
    line_start = lines.rfind("\n", 0, separator) + 1
    key = _KEY.match(lines, line_start, separator)
    return key is not None and key.end() == separator


def _fast_load(text: str) -> Any:
    """The data PyYAML's safe loader would read from `text`, or None when not sure."""
    if yaml_rs is None or _BREAKS_APART.search(text):
        return None
    lines = "\n" + text
    for pattern in _PLAIN_CANDIDATES:
        for match in pattern.finditer(lines):
            if _read_apart(match[1]) and _plain(lines, match):
                return None
    try:
        return yaml_rs.loads(text, parse_datetime=False)
    except Exception:  # duplicate keys, anything unusual: PyYAML decides and explains
        return None


def load_yaml(text: str) -> Any:
    """`yaml.load(text, Loader=CSafeLoader)`, faster when that gives the same data."""
    data = _fast_load(text)
    return data if isinstance(data, dict) else yaml.load(text, Loader=_Loader)


def deserialize(cassette_string: str) -> dict[str, Any]:
    """vcrpy serializer hook: YAML text back to the dict vcrpy expects."""
    data = load_yaml(cassette_string)
    if not isinstance(data, dict) or not isinstance(data.get("interactions"), list):
        raise CassetteFormatError("a cassette must be a mapping with a list of interactions")
    result = dict(data)
    result["interactions"] = [
        {
            "request": _decode_request(interaction["request"]),
            "response": _decode_response(interaction["response"]),
        }
        for interaction in data["interactions"]
    ]
    return result
