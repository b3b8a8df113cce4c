"""redaction.redactor: what it masks (known values, endpoint names, detect-secrets' formats) in
every encoding, what it leaves alone, its log filter; and the snippet's standalone redact()."""

from __future__ import annotations

import json
import logging
import threading
import warnings
from pathlib import Path
from types import ModuleType
from urllib.parse import quote

import pytest

from foundry_goldens.goldens.dialogues import Dialogue, Turn
from foundry_goldens.recording.targets import EmulatorTarget
from foundry_goldens.redaction.logs import redacting_logs
from foundry_goldens.redaction.redactor import Redactor, secrets_from_environment
from tests.paths import CASSETTE_DIR, SNAPSHOT_DIR

LIVE_ENDPOINT = "https://contoso-canary-res.services.ai.azure.com/api/projects/contoso-canary-proj"
SETTINGS = {
    "AZURE_AI_PROJECT_ENDPOINT": LIVE_ENDPOINT,
    "AZURE_CLIENT_SECRET": "Qk8Q~canary.CLIENTsecret_0a1b2c3d4e5f6g7h8",
    "AZURE_CLIENT_ID": "c1e17c1d-ca11-4bad-8eef-0ca11ab1ec0d",
    "AZURE_TENANT_ID": "7e11a17e-7e57-4a1d-9c0d-5ca1ab1ec0de",
}
# (what is planted, the part that must disappear): formats no setting names
FORMATS = {
    "GitHub": ("ghp_C4n4ryGitHubT0ken0123456789abcdefghi",) * 2,
    "AccountKey": (
        "AccountName=a;AccountKey=" + "Q" * 86 + "==;EndpointSuffix=core.windows.net",
        "Q" * 40,
    ),
    "AccountKey, short": ("AccountKey=c4naryShortKey0123==;", "c4naryShortKey0123"),
    "AWS": ("AKIAC4NARYAWSKEY0123",) * 2,
    "Stripe": ("sk_live_C4n4ryStripeKey012345678",) * 2,
    "Slack": ("xoxb-1234567890-9876543210-c4n4ryslacktoken",) * 2,
    "OpenAI": ("sk-proj-C4n4ryOpenAIkey01234T3BlbkFJC4n4ryOpenAIkey56789",) * 2,
    "PEM": (
        "-----BEGIN RSA PRIVATE KEY-----\nMIIEc4naryPEMbody0123\n-----END RSA PRIVATE KEY-----",
        "MIIEc4naryPEMbody0123",
    ),
    "PEM cut off": ("-----BEGIN PRIVATE KEY-----\nMIIEc4naryPEMbody0123", "MIIEc4naryPEMbody0123"),
    "basic auth": ("https://user:C4naryBasicPassw0rd@files.example.org/x", "C4naryBasicPassw0rd"),
    "password field": ('{"password": "C4naryPasswordField!"}', "C4naryPasswordField!"),
    "apiKey field": ('{"apiKey": "C4naryApiKeyField-0123"}', "C4naryApiKeyField-0123"),
    "resource id": (
        "/subscriptions/5b5c41b5-c4a7-4b1d-9e0f-5c4a77c4a7a7/resourceGroups/rg-c4nary/x",
        "5b5c41b5-c4a7-4b1d-9e0f-5c4a77c4a7a7",
    ),
    "JWT": (
        "eyJhbGciOiJSUzI1NiJ9.eyJjYW5hcnkiOiJ4In0.c2lnbmF0dXJlLWNhbmFyeQ",
        "c2lnbmF0dXJlLWNhbmFyeQ",
    ),
    "bearer": (
        "Authorization: Bearer c4nary-opaque-token-7c6b5a4d",
        "c4nary-opaque-token-7c6b5a4d",
    ),
}


def forms(text: str) -> dict[str, str]:
    """A text as a message, a JSON string, a JSON string inside a JSON string, a URL."""
    return {
        "plain": f"error: {text} (end)",
        "json": json.dumps({"error": text}),
        "json in json": json.dumps({"output": json.dumps({"said": text})}),
        "url": "https://x.example/?q=" + quote(text, safe=""),
    }


