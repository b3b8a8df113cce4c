"""One redaction for all text that leaves the process: cassettes, error messages, reports,
progress output, logs and the golden-diff comment.

A ``Redactor`` replaces, in this order:

1. known values: every secret-looking setting of the environment and ``.env`` (see
   ``secrets_from_environment``) in each form it takes in a URL, a form body or a JSON string,
   as ``<NAME>``;
2. the names of the real project endpoint: its host (with or without a port) as
   ``<RESOURCE_HOST>``, the resource and project names as ``<RESOURCE>`` and ``<PROJECT>``,
   word-bounded, also inside URL-encoded text;
3. secret-shaped text, by rules: detect-secrets' plugins (GitHub, GitLab, AWS, Azure storage,
   Stripe, Slack, OpenAI, JWT, basic-auth URLs, private keys, ``password``/``api_key`` fields
   and more, ``<GITHUB_TOKEN>``...), plus the few narrow rules it has none for (whole JWTs and
   PEM blocks, bearer strings, OAuth token fields, Azure resource ids).

Rules also run on two decoded views of a text (JSON-unescaped, URL-decoded), and what they find
there is replaced in every encoding, so a secret inside a JSON string inside a JSON body (a tool
output) is found as well. Each rule is guarded by a substring check: most text holds none of
the words a rule needs, and then its pattern never walks it (recording is CPU-bound).

``findings`` reports instead of replacing; the cassette leak scan is built on it.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import logging
import re
import sys
import threading
import traceback
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, quote_plus, unquote_plus, urlsplit

from detect_secrets.core.plugins.util import get_mapping_from_secret_type_to_class
from detect_secrets.plugins import keyword as keyword_plugin
from detect_secrets.plugins.base import RegexBasedDetector

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

_MARKER = r"<[A-Z0-9_]+>"
MARKER = re.compile(_MARKER)


def marker_for(name: str) -> str:
    return "<" + re.sub(r"[^A-Z0-9]+", "_", name.upper()).strip("_") + ">"


@dataclass(frozen=True)
class Rule:
    """A pattern for secret-shaped text. ``group`` (0: the whole match, trimmed of delimiters)
    is what is replaced by ``marker`` (empty: named after the match's ``name`` group);
    ``guard`` are lowercase substrings one of which a text must hold for the pattern to match
    at all (empty: always run)."""

    name: str
    pattern: re.Pattern[str]
    marker: str
    guard: tuple[str, ...] = ()
    group: int | str | None = None  # None: the longest group of 8+ characters, else the match
    trigger: Callable[[str], bool] | None = None
    """For a slow pattern whose words are everywhere ("token"): a quick test on the lowercased
    text that any match needs to pass (case-insensitive patterns skip the C fast paths)."""

    def applies(self, text: _Lowered) -> bool:
        if self.guard and text.present.isdisjoint(self.guard):
            return False
        return self.trigger is None or text.triggers(self.trigger)

    @property
    def sees_escapes(self) -> bool:
        """Whether JSON escaping (of quotes and slashes) can hide a match from this pattern."""
        return any(c in self.pattern.pattern for c in "\"'/")

    def skips(self, match: re.Match[str]) -> bool:
        """A match that starts inside a marker ("SECRET" in ``<AZURE_CLIENT_SECRET>``, which
        the keyword rule would take for a key) or whose secret is a marker already."""
        start, end = self.secret_span(match)
        return (
            start >= end
            or _inside_marker(match.string, match.start())
            # a marker, also Markdown-escaped (\<GITHUB\_TOKEN\>) as the golden diff prints it
            or bool(MARKER.fullmatch(match.string[start:end].replace("\\", "").strip("'\"")))
        )

    def marker_for(self, match: re.Match[str]) -> str:
        return self.marker or marker_for(match.group("name"))

    def secret_span(self, match: re.Match[str]) -> tuple[int, int]:
        if self.group is not None:
            return match.span(self.group)
        groups = [i for i in range(1, (match.re.groups or 0) + 1) if match.group(i)]
        longest = max(groups, key=lambda i: len(match.group(i)), default=None)
        if longest is not None and len(match.group(longest)) >= 8:
            return match.span(longest)
        start, end = match.span()
        text = match.string
        while start < end and text[start] in _DELIMITERS:
            start += 1
        while end > start and text[end - 1] in _DELIMITERS and text[end - 1] != "=":  # padding
            end -= 1
        return start, end


_DELIMITERS = frozenset(" \t\r\n=:\"'`/@,;()[]{}<>\\")

# Tokens OAuth and Azure put in JSON, form and query fields.
TOKEN_FIELDS = (
    "access_token",
    "refresh_token",
    "id_token",
    "client_secret",
    "client_assertion",
    "api-key",
    "api_key",
    "sig",
)
_FIELD_NAMES = "|".join(re.escape(f) for f in TOKEN_FIELDS)
JWT_PATTERN = re.compile(r"eyJ[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]*")
# The separator may be URL-encoded ("Bearer+x", "Bearer%20x") in a query or form body.
BEARER_PATTERN = re.compile(
    r"\b(bearer)((?:\s|\+|%20)+)(?!<|%3C)([A-Za-z0-9\-._~+/]{12,}=*)", re.IGNORECASE
)
# Narrow rules for what detect-secrets has no plugin for, or matches only in part.
NARROW_RULES = (
    # detect-secrets' JWT rule stops before the signature; this takes the whole token.
    Rule("JWT", JWT_PATTERN, "<JWT>", ("eyj",), group=0),
    Rule("bearer token", BEARER_PATTERN, "<TOKEN>", ("bearer",), group=3),
    # detect-secrets flags a private key by its BEGIN line only; this takes the whole block,
    # raw or JSON-escaped, or up to the end of the key text when the END line was cut off.
    Rule(
        "private key",
        re.compile(
            r"-----BEGIN[A-Z0-9 ]*PRIVATE KEY[A-Z ]*-----"
            r"(?:.*?-----END[A-Z0-9 ]*PRIVATE KEY[A-Z ]*-----|[A-Za-z0-9+/=\s\\]*)",
            re.DOTALL,
        ),
        "<PRIVATE_KEY>",
        ("private key",),
        group=0,
    ),
    # "access_token": "…" (JSON) and access_token=… (form, query): OAuth and Azure SAS.
    Rule(
        "token field",
        re.compile(
            rf'"(?P<name>{_FIELD_NAMES})"\s*:\s*"(?!{_MARKER}")((?:[^"\\]|\\.)+)(?=")',
            re.IGNORECASE,
        ),
        "",
        TOKEN_FIELDS,
        group=2,
    ),
    Rule(
        "token field",
        re.compile(
            rf"(?<![\w-])(?P<name>{_FIELD_NAMES})=(?!{_MARKER})([^&\s\"'#;]+)", re.IGNORECASE
        ),
        "",
        TOKEN_FIELDS,
        group=2,
    ),
    # Azure connection strings: detect-secrets knows AccountKey only at its usual 88 characters.
    Rule(
        "connection string key",
        re.compile(
            r"(?<![\w-])(?:AccountKey|SharedAccessKey|SharedAccessSignature)=(?!<)([^;\s\"'&]+)",
            re.IGNORECASE,
        ),
        "<CONNECTION_STRING_KEY>",
        ("accountkey", "sharedaccess"),
        group=1,
    ),
    # An Azure resource id names the subscription, resource group and resource; detect-secrets
    # has no rule for it. Also URL-encoded (%2Fsubscriptions%2F...).
    Rule(
        "Azure resource id",
        re.compile(
            r"(?:/|%2F)subscriptions(?:/|%2F)[0-9a-f]{8}-(?:[0-9a-f]{4}-){3}[0-9a-f]{12}"
            r"(?:(?:/|%2F)[^\s\"'<>?#&\\]*)?",
            re.IGNORECASE,
        ),
        "<AZURE_RESOURCE_ID>",
        ("subscriptions",),
        group=0,
    ),
)

# detect-secrets plugins left out: the entropy ones flag every id and hash (and would break
# replay, which matches request bodies); a public IP address is not a credential.
_SKIPPED_PLUGINS = frozenset(
    {"Base64 High Entropy String", "Hex High Entropy String", "Public IP (ipv4)"}
)
# Guards and triggers for detect-secrets' patterns that are slow on text without a match
# (a case-insensitive or unanchored start); the others, starting with a literal, are left to
# the regex engine's own fast search. Guards: lowercase words one of which a match needs.
_PLUGIN_GUARDS: dict[str, tuple[str, ...]] = {
    "IBM COS HMAC Credentials": ("secret",),
    "Mailchimp Access Key": ("-us",),
    "Slack Token": ("xox", "hooks.slack.com"),
    "Stripe Access Key": ("k_live_",),
}
# Where the words are too common for a guard ("token", "cl"), the keyword and assignment the
# pattern needs, searched on the lowercased text (case-insensitive patterns skip the regex
# engine's fast paths).
_ASSIGNED = r"[\"'\]]{0,2} *(?:=|:|=>| )"


def _searches(pattern: str) -> Callable[[str], bool]:
    compiled = re.compile(pattern)
    return lambda text: compiled.search(text) is not None


_PLUGIN_TRIGGERS: dict[str, Callable[[str], bool]] = {
    "Artifactory Credentials": _searches(r"akc|ap[\da-f]"),
    "Cloudant Credentials": _searches(
        r"cl(?:oudant|ou)?[_-]?(?:api)?(?:key|pwd|pw|pass|token)" + _ASSIGNED
    ),
    "IBM Cloud IAM Key": _searches(
        r"(?:key|pwd|pass|token)" + _ASSIGNED + r" *[\"']?[\w-]{44}(?![\w-])"
    ),
    "SoftLayer Credentials": _searches(
        r"s(?:oftlayer|l)[_-]?(?:api)?[_-]?(?:key|pwd|pass|token)|api\.softlayer\.com"
    ),
    # Patterns that start with a character class: a literal part of them goes first.
    "Telegram Bot Token": _searches(r":[0-9a-z_-]{35}"),
    "Discord Bot Token": _searches(r"\.[0-9a-z_-]{6}\.[0-9a-z_-]{27}"),
}


def _literal_start(pattern: re.Pattern[str]) -> tuple[str, ...]:
    """The word a case-insensitive pattern starts with ("aws", "xox"), as a guard: such a
    pattern is slow to search, and needs that word (lowercased) in the text."""
    if not pattern.flags & re.IGNORECASE:
        return ()  # a case-sensitive literal start is found fast by the regex engine itself
    match = re.match(r"[A-Za-z0-9_]+", pattern.pattern)
    word = match.group() if match else ""
    if pattern.pattern[len(word) : len(word) + 1] in ("?", "*", "{"):
        word = word[:-1]  # its last character is optional
    return (word.lower(),) if len(word) >= 3 else ()


# The keyword plugin's quotes-required forms: `word: "x"`, `word = "x"`, `word => "x"`,
# `word... "x";` and `"x" == word`. Every word of its list holds one of these stems.
_KEYWORD_STEMS = ("key", "pass", "pwd", "secret", "contras")
_ASSIGNED_QUOTE = re.compile(r"\w*[\]'\"`]{0,2}\s*(?::=?|={1,3}|!==?|=>)\s*@?['\"`]")


def _keyword_trigger(lowered: str) -> bool:
    """A stem followed by an assignment and a quote, or a quote and `;`/`==`: looked for at
    each stem (a handful per text) instead of by a pattern walking the whole text."""
    if any(form in lowered for form in ('";', "';", "`;", "==", "!=")):
        return True
    for stem in _KEYWORD_STEMS:
        index = lowered.find(stem)
        while index >= 0:
            if _ASSIGNED_QUOTE.match(lowered, index + len(stem)):
                return True
            index = lowered.find(stem, index + 1)
    return False


def _detect_secrets_rules() -> tuple[Rule, ...]:
    rules: list[Rule] = []
    plugins: dict[str, type[Any]] = get_mapping_from_secret_type_to_class()
    for secret_type, plugin in plugins.items():
        detector = plugin()
        if secret_type in _SKIPPED_PLUGINS or not isinstance(detector, RegexBasedDetector):
            continue
        trigger = _PLUGIN_TRIGGERS.get(secret_type)
        for pattern in detector.denylist:
            guard = _PLUGIN_GUARDS.get(secret_type) or _literal_start(pattern)
            rules.append(
                Rule(secret_type, pattern, marker_for(secret_type), guard, trigger=trigger)
            )
    # The keyword plugin (password, api_key, secret... = "value"), in its quotes-required form
    # as it scans JSON and YAML; it is not regex-based, so its table is used directly.
    covered = all(any(s in word for s in _KEYWORD_STEMS) for word in keyword_plugin.DENYLIST)
    for pattern, group in keyword_plugin.QUOTES_REQUIRED_DENYLIST_REGEX_TO_GROUP.items():
        rules.append(
            Rule(
                "Secret Keyword",
                pattern,
                "<SECRET_KEYWORD>",
                _KEYWORD_STEMS if covered else (),  # a word added upstream: no shortcut
                group,
                trigger=_keyword_trigger if covered else None,
            )
        )
    return tuple(rules)


RULES: tuple[Rule, ...] = (*NARROW_RULES, *_detect_secrets_rules())
_ESCAPE_SENSITIVE_RULES = tuple(rule for rule in RULES if rule.sees_escapes)
_GUARD_WORDS = tuple(dict.fromkeys(word for rule in RULES for word in rule.guard))


class _Lowered:
    """A text's lowercase form, the guard words it holds and the triggers it matches, each
    looked for once rather than once per rule."""

    def __init__(self, text: str) -> None:
        self.lowered = text.lower()
        self.present = frozenset(word for word in _GUARD_WORDS if word in self.lowered)
        self._triggered: dict[int, bool] = {}

    def triggers(self, trigger: Callable[[str], bool]) -> bool:
        key = id(trigger)
        if key not in self._triggered:
            self._triggered[key] = trigger(self.lowered)
        return self._triggered[key]


# -- the redactor --------------------------------------------------------------------------


@dataclass(frozen=True)
class Finding:
    """Secret-shaped or known-secret text: which rule, where, and the value itself (never to
    be printed; see ``preview``)."""

    rule: str
    start: int
    value: str
    marker: str = "<SECRET>"


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
        yield view, _ESCAPE_SENSITIVE_RULES
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
        text = _replace_rule_matches(text)
        found: list[tuple[str, str]] = []  # then the views of what is left, as the scan sees it
        for view, rules in _views(text):
            found += [(f.value, f.marker) for f in self._shapes(view, rules)]
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
        found += self._shapes(text)
        for view, rules in _views(text):
            found += [
                Finding(f.rule, _find(text, f.value), f.value, f.marker)
                for f in self._shapes(view, rules)
            ]
        return found

    def _shapes(self, text: str, rules: tuple[Rule, ...] = RULES) -> list[Finding]:
        lowered = _Lowered(text)
        found = []
        for rule in rules:
            if not rule.applies(lowered):
                continue
            for match in rule.pattern.finditer(text):
                if rule.skips(match):
                    continue
                start, end = rule.secret_span(match)
                name = rule.name if rule.marker else f"{rule.name} {match['name'].lower()}"
                found.append(Finding(name, start, text[start:end], rule.marker_for(match)))
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


def _inside_marker(text: str, index: int) -> bool:
    opening = text.rfind("<", max(0, index - 64), index + 1)
    if opening < 0:
        return False
    closing = text.find(">", index)
    return closing >= 0 and MARKER.fullmatch(text, opening, closing + 1) is not None


def _find(text: str, value: str) -> int:
    for form in encodings(value):
        index = text.find(form)
        if index >= 0:
            return index
    return 0


def _replace_rule_matches(text: str) -> str:
    lowered = _Lowered(text)  # the markers put in below add no word a guard looks for
    for rule in RULES:
        if rule.applies(lowered):
            text = rule.pattern.sub(_REPLACERS[id(rule)], text)
    return text


def _replacer(rule: Rule) -> Callable[[re.Match[str]], str]:
    def replace(match: re.Match[str]) -> str:
        if rule.skips(match):
            return match.group()
        start, end = rule.secret_span(match)
        base = match.start()
        whole = match.group()
        return whole[: start - base] + rule.marker_for(match) + whole[end - base :]

    return replace


_REPLACERS = {id(rule): _replacer(rule) for rule in RULES}


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


# -- logging -------------------------------------------------------------------------------

# The loggers whose records are known to carry credentials or request details.
SDK_LOGGERS = ("azure", "azure.identity", "azure.core", "msal", "openai", "httpx", "urllib3")


class RedactingFilter(logging.Filter):
    """Redacts a record's message (arguments merged in) and its exception text in place."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self.redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "_redacted", False):
            return True
        record.msg = self.redactor.redact(record.getMessage())
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redactor.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redactor.redact(record.stack_info)
        record._redacted = True
        return True


@contextlib.contextmanager
def redacting_logs(redactor: Redactor) -> Iterator[RedactingFilter]:
    """While the harness runs, every log record is redacted when it is made; so are Python
    warnings (routed through logging) and the traceback of an uncaught exception.

    A filter on a logger does not see its children's records (azure.identity._internal...),
    and one on a handler misses handlers added later (and the last-resort handler that prints
    warnings when none is configured), so the filter runs from the log record factory; it is
    also put on the SDK loggers and the root and last-resort handlers, for records made before.
    """
    record_filter = RedactingFilter(redactor)
    previous_factory = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous_factory(*args, **kwargs)
        record_filter.filter(record)
        return record

    handlers = list(logging.getLogger().handlers)
    if logging.lastResort is not None:
        handlers.append(logging.lastResort)
    filtered: list[logging.Filterer] = [*map(logging.getLogger, SDK_LOGGERS), *handlers]
    previous_hooks = sys.excepthook, threading.excepthook

    def excepthook(kind: type[BaseException], error: BaseException, tb: Any) -> None:
        text = "".join(traceback.format_exception(kind, error, tb))
        sys.stderr.write(redactor.redact(text))

    def thread_excepthook(args: threading.ExceptHookArgs) -> None:
        if args.exc_value is not None:
            name = args.thread.name if args.thread else "?"
            sys.stderr.write(f"Exception in thread {name}:\n")
            excepthook(args.exc_type, args.exc_value, args.exc_traceback)

    logging.setLogRecordFactory(factory)
    for target in filtered:
        target.addFilter(record_filter)
    logging.captureWarnings(True)
    sys.excepthook, threading.excepthook = excepthook, thread_excepthook
    failed = False
    try:
        yield record_filter
    except BaseException:
        failed = True  # its traceback is printed after this returns: keep sys.excepthook
        raise
    finally:
        threading.excepthook = previous_hooks[1]
        if not failed:
            sys.excepthook = previous_hooks[0]
        logging.captureWarnings(False)
        for target in filtered:
            target.removeFilter(record_filter)
        logging.setLogRecordFactory(previous_factory)
