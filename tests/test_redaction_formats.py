"""Secret formats the redaction knows beyond detect-secrets' rules: gitleaks' rules (OpenAI
project keys whole, Anthropic, Azure AD client secrets...), Basic credentials, passwords
assigned in free text and connection strings; none of them masks ordinary dialogue text. And
``redact_text``, the redaction for failure text printed outside a run."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from urllib.parse import quote

import pytest

from benchmarks.canaries import ANTHROPIC_KEY, OPENAI_PROJECT_KEY
from foundry_goldens.cassettes.sanitizer import scan_for_leaks
from foundry_goldens.redaction import redactor as redactor_module
from foundry_goldens.redaction.gitleaks import RULES as GITLEAKS_RULES
from foundry_goldens.redaction.gitleaks import SOURCE, shannon_entropy
from foundry_goldens.redaction.redactor import Redactor, configure_redaction, redact_text
from foundry_goldens.redaction.rules import RULES
from tests.paths import CASSETTE_DIR, DIALOGUE_DIR, SNAPSHOT_DIR

# (what is planted, what must disappear, the marker that says what it was)
FORMATS = {
    "OpenAI project key": (OPENAI_PROJECT_KEY, OPENAI_PROJECT_KEY[-40:], "<OPENAI_API_KEY>"),
    "OpenAI project key, no T3BlbkFJ": (
        "sk-proj-C4n4ryKeyWithoutTheMarker_0123456789-abcdef",
        "C4n4ryKeyWithoutTheMarker",
        "<OPENAI_API_KEY>",
    ),
    "OpenAI service account key": (
        OPENAI_PROJECT_KEY.replace("sk-proj-", "sk-svcacct-"),
        OPENAI_PROJECT_KEY[-40:],
        "<OPENAI_API_KEY>",
    ),
    "Anthropic key": (ANTHROPIC_KEY, ANTHROPIC_KEY[-40:], "<ANTHROPIC_API_KEY>"),
    "Anthropic key, in prose": (f"use {ANTHROPIC_KEY}.", ANTHROPIC_KEY[20:], "<ANTHROPIC"),
    "Anthropic admin key": (
        ANTHROPIC_KEY.replace("api03", "admin01"),
        ANTHROPIC_KEY[-40:],
        "<ANTHROPIC",
    ),
    "password= in free text": (
        "the database password=C4naryFreeTextPw9 was rotated",
        "C4naryFreeTextPw9",
        "<PASSWORD>",
    ),
    "ADO.NET connection string": (
        "Server=tcp:c4nary.database.windows.net,1433;Initial Catalog=orders;User ID=canary;"
        "Password=C4nary$QLpw!2;Encrypt=True;",
        "C4nary$QLpw!2",
        "<PASSWORD>",
    ),
    "ODBC connection string, braced": (
        "Driver={ODBC Driver 18};Server=x;Uid=sa;Pwd={C4nary;Braced}pw};",
        "C4nary;Braced",
        "<PASSWORD>",
    ),
    "SQL connection URL query": (
        "postgres://db.example/x?user=app&password=C4naryQueryPw1&sslmode=require",
        "C4naryQueryPw1",
        "<PASSWORD>",
    ),
    "Basic credentials": (
        "Authorization: Basic " + base64.b64encode(b"canary-user:C4naryBasicHdrPw0").decode(),
        base64.b64encode(b"canary-user:C4naryBasicHdrPw0").decode(),
        "<BASIC_AUTH>",
    ),
    "Azure AD client secret": (
        "secret: abc8Q~C4naryClientSecretValue0123456789",
        "C4naryClientSecretValue0123456789",
        "<AZURE_AD_CLIENT_SECRET>",
    ),
    "GitHub fine-grained PAT": (
        "github_pat_" + "C4n4ryFineGrained0123456789_" * 2 + "abcdefghijklmnopqrstuvwxyz",
        "C4n4ryFineGrained0123456789",
        "<GITHUB_FINE_GRAINED_PAT>",
    ),
    "Google API key": (
        "key=AIzaSyC4n4ryGoogleKey0123456789abcdefgh ok",
        "C4n4ryGoogleKey",
        "<GCP_API_KEY>",
    ),
    "Hugging Face token": (
        "hf_" + "CanaryHuggingFaceTokenabcdefghijkl" + " ok",
        "CanaryHuggingFaceToken",
        "<HUGGINGFACE_ACCESS_TOKEN>",
    ),
}


def lower_hex(text: str) -> str:
    return re.sub(r"%[0-9A-F]{2}", lambda m: m.group().lower(), text)


def forms(text: str) -> dict[str, str]:
    return {
        "plain": f"error: {text} (end)",
        "json": json.dumps({"error": text}),
        "json in json": json.dumps({"output": json.dumps({"said": text})}),
        "json, ascii-escaped +": json.dumps({"e": text}).replace("+", "\\u002B"),
        "url": "https://x.example/?q=" + quote(text, safe=""),
        "url, lower-case hex": "https://x.example/?q=" + lower_hex(quote(text, safe="")),
    }


@pytest.mark.parametrize("name", FORMATS)
def test_every_new_format_is_masked_in_every_encoding(name: str) -> None:
    planted, secret, marker = FORMATS[name]
    redactor = Redactor()
    for encoding, text in forms(planted).items():
        redacted = redactor.redact(text)
        assert secret not in redacted, (encoding, redacted)
        assert quote(secret, safe="") not in redacted, (encoding, redacted)
        assert lower_hex(quote(secret, safe="")) not in redacted, (encoding, redacted)
        if encoding == "plain":
            assert marker in redacted, redacted
        assert scan_for_leaks(text), (encoding, "the leak scan sees it too")
        assert scan_for_leaks(redacted) == [], (encoding, redacted)


@pytest.mark.parametrize(
    "text",
    [
        "Basic plans start at $5; the basic membership has no fee.",
        "Reset your password from the sign-in page; your password must be 12 characters.",
        "The password field is empty.",
        "Use sk-proj keys from the dashboard, or an sk-ant key.",
        "basic auth is disabled",
        "a pwd of /home/user",
        "Authorization: Basic <BASIC_AUTH>",
        "Password=<PASSWORD>;",
        "hf_hub is a library; AIza is a prefix.",
    ],
)
def test_ordinary_text_is_not_masked(text: str) -> None:
    assert Redactor().redact(text) == text
    assert Redactor().findings(text) == []


def test_the_shipped_goldens_texts_pass_untouched() -> None:
    """Every dialogue, snapshot and cassette as it is committed: nothing to mask."""
    redactor = Redactor()
    files = [
        *DIALOGUE_DIR.glob("*.yaml"),
        *SNAPSHOT_DIR.glob("*.json"),
        *CASSETTE_DIR.glob("*.json"),
    ]
    assert len(files) > 20
    for path in files:
        text = path.read_text(encoding="utf-8")
        assert redactor.redact(text) == text, path.name
        assert redactor.findings(text) == [], path.name


def test_the_gitleaks_rules_are_used_with_their_source() -> None:
    ids = {rule.id for rule in GITLEAKS_RULES}
    assert {"openai-api-key", "anthropic-api-key", "azure-ad-client-secret"} <= ids
    assert ids <= {rule.name for rule in RULES}
    assert SOURCE.startswith("https://github.com/gitleaks/gitleaks/blob/")
    assert shannon_entropy("aaaa") == 0 and shannon_entropy("abcd") == 2


def test_detect_secrets_keeps_its_plugins() -> None:
    names = {rule.name for rule in RULES}
    assert {"GitHub Token", "AWS Access Key", "Secret Keyword", "Private Key"} <= names


# -- redact_text: failure text printed by pytest ---------------------------------------------


def test_redact_text_masks_the_configured_settings_and_the_rules(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(redactor_module, "_default", None)
    secret = "C4nary+Svc/Pa55word=9"
    monkeypatch.setenv("CANARY_SERVICE_PASSWORD", secret)
    blob = base64.b64encode(secret.encode()).decode()
    # Not configured: the process environment as it is now.
    assert redact_text(f"got {blob} and {lower_hex(quote(secret, safe=''))}") == (
        "got <CANARY_SERVICE_PASSWORD> and <CANARY_SERVICE_PASSWORD>"
    )
    configure_redaction({"CANARY_SERVICE_PASSWORD": secret, "AZURE_CLIENT_SECRET": "s3cr3t-C4nary"})
    monkeypatch.delenv("CANARY_SERVICE_PASSWORD")  # as the replay tests strip the settings
    assert redact_text(f"{secret} s3cr3t-C4nary {ANTHROPIC_KEY}") == (
        "<CANARY_SERVICE_PASSWORD> <AZURE_CLIENT_SECRET> <ANTHROPIC_API_KEY>"
    )
    monkeypatch.setattr(redactor_module, "_default", None)


def test_redact_text_is_exported_by_the_package() -> None:
    import foundry_goldens.redaction as redaction

    assert redaction.redact_text("key sk-proj-C4n4ryKeyWithoutTheMarker_0123456789") == (
        "key <OPENAI_API_KEY>"
    )
    assert callable(redaction.configure_redaction)


def test_the_reference_traffic_passes_untouched() -> None:
    reference = Path(__file__).parent / "reference"
    redactor = Redactor()
    for path in [*reference.rglob("*.json"), *reference.rglob("*.md")]:
        text = path.read_text(encoding="utf-8")
        assert redactor.redact(text) == text, path.name
