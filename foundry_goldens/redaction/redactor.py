"""One redaction for all text that leaves the process: cassettes, error messages, reports,
progress output, logs and the golden-diff comment.

A ``Redactor`` replaces, in this order:

1. known values: every secret-looking setting of the environment and ``.env`` (see
   ``secrets_from_environment``) in each form it takes in a URL, a form body or a JSON string,
   as ``<NAME>``;
2. the names of the real project endpoint: its host (with or without a port) as
   ``<RESOURCE_HOST>``, the resource and project names as ``<RESOURCE>`` and ``<PROJECT>``,
   word-bounded, also inside URL-encoded text;
3. secret-shaped text, by the rules of ``foundry_goldens.redaction.rules``: detect-secrets' plugins
   (GitHub, GitLab, AWS, Azure storage, Stripe, Slack, OpenAI, JWT, basic-auth URLs, private
   keys, ``password``/``api_key`` fields and more, ``<GITHUB_TOKEN>``...), plus the few narrow
   rules it has none for (whole JWTs and PEM blocks, bearer strings, OAuth token fields,
   connection-string keys, Azure resource ids).

Rules also run on two decoded views of a text (JSON-unescaped, URL-decoded), and what they find
there is replaced in every encoding, so a secret inside a JSON string inside a JSON body (a tool
output) is found as well.

``findings`` reports instead of replacing; the cassette leak scan is built on it.
``foundry_goldens.redaction.logs`` puts a redactor on the process's logs.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any
from urllib.parse import quote, quote_plus, unquote_plus, urlsplit

from foundry_goldens.redaction.rules import (
    BEARER_PATTERN,
    ESCAPE_SENSITIVE_RULES,
    JWT_PATTERN,
    MARKER,
    RULES,
    TOKEN_FIELDS,
    Finding,
    Rule,
    find_shapes,
    replace_matches,
)

__all__ = [
    "BEARER_PATTERN",
    "ENDPOINT_KEY",
    "JWT_PATTERN",
    "MARKER",
    "SECRET_ENVIRONMENT_KEYS",
    "TOKEN_FIELDS",
    "Finding",
    "Redactor",
    "encodings",
    "endpoint_names",
    "preview",
    "redact_strings",
    "secrets_from_environment",
]

# -- which settings are secret -------------------------------------------------------------

ENDPOINT_KEY = "AZURE_AI_PROJECT_ENDPOINT"
# Always scrubbed: the service principal. The client and tenant ids are not secrets to Azure,
# but they name the organisation and must not reach a public cassette or log.
SECRET_ENVIRONMENT_KEYS = ("AZURE_CLIENT_SECRET", "AZURE_TENANT_ID", "AZURE_CLIENT_ID")
# Any other setting whose name looks like a credential (PWD, the working directory, is not one).
SECRET_NAME = re.compile(
    r"SECRET|PASSWORD|PASSWD|TOKEN|CREDENTIAL|PRIVATE|SIGNATURE|CONNECTION_?STRING"
    r"|(?:^|_)(?:API_?|ACCESS_?|ACCOUNT_?)?KEY(?:_|$)|(?:^|_)SAS(?:_|$)",
    re.IGNORECASE,
)
# A shorter value would be replaced wherever it appears ("1", "true", "demo"), wrecking the
# text; such a setting is not a credential anyway.
MIN_SECRET_LENGTH = 8


def secrets_from_environment(environ: Mapping[str, Any]) -> dict[str, str]:
    """The named secret values in an environment: the Azure identity, plus any string of at
    least ``MIN_SECRET_LENGTH`` characters whose name looks like a credential."""
    found: dict[str, str] = {}
    for name, value in environ.items():
        if not isinstance(value, str) or len(value.strip()) < MIN_SECRET_LENGTH:
            continue
        if name in SECRET_ENVIRONMENT_KEYS or SECRET_NAME.search(name):
            found[name] = value.strip()
    return found


def named_secrets(secrets: Mapping[str, str] | Iterable[str]) -> list[tuple[str, str]]:
    """(NAME, value) pairs, longest value first so a secret holding another is replaced
    whole. Unnamed values are called SECRET_1, SECRET_2..."""
    if isinstance(secrets, Mapping):
        pairs = [(str(k), str(v)) for k, v in secrets.items()]
    else:
        pairs = [(f"SECRET_{n}", str(v)) for n, v in enumerate(secrets, start=1)]
    named = [(re.sub(r"[^A-Z0-9_]", "_", name.upper()), value) for name, value in pairs if value]
    return sorted(named, key=lambda pair: -len(pair[1]))


def encodings(value: str) -> list[str]:
    """The forms a value takes in a URL, a form body or a JSON string (``/`` may be escaped)."""
    in_json = json.dumps(value)[1:-1]
    forms = [value, quote(value, safe=""), quote_plus(value), in_json, in_json.replace("/", "\\/")]
    return list(dict.fromkeys(forms))


def preview(value: str) -> str:
    """Enough of a value to find it, never the value: ``ca… (20 chars)``."""
    return f"{value[:2]}… ({len(value)} chars)"


# -- the endpoint's names ------------------------------------------------------------------


def is_local_host(host: str) -> bool:
    """Loopback: the emulator, whose names are not secrets."""
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def endpoint_names(endpoint: str) -> list[tuple[str, str]]:
    """(MARKER, name) for a project endpoint ``https://<resource>.services.ai.azure.com
    /api/projects/<project>``: host with port, host, resource, project. None for loopback."""
    parts = urlsplit(endpoint.strip())
    host = (parts.hostname or "").lower()
    if not host or is_local_host(host):
        return []
    names = [("RESOURCE_HOST", parts.netloc.lower().rpartition("@")[2]), ("RESOURCE_HOST", host)]
    labels = host.split(".")
    if len(labels) >= 3 and not host.replace(".", "").isdigit():
        names.append(("RESOURCE", labels[0]))
    match = re.search(r"/api/projects/([^/?#]+)", parts.path)
    if match:
        names.append(("PROJECT", match.group(1).lower()))
    return list(dict.fromkeys(names))


# Word-bounded, where a URL-encoded separator (%2F, %3A...) also counts as a boundary.
_BEFORE = r"(?:(?<![\w-])|(?<=%[0-9A-Fa-f]{2}))"
_AFTER = r"(?![\w-])"


# -- rules ---------------------------------------------------------------------------------

# -- the redactor --------------------------------------------------------------------------


_JSON_ESCAPE = re.compile(r"\\([\"\\/])")


def _views(text: str) -> Iterator[tuple[str, tuple[Rule, ...]]]:
    """Decoded views of ``text`` in which more secrets may show, each with the rules worth
    running on it: JSON strings inside JSON (tool outputs), URL-encoded values (queries, form
    bodies)."""
    view = text
    for _ in range(3):  # JSON in a JSON string in a JSON body, at most
        if "\\" not in view:
            break
        unescaped = _JSON_ESCAPE.sub(r"\1", view)
        if unescaped == view:
            break
        view = unescaped
        yield view, ESCAPE_SENSITIVE_RULES
    if "%" in text:
        view = unquote_plus(text)
        if view != text:
            yield view, RULES


_CACHED_LENGTH = 256
_CACHE_SIZE = 4096


class Redactor:
    """Replaces known secret values, the real endpoint's names and secret-shaped text by
    markers. ``secrets``: name -> value (the marker is ``<NAME>``), or bare values;
    ``endpoints``: project endpoints whose host, resource and project names are scrubbed."""

    def __init__(
        self,
        secrets: Mapping[str, str] | Iterable[str] = (),
        *,
        endpoints: Iterable[str] = (),
    ) -> None:
        self.secrets = named_secrets(secrets)
        self._cache: dict[str, str] = {}
        self._secret_forms = [
            (form, f"<{name}>") for name, value in self.secrets for form in encodings(value)
        ]
        names = list(dict.fromkeys(n for e in endpoints if e for n in endpoint_names(e)))
        self.names = sorted(names, key=lambda pair: -len(pair[1]))
        self._name_guards = tuple(dict.fromkeys(name.lower() for _, name in self.names))
        self._name_pattern = (
            re.compile(
                _BEFORE
                + "(?:"
                + "|".join(f"(?P<n{i}>{re.escape(n)})" for i, (_, n) in enumerate(self.names))
                + ")"
                + _AFTER,
                re.IGNORECASE,
            )
            if self.names
            else None
        )

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> Redactor:
        """For the settings of a run (environment and ``.env``): every secret-looking value,
        and the names of the configured project endpoint."""
        endpoint = settings.get(ENDPOINT_KEY)
        return cls(
            secrets_from_environment(settings),
            endpoints=[endpoint] if isinstance(endpoint, str) else [],
        )

    def __call__(self, text: str) -> str:
        return self.redact(text)

    def redact(self, text: str) -> str:
        """``text`` with every known secret, endpoint name and secret-shaped string replaced."""
        if len(text) <= _CACHED_LENGTH:
            # Header values and URIs repeat within a recording; for text this short the cost
            # is the rules' per-call overhead, not their search.
            cached = self._cache.get(text)
            if cached is None:
                if len(self._cache) >= _CACHE_SIZE:
                    self._cache.clear()
                cached = self._cache[text] = self.redact_shapes(self.redact_known(text))
            return cached
        return self.redact_shapes(self.redact_known(text))

    def redact_known(self, text: str) -> str:
        """Known secret values and the endpoint's names only."""
        for form, marker in self._secret_forms:
            if form in text:
                text = text.replace(form, marker)
        text = self._redact_cut_off(text)
        if self._name_pattern is not None and any(w in text.lower() for w in self._name_guards):
            text = self._name_pattern.sub(self._name_marker, text)
        return text

    def redact_shapes(self, text: str) -> str:
        """Secret-shaped text only (the rules), in ``text`` and its decoded views."""
        text = replace_matches(text)
        found: list[tuple[str, str]] = []  # then the views of what is left, as the scan sees it
        for view, rules in _views(text):
            found += [(f.value, f.marker) for f in find_shapes(view, rules)]
        for value, marker in sorted(set(found), key=lambda pair: -len(pair[0])):
            if len(value) >= MIN_SECRET_LENGTH:
                for form in encodings(value):
                    text = text.replace(form, marker)
        return text

    def findings(self, text: str) -> list[Finding]:
        """What ``redact`` would replace, with the rule that matches it; markers are not
        findings."""
        found: list[Finding] = []
        for name, value in self.secrets:
            for form in encodings(value):
                index = text.find(form)
                if index >= 0:
                    found.append(Finding(f"secret value {name}", index, value))
                    break
        if self._name_pattern is not None and any(w in text.lower() for w in self._name_guards):
            for match in self._name_pattern.finditer(text):
                marker, _ = self.names[int(str(match.lastgroup)[1:])]
                found.append(Finding(f"endpoint {marker.lower()}", match.start(), match.group()))
        found += find_shapes(text)
        for view, rules in _views(text):
            found += [
                Finding(f.rule, _find(text, f.value), f.value, f.marker)
                for f in find_shapes(view, rules)
            ]
        return found

    def _redact_cut_off(self, text: str) -> str:
        """A known value cut off where a message was shortened ("…", as the snippet and the
        reports shorten): the part left is as secret as the whole."""
        if "…" not in text or not self.secrets:
            return text
        ends = [i for i, c in enumerate(text) if c == "…"]
        for end in reversed(ends):  # right to left: a replacement moves nothing to its left
            for name, value in self.secrets:
                length = next(
                    (
                        n
                        for n in range(min(len(value) - 1, end), MIN_SECRET_LENGTH - 1, -1)
                        if text.startswith(value[:n], end - n)
                    ),
                    0,
                )
                if length:
                    text = text[: end - length] + f"<{name}>" + text[end:]
                    break
        return text

    def _name_marker(self, match: re.Match[str]) -> str:
        marker, _ = self.names[int(str(match.lastgroup)[1:])]
        return f"<{marker}>"


def _find(text: str, value: str) -> int:
    for form in encodings(value):
        index = text.find(form)
        if index >= 0:
            return index
    return 0


def redact_strings(value: Any, redact: Callable[[str], str]) -> Any:
    """``value`` (JSON-like: dicts, lists, strings) with every string redacted: for data that
    is formatted later, where escaping (Markdown's ``\\_``) or shortening would hide a
    secret from a redaction of the finished text."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {key: redact_strings(item, redact) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [redact_strings(item, redact) for item in value]
    return value
