"""Sanitizing recorded HTTP traffic, and scanning what is left for leaks.

A ``Sanitizer`` supplies vcrpy's two recording hooks:

- ``before_record_request``: token traffic (Microsoft Entra / MSAL, managed
  identity) is not recorded at all; the real project endpoint becomes
  ``PLACEHOLDER_ENDPOINT`` (so replay needs no configuration); only allow-listed
  headers are kept; then ``foundry_goldens.redaction.redactor`` replaces secrets, the real
  resource and project names and secret-shaped text (detect-secrets' rules) by
  fixed markers wherever they appear (URI, query, headers, body).
- ``before_record_response``: a failed attempt that the client retries (408,
  409, 429, 5xx) is not recorded, so replay never sleeps through a Retry-After;
  compressed bodies are decoded to text; the same header allow-list and
  scrubbing apply.

vcrpy's ``Cassette.append`` runs the request hook, then the response hook, and
appends the pair only when both return something, so a dropped response drops
its request too: the retried request that then succeeded is the one recorded.

``scan_for_leaks`` is the second line of defence: it reads the text of a
cassette about to be written and names the rule that should have caught each
leak (the redaction's own rules, plus credential headers, token endpoints and
the real host), without ever printing the leaked value. Like the redaction it
decodes before it judges: a known value or secret-shaped text in a decoded view
(base64, Basic credentials, percent-encoding in either case, JSON escapes nested
or ``\\uXXXX``) is a leak, named ``secret value NAME (decoded: json > base64)``.
"""

from __future__ import annotations

import copy
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from vcr.filters import decode_response
from vcr.request import Request

from foundry_goldens.redaction.redactor import (
    BEARER_PATTERN,
    JWT_PATTERN,
    SECRET_ENVIRONMENT_KEYS,
    TOKEN_FIELDS,
    Redactor,
    secrets_from_environment,
)
from foundry_goldens.redaction.redactor import preview as redacted

__all__ = [
    "BEARER_PATTERN",
    "JWT_PATTERN",
    "PLACEHOLDER_ENDPOINT",
    "SECRET_ENVIRONMENT_KEYS",
    "CassetteLeakError",
    "Leak",
    "Sanitizer",
    "is_retried_failure",
    "is_token_request",
    "redacted",
    "scan_for_leaks",
    "secrets_from_environment",
]

PLACEHOLDER_ENDPOINT = "https://foundry.invalid/api/projects/recorded"
_PLACEHOLDER = urlsplit(PLACEHOLDER_ENDPOINT)
PLACEHOLDER_ORIGIN = f"{_PLACEHOLDER.scheme}://{_PLACEHOLDER.netloc}"
PLACEHOLDER_HOST = _PLACEHOLDER.netloc

# Headers worth reviewing and stable between runs. Everything else (auth,
# dates, request ids, rate-limit counters, x-stainless-*, user-agent, cookies,
# content-length, which changes when a body is re-encoded) is dropped.
REQUEST_HEADERS_KEPT = frozenset({"content-type", "accept"})
RESPONSE_HEADERS_KEPT = frozenset({"content-type", "location"})

# The statuses (besides 5xx) the openai client answers by retrying after a
# pause; a kept one would make replay retry, and sleep, too.
RETRIED_STATUSES = frozenset({408, 409, 429})

# Microsoft Entra ID / MSAL / managed identity: never recorded.
TOKEN_HOSTS = frozenset(
    {
        "login.microsoftonline.com",
        "login.microsoft.com",
        "login.windows.net",
        "login.microsoftonline.us",
        "login.chinacloudapi.cn",
        "login.partner.microsoftonline.cn",
        "sts.windows.net",
        "169.254.169.254",  # IMDS, managed identity on VMs
    }
)
TOKEN_HOST_SUFFIXES = (".b2clogin.com", ".ciamlogin.com")
_TOKEN_PATH = re.compile(
    r"/oauth2/|/metadata/identity/|/msi/token|/discovery/instance|/\.well-known/openid-configuration",
    re.IGNORECASE,
)

