"""The redaction decodes before it judges: a known secret is masked in every encoding it can
take (base64, Basic credentials, percent-encoding in either case, JSON escapes nested and
``\\uXXXX``), the text around it untouched; property-based (hypothesis) and by example."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from urllib.parse import quote, quote_plus

from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from foundry_goldens.cassettes.sanitizer import Sanitizer, scan_for_leaks
from foundry_goldens.redaction.decoding import decode_base64_text, views
from foundry_goldens.redaction.redactor import Redactor

NAME = "CANARY_SERVICE_PASSWORD"
MARKER = f"<{NAME}>"
ANY_MARKER = re.compile(r"<[A-Z0-9_]+>")


def lower_hex(text: str) -> str:
    return re.sub(r"%[0-9A-F]{2}", lambda m: m.group().lower(), text)


def u_escaped(text: str) -> str:
    """Every character as a JSON \\uXXXX escape (astral ones as a surrogate pair)."""
    return "".join(f"\\u{ord(c):04x}" if ord(c) < 0x10000 else json.dumps(c)[1:-1] for c in text)


def json_once(text: str) -> str:
    return json.dumps(text)[1:-1]


def json_ascii(text: str) -> str:
    return json.dumps(text, ensure_ascii=True)[1:-1]


# Every way the value is written that the redaction must see through.
ENCODINGS: dict[str, Callable[[str], str]] = {
    "plain": lambda s: s,
    "url": lambda s: quote(s, safe=""),
    "url, lower-case hex": lambda s: lower_hex(quote(s, safe="")),
    "form": quote_plus,
    "form, lower-case hex": lambda s: lower_hex(quote_plus(s)),
    "json": json_once,
    "json, ascii": json_ascii,
    "json, twice": lambda s: json_once(json_once(s)),
    "json, three times": lambda s: json_once(json_once(json_once(s))),
    "json, every character \\u-escaped": u_escaped,
    "json, \\u-escaped, then escaped again": lambda s: json_once(u_escaped(s)),
    "json, + as \\u002B": lambda s: json_once(s).replace("+", "\\u002B"),
    "json, / as \\/": lambda s: json_once(s).replace("/", "\\/"),
    "json tool output in a json body": lambda s: json_once(json.dumps({"output": s})),
    "base64": lambda s: base64.b64encode(s.encode()).decode(),
    "base64, url-safe unpadded": lambda s: (
        base64.urlsafe_b64encode(s.encode()).decode().rstrip("=")
    ),
    "base64 of a sentence": lambda s: base64.b64encode(f"the key is {s}.".encode()).decode(),
    "Basic credentials": lambda s: "Basic " + base64.b64encode(f"svc:{s}".encode()).decode(),
    "base64, url-encoded": lambda s: quote(base64.b64encode(s.encode()).decode(), safe=""),
    "url-encoded, in json": lambda s: json_once("https://x.example/?k=" + quote(s, safe="")),
}

# Secrets: printable, no whitespace at either end (settings are stripped), with the characters
# encodings change (+ / = % " \ & ~ and non-ASCII).
SECRET_CHARACTERS = st.sampled_from(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    "+/=%\"\\&~!$@#^*()_-.:;?'[]{}|`éß€😀"
)
SECRETS = st.text(SECRET_CHARACTERS, min_size=8, max_size=40)
# Surrounding text: words and punctuation a dialogue holds.
WORDS = st.text(st.sampled_from("abcdefghijklmnopqrstuvwxyz ABCDEFXYZ.,!?-'"), max_size=40)


def _redacted(secret: str, encoded: str, before: str, after: str) -> str:
    return Redactor({NAME: secret}).redact(f"{before} {encoded} {after}")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(secret=SECRETS, before=WORDS, after=WORDS, encoding=st.sampled_from(sorted(ENCODINGS)))
@example(secret='C4nary+Svc/Pa"ss\\word=9', before="a", after="b", encoding="json, twice")
@example(secret="Qk8Q~canary.CLIENTsecret_0a1b", before="", after="", encoding="base64")
def test_every_encoding_of_a_secret_is_masked_and_the_text_around_it_survives(
    secret: str, before: str, after: str, encoding: str
) -> None:
    assume(secret not in before and secret not in after)
    encoded = ENCODINGS[encoding](secret)
    redacted = _redacted(secret, encoded, before, after)
    assert redacted.startswith(f"{before} ") and redacted.endswith(f" {after}"), redacted
    middle = redacted[len(before) + 1 : len(redacted) - len(after) - 1]
    assert encoded not in redacted
    assert secret not in middle
    assert ANY_MARKER.search(middle), (encoded, middle)
    if encoding == "Basic credentials":
        assert middle.startswith("Basic <")


@settings(max_examples=40, deadline=None)
@given(secret=SECRETS, encoding=st.sampled_from(sorted(ENCODINGS)))
def test_the_leak_scan_sees_every_encoding(secret: str, encoding: str) -> None:
    text = f'{{"note": "{ENCODINGS[encoding](secret)}"}}'
    assert any(NAME in leak.rule for leak in scan_for_leaks(text, {NAME: secret})), encoding


@settings(max_examples=40, deadline=None)
@given(text=WORDS)
def test_text_without_secrets_is_left_as_it_is(text: str) -> None:
    redactor = Redactor({NAME: 'C4nary+Svc/Pa"ss\\word=9'})
    for name, encoding in ENCODINGS.items():
        if name != "Basic credentials":  # credentials, whoever's: always masked
            assert redactor.redact(encoding(text)) == encoding(text), name


# -- by example: the forms that reached cassettes and snapshots ------------------------------

SERVICE_PASSWORD = 'C4nary+Svc/Pa"ss\\word=9'
CLIENT_SECRET = "Qk8Q~canary.CLIENTsecret_0a1b2c3d4e5f6g7h8"
KNOWN = {NAME: SERVICE_PASSWORD, "AZURE_CLIENT_SECRET": CLIENT_SECRET}


def test_base64_user_secret_in_a_basic_header() -> None:
    redactor = Redactor(KNOWN)
    known = base64.b64encode(f"svc:{SERVICE_PASSWORD}".encode()).decode()
    unknown = base64.b64encode(b"canary-user:C4naryBasicHdrPw0").decode()
    assert redactor.redact(f"Authorization: Basic {known}") == f"Authorization: Basic {MARKER}"
    assert redactor.redact(f"authorization: basic {unknown}") == "authorization: basic <BASIC_AUTH>"
    assert redactor.redact(json.dumps({"h": f"Basic {unknown}"})) == '{"h": "Basic <BASIC_AUTH>"}'
    # Not credentials: a word, or base64 that is no user:password.
    for text in ("Basic plans start at $5", "Basic " + base64.b64encode(b"hello world").decode()):
        assert redactor.redact(text) == text


def test_a_base64_blob_holding_a_known_secret_is_masked_whole() -> None:
    blob = base64.b64encode(f"note {CLIENT_SECRET} end".encode()).decode()
    assert Redactor(KNOWN).redact(f'{{"session": "{blob}"}}') == (
        '{"session": "<AZURE_CLIENT_SECRET>"}'
    )


def test_a_lower_case_percent_encoded_secret() -> None:
    text = "state=" + lower_hex(quote(SERVICE_PASSWORD, safe="")) + "&x=1"
    assert Redactor(KNOWN).redact(text) == f"state={MARKER}&x=1"
    mixed = "state=" + quote(SERVICE_PASSWORD, safe="").replace("%2B", "%2b")
    assert Redactor(KNOWN).redact(mixed) == f"state={MARKER}"


def test_a_u_escaped_token_inside_a_json_tool_output() -> None:
    output = json.dumps({"token": CLIENT_SECRET}, ensure_ascii=True).replace(
        CLIENT_SECRET, u_escaped(CLIENT_SECRET)
    )
    body = json.dumps({"type": "function_call_output", "output": output})
    redacted = Redactor(KNOWN).redact(body)
    assert json.loads(json.loads(redacted)["output"]) == {"token": "<AZURE_CLIENT_SECRET>"}


def test_a_value_json_escaped_twice_and_plus_as_u002b() -> None:
    redactor = Redactor(KNOWN)
    twice = json.dumps(json.dumps({"p": SERVICE_PASSWORD}))
    assert json.loads(json.loads(redactor.redact(twice))) == {"p": MARKER}
    dotnet = json.dumps({"p": SERVICE_PASSWORD}).replace("+", "\\u002B")
    assert json.loads(redactor.redact(dotnet)) == {"p": MARKER}


def test_decoded_views_map_back_to_whole_escape_sequences() -> None:
    text = "a\\\\u002Bb %2b YWJjZGVmZ2hpams="
    found = list(views(text))
    assert {view.how for view in found} == {"json", "percent", "base64"}
    twice = next(view for view in found if view.text.startswith("a+b"))
    assert (twice.how, twice.parent and twice.parent.how) == ("json", "json")
    start, end = twice.root_span(1, 2)
    assert text[start:end] == "\\\\u002B"  # the + as written, all of it
    percent = next(view for view in found if view.how == "percent" and view.parent is not None)
    index = percent.text.index(" + ") + 1
    start, end = percent.root_span(index, index + 1)
    assert text[start:end] == "%2b"
    blob = next(view for view in found if view.how == "base64")
    start, end = blob.root_span(2, 3)
    assert blob.text == "abcdefghijk" and text[start:end] == "YWJjZGVmZ2hpams="  # all of it
    assert decode_base64_text("YWJjZGVmZ2hpams=") == "abcdefghijk"
    assert decode_base64_text("not base64 at all") is None


def test_the_sanitizer_masks_encoded_secrets_and_its_scan_agrees() -> None:
    sanitizer = Sanitizer("https://canary-res.services.ai.azure.com/api/projects/p", KNOWN)
    blob = base64.b64encode(f"svc:{SERVICE_PASSWORD}".encode()).decode()
    body = json.dumps(
        {
            "output": json.dumps({"token": u_escaped(CLIENT_SECRET)}),
            "header": f"Basic {blob}",
            "url": "https://x.example/?s=" + lower_hex(quote(SERVICE_PASSWORD, safe="")),
            "twice": json_once(json_once(SERVICE_PASSWORD)),
        }
    )
    assert sanitizer.scan(body)
    scrubbed = sanitizer.scrub_text(body)
    assert sanitizer.scan(scrubbed) == []
    for needle in (CLIENT_SECRET, SERVICE_PASSWORD, blob, u_escaped(CLIENT_SECRET)[:24]):
        assert needle not in scrubbed
    json.loads(scrubbed)  # still JSON: whole escape sequences were masked
