"""The rules for secret-shaped text: detect-secrets' plugins, through its public API, gitleaks'
rules for what detect-secrets misses (``foundry_goldens.redaction.gitleaks``), plus the few narrow
rules neither has; and how they are run cheaply.

detect-secrets (https://github.com/Yelp/detect-secrets) keeps most of the rule set: every
regex-based plugin (GitHub, GitLab, AWS, Azure storage, Stripe, Slack, OpenAI, JWT, basic-auth
URLs, private keys, Twilio, SendGrid, npm, PyPI...) and its keyword plugin (``password``,
``api_key``, ``secret``... = "value"). Left out: its entropy plugins, which flag every id and
hash (and would break replay, which matches request bodies), and its public-IP plugin (not a
credential). gitleaks (https://github.com/gitleaks/gitleaks) adds OpenAI project keys whole,
Anthropic, Azure AD client secrets, Google, Hugging Face, Databricks...; its ``curl-auth-header``
rule gives the shape of ``Basic`` credentials.

Rules run first on the text, then on its decoded views (``foundry_goldens.redaction.decoding``).
Each rule is guarded by a substring check or a quick trigger: most text holds none of the words
a rule needs, and then its pattern never walks it (recording is CPU-bound).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from detect_secrets.core.plugins.util import get_mapping_from_secret_type_to_class
from detect_secrets.plugins import keyword as keyword_plugin
from detect_secrets.plugins.base import RegexBasedDetector

from foundry_goldens.redaction import gitleaks
from foundry_goldens.redaction.decoding import decode_base64_text

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
    # None: the longest group of 8+ characters, else the match; a tuple: the first that matched
    group: int | str | tuple[str, ...] | None = None
    trigger: Callable[[str], bool] | None = None
    """For a slow pattern whose words are everywhere ("token"): a quick test on the lowercased
    text that any match needs to pass (case-insensitive patterns skip the C fast paths)."""
    check: Callable[[str], bool] | None = None
    """What the secret itself must pass (gitleaks' entropy; Basic credentials that decode)."""

    def applies(self, text: LoweredText) -> bool:
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
            or (self.check is not None and not self.check(match.string[start:end]))
            or _inside_marker(match.string, match.start())
            # a marker, also Markdown-escaped (\<GITHUB\_TOKEN\>) as the golden diff prints it
            or bool(MARKER.fullmatch(match.string[start:end].replace("\\", "").strip("'\"")))
        )

    def marker_for(self, match: re.Match[str]) -> str:
        return self.marker or marker_for(match.group("name"))

    def secret_span(self, match: re.Match[str]) -> tuple[int, int]:
        if isinstance(self.group, tuple):
            name = next((g for g in self.group if match.group(g) is not None), self.group[0])
            return match.span(name)
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
NARROW_RULES: tuple[Rule, ...] = (
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


def is_basic_credentials(value: str) -> bool:
    """base64 of ``user:password`` (printable text with a colon), as ``Basic`` carries."""
    decoded = decode_base64_text(value)
    return decoded is not None and ":" in decoded and len(decoded) >= 3


# gitleaks' curl-auth-header Basic credentials, outside a curl command too (a header echoed in a
# log line, an error body, a tool output), the separator maybe URL-encoded; checked by decoding.
BASIC_PATTERN = re.compile(
    r"\b(basic)(?:[ \t]|\+|%20)+([A-Za-z0-9+/]{8,}={0,3})(?![A-Za-z0-9+/=])", re.IGNORECASE
)
# A password assigned with `=` in free text, a URL query, a .env/ini line or an ADO.NET / ODBC /
# SQL connection string (`Server=...;User ID=sa;Password=...;`, `Pwd={...}`): detect-secrets'
# keyword plugin in its config-file form (FOLLOWED_BY_EQUAL_SIGNS_REGEX, quotes optional),
# narrowed to the password words; the value ends where a connection string's does (`;`), or a
# query's (`&`), or at a space, quote or backslash (an escaped quote: the decoded view sees it).
PASSWORD_ASSIGNMENT = re.compile(
    r"(?:password|passwd|pwd)\w*[ \t]*=(?!=)[ \t]*"
    r"(?:\"(?P<dq>[^\"\r\n]+)\"|'(?P<sq>[^'\r\n]+)'|\{(?P<br>[^}\r\n]+)\}"
    r"|(?P<bare>[^\s;&\"'<>\\]+))",
    re.IGNORECASE,
)


def _entropy_at_least(bits: float) -> Callable[[str], bool]:
    return lambda secret: gitleaks.shannon_entropy(secret) >= bits


def _gitleaks_rules() -> tuple[Rule, ...]:
    rules = []
    for rule in gitleaks.RULES:
        pattern = re.compile(rule.python_regex)
        group = rule.secret_group if pattern.groups >= rule.secret_group else 0
        check = _entropy_at_least(rule.entropy) if rule.entropy else None
        rules.append(Rule(rule.id, pattern, marker_for(rule.id), rule.keywords, group, check=check))
    return tuple(rules)


GITLEAKS_RULES = _gitleaks_rules()
# Keys whose vendor prefix is unmistakable, at any length: gitleaks' rules above want the exact
# lengths of today's keys and a delimiter after them, so a key cut off, quoted in prose ("...AA.")
# or of next year's length would slip through whole; these take what the prefix starts.
VENDOR_PREFIX_RULES = (
    Rule(
        "openai-api-key",
        re.compile(r"\bsk-(?:proj|svcacct|admin)-[A-Za-z0-9_-]{20,}"),
        "<OPENAI_API_KEY>",
        ("sk-proj-", "sk-svcacct-", "sk-admin-"),
        group=0,
    ),
    Rule(
        "anthropic-api-key",
        re.compile(r"\bsk-ant-(?:api|admin|oat|sid)\d{2}-[A-Za-z0-9_-]{20,}"),
        "<ANTHROPIC_API_KEY>",
        ("sk-ant-",),
        group=0,
    ),
)
NARROW_RULES += (
    Rule(
        "basic auth credentials",
        BASIC_PATTERN,
        "<BASIC_AUTH>",
        ("basic",),
        group=2,
        check=is_basic_credentials,
    ),
    Rule(
        "password assignment",
        PASSWORD_ASSIGNMENT,
        "<PASSWORD>",
        ("password", "passwd", "pwd"),
        group=("dq", "sq", "br", "bare"),
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


# Whole-key rules first: detect-secrets' OpenAI pattern would otherwise take a key's first part
# and leave the rest for no rule to recognise.
RULES: tuple[Rule, ...] = (
    *GITLEAKS_RULES,
    *VENDOR_PREFIX_RULES,
    *NARROW_RULES,
    *_detect_secrets_rules(),
)
ESCAPE_SENSITIVE_RULES = tuple(rule for rule in RULES if rule.sees_escapes)
_GUARD_WORDS = tuple(dict.fromkeys(word for rule in RULES for word in rule.guard))


class LoweredText:
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


@dataclass(frozen=True)
class Finding:
    """Secret-shaped or known-secret text: which rule, where, and the value itself (never to
    be printed; see ``preview``)."""

    rule: str
    start: int
    value: str
    marker: str = "<SECRET>"


def find_shapes(text: str, rules: tuple[Rule, ...] = RULES) -> list[Finding]:
    """Secret-shaped text in ``text``, by ``rules``; markers are not findings."""
    lowered = LoweredText(text)
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


def _inside_marker(text: str, index: int) -> bool:
    opening = text.rfind("<", max(0, index - 64), index + 1)
    if opening < 0:
        return False
    closing = text.find(">", index)
    return closing >= 0 and MARKER.fullmatch(text, opening, closing + 1) is not None


def replace_matches(text: str) -> str:
    """``text`` with what every rule matches replaced by the rule's marker."""
    lowered = LoweredText(text)  # the markers put in below add no word a guard looks for
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