_MARKER = r"<[A-Z0-9_]+>"
_FIELD_NAMES = "|".join(re.escape(f) for f in TOKEN_FIELDS)
# access_token: value, in the YAML a cassette is written as (the redaction sees JSON and forms).
_YAML_FIELD = re.compile(
    rf"(?P<key>^[ \t]*-?[ \t]*['\"]?(?P<name>{_FIELD_NAMES})['\"]?:[ \t]+)(?!['\"]?{_MARKER})"
    r"(?P<value>[^\s#].*)$",
    re.IGNORECASE | re.MULTILINE,
)
_CREDENTIAL_HEADER = re.compile(
    r"^[ \t]*-?[ \t]*['\"]?(?P<name>authorization|proxy-authorization|cookie|set-cookie|"
    r"ocp-apim-subscription-key|x-api-key)['\"]?:[ \t]*(?P<value>\S.*)$",
    re.IGNORECASE | re.MULTILINE,
)
_CREDENTIAL_HEADER_NAMES = ("authorization", "cookie", "ocp-apim-subscription-key", "x-api-key")
_TOKEN_ENDPOINT_PARTS = (*TOKEN_HOSTS, *TOKEN_HOST_SUFFIXES, "/oauth2/")
# YAML values under a token field's name that hold no credential.
_NOT_A_VALUE = frozenset({"", "null", "~", "true", "false", "[]", "{}"})
_TOKEN_ENDPOINT_TEXT = re.compile(
    "|".join(re.escape(h) for h in sorted(TOKEN_HOSTS))
    + "|"
    # The suffix alone: a `[\w-]+` prefix made this scan quadratic in the cassette's size.
    + "|".join(re.escape(s) for s in TOKEN_HOST_SUFFIXES)
    + r"|/oauth2/(?:v2\.0/)?token",
    re.IGNORECASE,
)


def is_token_request(uri: str) -> bool:
    """Whether ``uri`` fetches or discovers a credential (never recorded)."""
    parts = urlsplit(uri)
    host = (parts.hostname or "").lower()
    if host in TOKEN_HOSTS or host.endswith(TOKEN_HOST_SUFFIXES):
        return True
    return bool(_TOKEN_PATH.search(parts.path))


def is_retried_failure(status: int) -> bool:
    """A response the client answers by retrying: it must not reach a cassette."""
    return status in RETRIED_STATUSES or status >= 500


# -- scanning ---------------------------------------------------------------


@dataclass(frozen=True)
class Leak:
    """Something a sanitized cassette should not hold. ``rule`` names the
    sanitizer rule that missed it; ``hint`` is a redacted preview."""

    rule: str
    line: int
    hint: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.rule} ({self.hint})"


class CassetteLeakError(RuntimeError):
    """Raised instead of writing a cassette that still holds a secret."""

    def __init__(self, path: str | os.PathLike[str], leaks: list[Leak]) -> None:
        self.path = os.fspath(path)
        self.leaks = leaks
        lines = [f"Refusing to write cassette {self.path}: sanitizing left {len(leaks)} leak(s):"]
        lines += [f"  - {leak}" for leak in leaks[:20]]
        if len(leaks) > 20:
            lines.append(f"  … and {len(leaks) - 20} more")
        lines.append(
            "Nothing was written. Extend the rule named above (foundry_goldens/redaction/rules.py, "
            "foundry_goldens/cassettes/sanitizer.py), then record again."
        )
        super().__init__("\n".join(lines))


def _line_of(text: str, index: int) -> int:
    return text.count("\n", 0, index) + 1


def _mentions(lowered: str, words: Iterable[str]) -> bool:
    """A substring check before a regex: most bodies and cassettes hold none of these words,
    and then the (case-insensitive, alternation-heavy) pattern need not walk them at all."""
    return any(word in lowered for word in words)