@pytest.mark.parametrize("name", FORMATS)
def test_every_format_is_masked_in_every_encoding(name: str) -> None:
    planted, secret = FORMATS[name]
    redactor = Redactor.from_settings(SETTINGS)
    for encoding, text in forms(planted).items():
        redacted = redactor.redact(text)
        assert secret not in redacted, (encoding, redacted)
        assert quote(secret, safe="") not in redacted, (encoding, redacted)
        assert "<" in redacted, (encoding, redacted)  # a marker says what was there


@pytest.mark.parametrize("name", ["AZURE_CLIENT_SECRET", "AZURE_CLIENT_ID", "AZURE_TENANT_ID"])
def test_settings_are_masked_in_every_encoding(name: str) -> None:
    redactor = Redactor.from_settings(SETTINGS)
    for encoding, text in forms(SETTINGS[name]).items():
        assert redactor.redact(text).count(f"<{name}>") == 1, encoding


def test_a_setting_cut_off_by_a_shortened_message_is_masked() -> None:
    redactor = Redactor.from_settings(SETTINGS)
    cut = SETTINGS["AZURE_CLIENT_ID"][:30]
    assert redactor.redact(f"client {cut}…") == "client <AZURE_CLIENT_ID>…"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "see contoso-canary-res.services.ai.azure.com:443/x",
            "see <RESOURCE_HOST>:443/x",
        ),
        (
            "u=https%3A%2F%2Fcontoso-canary-res.services.ai.azure.com%2Fapi%2Fprojects%2Fcontoso-canary-proj",
            "u=https%3A%2F%2F<RESOURCE_HOST>%2Fapi%2Fprojects%2F<PROJECT>",
        ),
        (
            '{"p": "Contoso-Canary-Proj", "r": "contoso-canary-res"}',
            '{"p": "<PROJECT>", "r": "<RESOURCE>"}',
        ),
        ("contoso-canary-projects and my-contoso-canary-res stay", None),
    ],
)
def test_the_live_endpoint_names_are_masked_in_any_form(text: str, expected: str | None) -> None:
    assert Redactor.from_settings(SETTINGS).redact(text) == (expected or text)


def test_the_emulator_names_are_not_secrets() -> None:
    redactor = Redactor(endpoints=["http://127.0.0.1:8123/api/projects/demo"])
    assert redactor.redact("a demo on 127.0.0.1:8123") == "a demo on 127.0.0.1:8123"


def test_goldens_and_real_traffic_pass_unchanged() -> None:
    """No false positives: ids, hashes and replies are not secrets, in the goldens nor in the
    real Foundry traffic of tests/reference/."""
    redactor = Redactor.from_settings(SETTINGS)
    reference = Path(__file__).parent / "reference"
    files = [
        *CASSETTE_DIR.glob("*.json"),
        *SNAPSHOT_DIR.glob("*.json"),
        *reference.rglob("*.json"),
        *reference.rglob("*.md"),
    ]
    assert files
    for path in files:
        text = path.read_text(encoding="utf-8")
        assert redactor.redact(text) == text, path.name
        assert redactor.findings(text) == [], path.name


def test_secrets_come_from_the_environment_in_emulator_mode_too() -> None:
    environ = {**SETTINGS, "GITHUB_TOKEN": "ghp_x" * 4, "SHORT_TOKEN": "true", "PWD": "/work/x"}
    assert set(secrets_from_environment(environ)) == {
        "AZURE_CLIENT_SECRET",
        "AZURE_CLIENT_ID",
        "AZURE_TENANT_ID",
        "GITHUB_TOKEN",
    }
    target = EmulatorTarget(settings=environ)
    with target.session(Dialogue(name="d", turns=[Turn(user="hi")])) as session:
        assert session.secrets["AZURE_CLIENT_SECRET"] == SETTINGS["AZURE_CLIENT_SECRET"]
        assert session.scrubbed_endpoints == (LIVE_ENDPOINT,)


