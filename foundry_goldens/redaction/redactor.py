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

The redaction decodes before it judges: known values and rules are also looked for in the
decoded views of a text (``foundry_goldens.redaction.decoding``: JSON escapes undone, ``\\uXXXX``
included, as often as they were applied; percent-encoding undone, in either case; each base64
blob that decodes to text), and what is found there is masked where it stands in the text: the
escape sequences that spell it, or the whole base64 blob (``Basic dXNlcjpzZWNyZXQ=`` ->
``Basic <AZURE_CLIENT_SECRET>``). So a token ``\\u``-escaped in a JSON string that is a tool
output, a value JSON-escaped twice, ``%2b`` for ``+`` and base64 credentials are all caught.

``redact_text`` is the redaction for text printed outside a run (pytest's failure messages):
the settings given to ``configure_redaction``, else the process environment.

``findings`` reports instead of replacing; the cassette leak scan is built on it.
``foundry_goldens.redaction.logs`` puts a redactor on the process's logs.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import quote, quote_plus, urlsplit

from foundry_goldens.redaction.decoding import View, views
from foundry_goldens.redaction.rules import (
    BEARER_PATTERN,
    JWT_PATTERN,
    MARKER,
    TOKEN_FIELDS,
    Finding,
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
    "configure_redaction",
    "encodings",
    "endpoint_names",
    "preview",
    "redact_strings",
    "redact_text",
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


_HEX_ESCAPE = re.compile(r"%[0-9A-F]{2}")


def encodings(value: str) -> list[str]:
    """The usual forms of a value in a URL, a form body or a JSON string (``/`` may be
    escaped; hex in either case): found by a plain search. Any other encoding is found in the
    decoded views of the text (``Redactor.redact``)."""
    in_json = json.dumps(value)[1:-1]
    url_forms = [quote(value, safe=""), quote_plus(value)]
    lower = [_HEX_ESCAPE.sub(lambda m: m.group().lower(), form) for form in url_forms]
    forms = [value, *url_forms, *lower, in_json, in_json.replace("/", "\\/")]
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


# -- the redactor --------------------------------------------------------------------------

_CACHED_LENGTH = 256
_CACHE_SIZE = 4096


class Redactor:
    """Replaces known secret values, the real endpoint's names and secret-shaped text by
    markers, in the text and in every decoded view of it. ``secrets``: name -> value (the
    marker is ``<NAME>``), or bare values; ``endpoints``: project endpoints whose host,
    resource and project names are scrubbed."""

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
        # In a decoded view a value is as written, or with its spaces as a form body's `+`.
        self._decoded_forms = [
            (form, name)
            for name, value in self.secrets
            for form in dict.fromkeys([value, value.replace(" ", "+")])
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
        """``text`` with every known secret, endpoint name and secret-shaped string replaced,
        in whatever encoding it was written."""
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
        """Known secret values, in any encoding (the usual ones by a plain search, the others
        in the decoded views), and the endpoint's names only."""
        for form, marker in self._secret_forms:
            if form in text:
                text = text.replace(form, marker)
        if self._decoded_forms:
            found = self._decoded_findings(text, shapes=False)
            if found:
                text = _mask_spans(text, found)
        text = self._redact_cut_off(text)
        if self._name_pattern is not None and any(w in text.lower() for w in self._name_guards):
            text = self._name_pattern.sub(self._name_marker, text)
        return text

    def redact_shapes(self, text: str) -> str:
        """Secret-shaped text (the rules) in ``text``; then in its decoded views, masked where
        it was written."""
        text = replace_matches(text)
        found = self._decoded_findings(text, known=False)
        if not found:
            return text
        text = _mask_spans(text, found)
        # A value a rule found in a view is as secret elsewhere in the text (a token that a
        # field's name gave away, repeated bare).
        values = {(f.value, f.marker) for _, _, f in found}
        for value, marker in sorted(values, key=lambda pair: -len(pair[0])):
            if len(value) >= MIN_SECRET_LENGTH:
                for form in encodings(value):
                    text = text.replace(form, marker)
        return text

    def findings(self, text: str) -> list[Finding]:
        """What ``redact`` would replace, with the rule that matches it (and the encoding,
        when it was found decoded); markers are not findings."""
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
        seen = {(f.rule, f.start) for f in found}
        for start, _, finding in self._decoded_findings(text):
            if (finding.rule, start) not in seen:
                seen.add((finding.rule, start))
                found.append(Finding(finding.rule, start, finding.value, finding.marker))
        return found

    def _decoded_findings(
        self, text: str, *, known: bool = True, shapes: bool = True
    ) -> list[tuple[int, int, Finding]]:
        """(start, end, finding) in ``text`` for what its decoded views hold: known values and
        secret-shaped text, the span covering every escape sequence or blob that spells it."""
        found: list[tuple[int, int, Finding]] = []
        for view in views(text):
            for form, name in self._decoded_forms if known else ():
                index = view.text.find(form)
                while index >= 0:
                    finding = Finding(f"secret value {name} ({_how(view)})", 0, form, f"<{name}>")
                    found.append((*view.root_span(index, index + len(form)), finding))
                    index = view.text.find(form, index + 1)
            for shape in find_shapes(view.text) if shapes else ():
                start, end = view.root_span(shape.start, shape.start + len(shape.value))
                rule = f"{shape.rule} ({_how(view)})"
                found.append((start, end, Finding(rule, start, shape.value, shape.marker)))
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


def _how(view: View) -> str:
    """How a view was decoded from the text: ``json > base64``."""
    steps = []
    while view.parent is not None:
        steps.append(view.how)
        view = view.parent
    return "decoded: " + " > ".join(reversed(steps))


def _mask_spans(text: str, found: list[tuple[int, int, Finding]]) -> str:
    """``text`` with each span replaced by its finding's marker; overlapping spans are
    masked as one (by the marker of the one that starts first, the longest of those)."""
    spans = sorted(((s, e, f.marker) for s, e, f in found if e > s), key=lambda x: (x[0], -x[1]))
    merged: list[list[Any]] = []
    for start, end, marker in spans:
        if merged and start < merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end, marker])
    for start, end, marker in reversed(merged):
        text = text[:start] + marker + text[end:]
    return text


# -- for text printed outside a run ------------------------------------------------------

_default: Redactor | None = None
_default_lock = threading.Lock()


def configure_redaction(settings: Mapping[str, Any]) -> Redactor:
    """Sets what ``redact_text`` masks: the secret-looking values and endpoint names of
    ``settings`` (the environment and ``.env``, read before anything strips them)."""
    global _default
    with _default_lock:
        _default = Redactor.from_settings(settings)
        return _default


def redact_text(text: str) -> str:
    """``text`` with every known secret, endpoint name and secret-shaped string masked, in any
    encoding: by the settings given to ``configure_redaction``, else by the process
    environment as it is now (the rules apply either way)."""
    redactor = _default if _default is not None else Redactor.from_settings(dict(os.environ))
    return redactor.redact(text)


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