def scan_for_leaks(
    text: str,
    secrets: Mapping[str, str] | Iterable[str] = (),
    *,
    hosts: Iterable[str] = (),
    redactor: Redactor | None = None,
) -> list[Leak]:
    """Every known secret value, endpoint name, secret-shaped string (the redaction's rules),
    credential header, token endpoint and real endpoint host in ``text``, each named by the
    rule that should have removed it. Markers such as ``<JWT>`` are not leaks."""
    leaks: list[Leak] = []
    lowered = text.lower()

    def found(rule: str, index: int, value: str) -> None:
        leaks.append(Leak(rule=rule, line=_line_of(text, index), hint=redacted(value)))

    for finding in (redactor or Redactor(secrets)).findings(text):
        found(finding.rule, finding.start, finding.value)
    for match in _YAML_FIELD.finditer(text) if _mentions(lowered, TOKEN_FIELDS) else ():
        value = match.group("value").strip().strip("'\"")
        if value.lower() not in _NOT_A_VALUE and not re.fullmatch(_MARKER, value):
            found(f"token field {match.group('name').lower()}", match.start(), value)
    for match in (
        _CREDENTIAL_HEADER.finditer(text) if _mentions(lowered, _CREDENTIAL_HEADER_NAMES) else ()
    ):
        if re.search(_MARKER, match["value"]):
            continue  # a value some rule already scrubbed, e.g. "Bearer <JWT>"
        found(f"credential header {match.group('name').lower()}", match.start(), match["value"])
    for match in (
        _TOKEN_ENDPOINT_TEXT.finditer(text) if _mentions(lowered, _TOKEN_ENDPOINT_PARTS) else ()
    ):
        found("token endpoint", match.start(), match.group())
    for host in {h.lower() for h in hosts if h and h.lower() != PLACEHOLDER_HOST}:
        index = lowered.find(host)
        if index >= 0:
            found("real endpoint host", index, host)
    return sorted(leaks, key=lambda leak: (leak.line, leak.rule))


# -- sanitizing -------------------------------------------------------------