def test_log_records_are_redacted_on_every_handler(tmp_path: Path) -> None:
    secret = SETTINGS["AZURE_CLIENT_SECRET"]
    before = logging.FileHandler(tmp_path / "before.log")
    root = logging.getLogger()
    root.addHandler(before)
    try:
        with redacting_logs(Redactor.from_settings(SETTINGS)):
            after = logging.FileHandler(tmp_path / "after.log")
            root.addHandler(after)
            log = logging.getLogger("azure.identity._internal.msal_client")
            log.warning("token request failed for %s", secret)
            try:
                raise ValueError(f"client_secret={secret}")
            except ValueError:
                log.exception("sign-in failed")
            root.removeHandler(after)
            after.close()
        logging.getLogger("outside").warning("after: %s", "plain")
    finally:
        root.removeHandler(before)
        before.close()
    for name in ("before.log", "after.log"):
        text = (tmp_path / name).read_text(encoding="utf-8")
        assert "token request failed for <AZURE_CLIENT_SECRET>" in text, name
        assert "sign-in failed" in text and "ValueError" in text
        assert secret not in text, name
    assert "after: plain" in (tmp_path / "before.log").read_text(encoding="utf-8")
    assert logging.getLogRecordFactory() is logging.LogRecord


def test_warnings_and_thread_tracebacks_are_redacted(
    capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    secret = SETTINGS["AZURE_CLIENT_SECRET"]

    def crash() -> None:
        raise RuntimeError(f"sign-in with {secret} failed")

    hook = threading.excepthook
    with redacting_logs(Redactor.from_settings(SETTINGS)):
        warnings.warn(f"insecure: {secret}", UserWarning, stacklevel=1)
        thread = threading.Thread(target=crash, name="worker")
        thread.start()
        thread.join()
    stderr = capsys.readouterr().err
    assert "sign-in with <AZURE_CLIENT_SECRET> failed" in stderr
    assert "insecure: <AZURE_CLIENT_SECRET>" in caplog.text
    assert secret not in stderr + caplog.text
    assert threading.excepthook is hook


# -- the snippet's own redact(): the standard library only -----------------------------------


# What the snippet itself can hold besides its settings' values: the Entra token it sends, sign-in
# fields, credentials in a URL. Other services' key formats are the harness's to find.
SNIPPET_FORMATS = {
    name: FORMATS[name]
    for name in ("JWT", "bearer", "basic auth", "password field", "apiKey field")
} | {
    "SAS signature": (
        "https://acct.blob.core.windows.net/c/x?sv=2024&sig=C4narySasSignature%2B0123%3D",
        "C4narySasSignature",
    ),
    "client_secret field": ("client_secret=C4naryClientSecret~0123&grant", "C4naryClientSecret"),
}


@pytest.mark.parametrize("name", SNIPPET_FORMATS)
def test_the_snippet_masks_what_it_can_hold(snippet: ModuleType, name: str) -> None:
    planted, secret = SNIPPET_FORMATS[name]
    for encoding, text in forms(planted).items():
        assert secret not in snippet.redact(text, {}), encoding


@pytest.mark.parametrize(
    "key", ["AZURE_CLIENT_SECRET", "AZURE_CLIENT_ID", "AZURE_TENANT_ID", "MY_API_KEY"]
)
def test_the_snippet_masks_secret_looking_settings(snippet: ModuleType, key: str) -> None:
    value = "c4nary-Setting-value/0123"
    environment = {key: value, "PWD": "/work", "AZURE_FOUNDRY_AGENT_NAME": "retail-support"}
    for encoding, text in forms(value).items():
        redacted = snippet.redact(text, environment)
        assert value not in redacted and "c4nary" not in redacted, encoding
    assert snippet.redact("agent retail-support in /work", environment) == (
        "agent retail-support in /work"
    )
