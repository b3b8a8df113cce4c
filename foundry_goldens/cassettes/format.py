"""A vcrpy serializer that keeps cassettes reviewable in a pull-request diff: indented JSON.

vcrpy's own serializers store every body as one escaped string, so a one-word change in a
request shows up as a changed line hundreds of characters long. Here a body is stored as what
it is:

- JSON (an object or an array) as structured JSON under ``"json"``;
- text of one line as a plain string; text of several lines under ``"lines"``, one array item
  per line (joined, they give the text back), so a changed line is a changed line of the diff;
- ``null`` when there is no body;
- only bytes that are not UTF-8 under ``"base64"`` (no Foundry traffic has any).

Headers with one value are stored as a string instead of vcrpy's one-item list.

Why JSON and not YAML: replay parses every cassette in every test session, and PyYAML's
constructor would be a third of a replayed turn's whole test path; ``json.loads`` reads the same
cassettes about twenty-five times faster. Azure's own SDK test recordings are indented JSON with
structured bodies too. Older versions of this project wrote YAML cassettes (``<name>.yaml``);
they are still read, and recording one again writes ``<name>.json`` and removes the YAML file.

Register it on a VCR instance with
``my_vcr.register_serializer(SERIALIZER_NAME, foundry_goldens.cassettes.format)``.
The output is deterministic (keys in recorded order, two-space indent, UTF-8 text as is, one
newline at the end) and ``serialize(deserialize(text)) == text`` for any text this module
wrote. A JSON body comes back from a cassette re-encoded compactly, which is what replay
serves and what the ``json_body`` matcher compares.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from foundry_goldens import jsontext
from foundry_goldens.cassettes import bodies
from foundry_goldens.jsontext import compact, indented
from foundry_goldens.yamltext import load_yaml

SERIALIZER_NAME = "readable-json"
SUFFIX = ".json"
LEGACY_SUFFIX = ".yaml"  # what older versions of this project wrote; still read
# An old YAML cassette comes in a pull request like any golden: a long dialogue's is a few
# hundred kilobytes; anything past this is refused before it is parsed. (Its writer never
# wrote an anchor or alias, so load_yaml refusing them costs no real cassette.)
MAX_LEGACY_YAML_BYTES = 16 * 1024 * 1024


class CassetteFormatError(ValueError):
    """A cassette file that does not have the shape this format writes."""


# -- file names ---------------------------------------------------------------


def cassette_path(directory: Path, name: str) -> Path:
    """Where dialogue ``name``'s cassette is written."""
    return directory / f"{name}{SUFFIX}"


def legacy_cassette_path(directory: Path, name: str) -> Path:
    """Where an older version of this project wrote it (YAML)."""
    return directory / f"{name}{LEGACY_SUFFIX}"


def find_cassette(directory: Path, name: str) -> Path:
    """The cassette to replay: ``<name>.json``, else a YAML one an older version wrote, else where
    the JSON one would be (for the caller to report as missing)."""
    path = cassette_path(directory, name)
    if path.is_file():
        return path
    legacy = legacy_cassette_path(directory, name)
    return legacy if legacy.is_file() else path


def is_cassette_file(path: Path) -> bool:
    return path.suffix in (SUFFIX, LEGACY_SUFFIX)


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
    """The JSON value that stores one body (see the module docstring)."""
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
    if "\n" in text:
        return {"lines": _split_keeping_newlines(text)}
    return text


def _split_keeping_newlines(text: str) -> list[str]:
    # str.splitlines would also break at \r, \x0b, \u2028 and others; only \n breaks a line here.
    parts = text.split("\n")
    lines = [part + "\n" for part in parts[:-1]]
    if parts[-1]:
        lines.append(parts[-1])
    return lines


def decode_body(stored: Any, *, remember: bool = False) -> str | bytes | None:
    """The body vcrpy needs back from a stored value: text, bytes or None. `remember` keeps
    a JSON body's structure for reading it back without a parse (request bodies: matching
    reads every one; a response body is only sent back to the client)."""
    if stored is None or isinstance(stored, str):
        return stored
    if isinstance(stored, Mapping) and len(stored) == 1:
        if "json" in stored:
            encoded = encode_json(stored["json"])
            if remember:
                bodies.remember(encoded, stored["json"])
            return encoded
        if "lines" in stored and isinstance(stored["lines"], list):
            return "".join(stored["lines"])
        if "base64" in stored:
            return base64.b64decode(stored["base64"])
    raise CassetteFormatError(
        "a body must be null, a string, {json: ...}, {lines: [...]} or {base64: ...}, "
        f"not {stored!r:.80}"
    )


def encode_json(value: Any) -> bytes:
    """Compact, deterministic JSON: key order as given, non-ASCII kept as is (UTF-8)."""
    return compact(value)


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
        "body": decode_body(request.get("body"), remember=True),
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


def serialize(cassette_dict: Mapping[str, Any]) -> str:
    """vcrpy serializer hook: ``{"version", "interactions", ["metadata"]}`` to JSON text."""
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
    return indented(data)


def deserialize(cassette_string: str | bytes) -> dict[str, Any]:
    """vcrpy serializer hook: JSON (or this project's older YAML), as text or UTF-8 bytes, back
    to the dict vcrpy expects."""
    data = parse(cassette_string)
    if not isinstance(data, dict) or not isinstance(data.get("interactions"), list):
        raise CassetteFormatError("a cassette must be a mapping with a list of interactions")
    result = dict(data)
    try:
        result["interactions"] = [
            {
                "request": _decode_request(interaction["request"]),
                "response": _decode_response(interaction["response"]),
            }
            for interaction in data["interactions"]
        ]
    except (KeyError, TypeError) as error:
        problem = f"an interaction lacks a request or a response: {error}"
        raise CassetteFormatError(problem) from error
    return result


def parse(text: str | bytes) -> Any:
    """The cassette file's data (text or UTF-8 bytes) as stored (bodies not decoded);
    CassetteFormatError if it is neither JSON nor YAML."""
    opens_an_object = (
        text.lstrip().startswith(b"{") if isinstance(text, bytes) else text.lstrip().startswith("{")
    )
    if opens_an_object:
        try:
            return jsontext.loads(text)
        except ValueError as error:
            raise CassetteFormatError(f"not valid JSON: {error}") from None
    if len(text) > MAX_LEGACY_YAML_BYTES:  # characters or bytes: either way, far too big
        raise CassetteFormatError(
            f"not JSON, and larger than the {MAX_LEGACY_YAML_BYTES // (1024 * 1024)} MiB an old "
            "YAML cassette may have; refused without parsing it"
        )
    try:  # a cassette written as YAML by an older version of this project
        return load_yaml(text)
    except yaml.YAMLError as error:
        raise CassetteFormatError(f"neither JSON nor YAML: {error}") from None