class Sanitizer:
    """vcrpy recording hooks for one project endpoint and its secrets.

    ``endpoint`` is the real project endpoint used while recording, e.g.
    ``https://x.services.ai.azure.com/api/projects/p`` or the emulator's
    ``http://127.0.0.1:PORT/api/projects/demo``. ``secrets`` are values to
    scrub, best as a mapping from name to value (the name becomes the marker,
    ``<AZURE_CLIENT_SECRET>``); see ``secrets_from_environment``. The host, resource
    and project names of ``endpoint`` (unless it is on loopback, as the emulator is)
    and of ``endpoints`` (e.g. the live endpoint configured while recording on the
    emulator) are scrubbed wherever they appear on their own.
    """

    def __init__(
        self,
        endpoint: str,
        secrets: Mapping[str, str] | Iterable[str] = (),
        *,
        endpoints: Iterable[str] = (),
    ) -> None:
        endpoint = endpoint.rstrip("/")
        parts = urlsplit(endpoint)
        if not parts.scheme or not parts.hostname:
            raise ValueError(f"endpoint must be an absolute URL, got {endpoint!r}")
        self.endpoint = endpoint
        self._scheme = parts.scheme.lower()
        self._host = parts.hostname.lower()
        self._port = _effective_port(endpoint)
        # httpx writes a request's URL without the scheme's default port, so ":443" in an
        # https endpoint (":80" in http) is matched with and without it.
        default = _DEFAULT_PORTS.get(self._scheme)
        explicit = f"{self._host}:{self._port}"
        self._netlocs = [explicit, self._host] if self._port == default else [explicit]
        self._netloc = self._netlocs[0]
        self._project_path = parts.path.rstrip("/")
        self.redactor = Redactor(secrets, endpoints=[endpoint, *endpoints])
        self.secrets = self.redactor.secrets
        origin = re.escape(f"{self._scheme}://") + _alternatives(self._netlocs)
        # The full endpoint first (to the placeholder endpoint), then the origin
        # with any other path, then the bare host[:port].
        self._endpoint_pattern = re.compile(
            origin + re.escape(self._project_path) + r"(?![\w.-])", re.IGNORECASE
        )
        self._origin_pattern = re.compile(origin + r"(?![\w.-])", re.IGNORECASE)
        hosts = list(dict.fromkeys([*self._netlocs, self._host]))
        self._host_pattern = re.compile(
            r"(?<![\w.-])" + _alternatives(hosts) + r"(?![\w-])", re.IGNORECASE
        )

    # vcrpy hooks ------------------------------------------------------------

    def before_record_request(self, request: Request) -> Request | None:
        """The request as it may be stored, or None for token traffic."""
        if is_token_request(request.uri):
            return None
        request = copy.deepcopy(request)
        request.uri = self.scrub_uri(request.uri)
        request.headers = self._kept_headers(request.headers, REQUEST_HEADERS_KEPT)
        body = request.body
        if hasattr(body, "read"):
            body = body.read()
        elif isinstance(body, list):
            body = b"".join(c.encode() if isinstance(c, str) else bytes(c) for c in body)
        request.body = self.scrub_body(body)
        return request

    def before_record_response(self, response: dict[str, Any]) -> dict[str, Any] | None:
        """The response as it may be stored, or None for a failure the client retries."""
        if is_retried_failure(int(response["status"]["code"])):
            return None
        if isinstance(response.get("body", {}).get("string"), bytes | bytearray):
            response = decode_response(response)  # gzip/deflate/br to plain bytes
        else:
            response = copy.deepcopy(response)
        response["headers"] = {
            name: values if isinstance(values, list) else [values]
            for name, values in self._kept_headers(
                response.get("headers") or {}, RESPONSE_HEADERS_KEPT
            ).items()
        }
        body = response.setdefault("body", {"string": b""})
        body["string"] = self.scrub_body(body.get("string"))
        return response

    # the pieces, usable alone ---------------------------------------------------

    def scrub_text(self, text: str) -> str:
        """``text`` with the endpoint, secrets and secret-shaped strings replaced by markers."""
        text = self._endpoint_pattern.sub(PLACEHOLDER_ENDPOINT, text)
        text = self._origin_pattern.sub(PLACEHOLDER_ORIGIN, text)
        text = self._host_pattern.sub(PLACEHOLDER_HOST, text)
        return self.redactor.redact(text)

    def scrub_uri(self, uri: str) -> str:
        """The placeholder endpoint in place of the real one (path after the
        project and query kept), then ``scrub_text`` on the rest."""
        parts = urlsplit(uri)
        try:
            port = _effective_port(uri)
        except ValueError:
            port = None  # not a URL of the endpoint; scrub_text still sees it
        if (
            parts.scheme.lower() == self._scheme
            and (parts.hostname or "").lower() == self._host
            and port == self._port
        ):
            path = parts.path
            if path == self._project_path or path.startswith(self._project_path + "/"):
                path = _PLACEHOLDER.path + path[len(self._project_path) :]
            uri = urlunsplit(
                (_PLACEHOLDER.scheme, _PLACEHOLDER.netloc, path, parts.query, parts.fragment)
            )
        return self.scrub_text(uri)

    def scrub_body(self, body: str | bytes | None) -> str | bytes | None:
        """A scrubbed body of the same type (text, or bytes that stay bytes)."""
        if body is None:
            return None
        if isinstance(body, str):
            return self.scrub_text(body)
        raw = bytes(body)
        try:
            return self.scrub_text(raw.decode("utf-8")).encode("utf-8")
        except UnicodeDecodeError:
            # Binary: the ASCII-shaped rules still apply byte for byte.
            return self.scrub_text(raw.decode("latin-1")).encode("latin-1")

    def scan(self, text: str) -> list[Leak]:
        """``scan_for_leaks`` with this sanitizer's secrets and real host."""
        return scan_for_leaks(text, hosts=[self._host, *self._netlocs], redactor=self.redactor)

    def _kept_headers(self, headers: Mapping[str, Any], allowed: frozenset[str]) -> dict[str, Any]:
        kept: dict[str, Any] = {}
        for name, value in headers.items():
            if name.lower() not in allowed:
                continue
            if isinstance(value, list | tuple):
                kept[name.lower()] = [self._scrub_header_value(v) for v in value]
            else:
                kept[name.lower()] = self._scrub_header_value(value)
        return kept

    def _scrub_header_value(self, value: Any) -> Any:
        if isinstance(value, bytes):
            return self.scrub_text(value.decode("latin-1"))
        return self.scrub_text(value) if isinstance(value, str) else value


_DEFAULT_PORTS = {"http": 80, "https": 443}


def _effective_port(url: str) -> int | None:
    """The port a URL connects to: its explicit one, else its scheme's default."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"{url!r} has an invalid port") from None
    return port if port is not None else _DEFAULT_PORTS.get(parts.scheme.lower())


def _alternatives(texts: Iterable[str]) -> str:
    """A non-capturing group matching any of ``texts`` literally, longest first."""
    return "(?:" + "|".join(re.escape(t) for t in sorted(texts, key=len, reverse=True)) + ")"
