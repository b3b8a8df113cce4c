"""The sanitizer's hooks, one rule at a time, and the leak scan behind them."""

from __future__ import annotations

import base64
import gzip
import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from vcr.cassette import Cassette
from vcr.request import Request

from foundry_goldens.cassettes import format as cassette_format
from foundry_goldens.cassettes.player import LeakCheckingPersister
from foundry_goldens.cassettes.sanitizer import (
    PLACEHOLDER_ENDPOINT,
    CassetteLeakError,
    Sanitizer,
    is_retried_failure,
    is_token_request,
    scan_for_leaks,
    secrets_from_environment,
)

CANARY_SECRET = "canary-SECRET-9f8e7d"
CANARY_TENANT = "0c4a11e5-7e57-4a1d-9c0d-5ca1ab1ec0de"
CANARY_CLIENT = "c1e17c1d-0000-4bad-8eef-feedfacecafe"
CANARY_JWT = "eyJhbGciOiJSUzI1NiJ9.eyJjYW5hcnkiOiJ0cnVlIn0.c2lnbmF0dXJlLWNhbmFyeQ"
CANARY_BEARER = "canary-opaque-token-7c6b5a4d"
CANARY_HOST = "canary-res.services.ai.azure.com"
ENDPOINT = f"https://{CANARY_HOST}/api/projects/proj"
SECRETS = {
    "AZURE_CLIENT_SECRET": CANARY_SECRET,
    "AZURE_TENANT_ID": CANARY_TENANT,
    "AZURE_CLIENT_ID": CANARY_CLIENT,
}


@pytest.fixture
def sanitizer() -> Sanitizer:
    return Sanitizer(ENDPOINT, SECRETS)


def _request(uri: str, body: Any = None, headers: dict[str, str] | None = None) -> Request:
    return Request("POST", uri, body, headers or {})


def _response(status: int = 200, body: Any = b"", **headers: list[str]) -> dict[str, Any]:
    return {"status": {"code": status, "message": ""}, "headers": headers, "body": {"string": body}}


# -- token traffic ---------------------------------------------------------------


@pytest.mark.parametrize(
    "uri",
    [
        f"https://login.microsoftonline.com/{CANARY_TENANT}/oauth2/v2.0/token",
        "https://login.microsoft.com/common/oauth2/v2.0/authorize",
        "https://login.microsoftonline.com/common/discovery/instance?api-version=1.1",
        f"https://login.microsoftonline.com/{CANARY_TENANT}/v2.0/.well-known/openid-configuration",
        "https://contoso.b2clogin.com/contoso.onmicrosoft.com/B2C_1_signin/oauth2/v2.0/token",
        "http://169.254.169.254/metadata/identity/oauth2/token?resource=https://ai.azure.com",
        "http://127.0.0.1:41234/msi/token?api-version=2019-08-01",
        "https://sts.windows.net/tenant/",
    ],
)
def test_token_traffic_is_not_recorded(sanitizer: Sanitizer, uri: str) -> None:
    assert is_token_request(uri)
    assert sanitizer.before_record_request(_request(uri, b"client_secret=x")) is None


def test_foundry_traffic_is_not_token_traffic() -> None:
    assert not is_token_request(f"{ENDPOINT}/openai/v1/responses?api-version=v1")


# -- the endpoint ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("endpoint", "uri", "expected"),
    [
        (
            ENDPOINT,
            f"{ENDPOINT}/openai/v1/responses?api-version=2025-05-15-preview",
            f"{PLACEHOLDER_ENDPOINT}/openai/v1/responses?api-version=2025-05-15-preview",
        ),
        (
            ENDPOINT + "/",
            f"{ENDPOINT}/openai/v1/conversations",
            f"{PLACEHOLDER_ENDPOINT}/openai/v1/conversations",
        ),
        (
            "http://127.0.0.1:50123/api/projects/demo",
            "http://127.0.0.1:50123/api/projects/demo/openai/v1/responses",
            f"{PLACEHOLDER_ENDPOINT}/openai/v1/responses",
        ),
        (
            ENDPOINT,
            f"https://{CANARY_HOST.upper()}/api/projects/proj/agents?x=1",
            f"{PLACEHOLDER_ENDPOINT}/agents?x=1",
        ),
        # The same host outside the project: the origin still becomes the placeholder.
        (
            ENDPOINT,
            f"https://{CANARY_HOST}/openai/deployments",
            "https://foundry.invalid/openai/deployments",
        ),
    ],
)
def test_the_endpoint_becomes_the_placeholder(endpoint: str, uri: str, expected: str) -> None:
    recorded = Sanitizer(endpoint).before_record_request(_request(uri))
    assert recorded is not None
    assert recorded.uri == expected


def test_the_real_host_is_scrubbed_in_bodies(sanitizer: Sanitizer) -> None:
    body = json.dumps(
        {
            "url": f"{ENDPOINT}/files/1",
            "other": f"https://{CANARY_HOST}/x",
            "bare": f"host {CANARY_HOST} here",
            "lookalike": f"not-{CANARY_HOST}.example",
        }
    )
    recorded = sanitizer.before_record_request(_request(f"{ENDPOINT}/r", body.encode()))
    assert recorded is not None
    assert json.loads(recorded.body) == {
        "url": f"{PLACEHOLDER_ENDPOINT}/files/1",
        "other": "https://foundry.invalid/x",
        "bare": "host foundry.invalid here",
        "lookalike": f"not-{CANARY_HOST}.example",
    }


def test_an_endpoint_must_be_a_url() -> None:
    with pytest.raises(ValueError, match="absolute URL"):
        Sanitizer("canary-res.services.ai.azure.com")


# -- headers -----------------------------------------------------------------------


def test_request_headers_are_allow_listed(sanitizer: Sanitizer) -> None:
    headers = {
        "Authorization": f"Bearer {CANARY_JWT}",
        "api-key": CANARY_SECRET,
        "Content-Type": "application/json",
        "Accept": "application/json",
        "User-Agent": "OpenAI/Python 3.57.0",
        "X-Stainless-Retry-Count": "1",
        "x-ms-client-request-id": "abc",
        "Cookie": "a=b",
    }
    recorded = sanitizer.before_record_request(_request(f"{ENDPOINT}/r", b"{}", headers))
    assert recorded is not None
    assert dict(recorded.headers) == {
        "content-type": "application/json",
        "accept": "application/json",
    }


def test_response_headers_are_allow_listed_and_scrubbed(sanitizer: Sanitizer) -> None:
    response = _response(
        200,
        b"{}",
        **{
            "Content-Type": ["application/json"],
            "Location": [f"{ENDPOINT}/openai/v1/responses/resp_1"],
            "Date": ["Mon, 01 Jan 2024 00:00:00 GMT"],
            "x-request-id": ["r"],
            "apim-request-id": ["a"],
            "x-ratelimit-remaining-tokens": ["99"],
            "Set-Cookie": [f"s={CANARY_JWT}"],
            "Content-Length": ["2"],
            "Strict-Transport-Security": ["max-age=1"],
        },
    )
    recorded = sanitizer.before_record_response(response)
    assert recorded is not None
    assert recorded["headers"] == {
        "content-type": ["application/json"],
        "location": [f"{PLACEHOLDER_ENDPOINT}/openai/v1/responses/resp_1"],
    }


# -- secrets and token-shaped strings ---------------------------------------------------


@pytest.mark.parametrize(
    ("planted", "marker"),
    [
        (CANARY_SECRET, "<AZURE_CLIENT_SECRET>"),
        (CANARY_TENANT, "<AZURE_TENANT_ID>"),
        (CANARY_CLIENT, "<AZURE_CLIENT_ID>"),
        (CANARY_JWT, "<JWT>"),
        (f"Bearer {CANARY_BEARER}", "Bearer <TOKEN>"),
        (f"bearer  {CANARY_BEARER}", "bearer  <TOKEN>"),
    ],
)
@pytest.mark.parametrize("as_bytes", [True, False])
def test_secrets_are_scrubbed_everywhere(
    sanitizer: Sanitizer, planted: str, marker: str, as_bytes: bool
) -> None:
    body = json.dumps({"text": f"before {planted} after"})
    uri = f"{ENDPOINT}/r?q={planted.replace(' ', '+')}"
    recorded = sanitizer.before_record_request(
        _request(uri, body.encode() if as_bytes else body, {"Content-Type": f"x; {planted}"})
    )
    assert recorded is not None
    text = recorded.body.decode()
    assert json.loads(text) == {"text": f"before {marker} after"}
    assert planted.split()[-1] not in recorded.uri
    assert planted.split()[-1] not in recorded.headers["content-type"]


def test_secrets_are_scrubbed_in_their_encoded_forms() -> None:
    secret = 'p@ss w/"q"&x'
    sanitizer = Sanitizer(ENDPOINT, {"AZURE_CLIENT_SECRET": secret})
    body = json.dumps({"a": secret}) + "&form=p%40ss%20w%2F%22q%22%26x&plus=p%40ss+w%2F%22q%22%26x"
    assert sanitizer.scrub_text(body) == (
        '{"a": "<AZURE_CLIENT_SECRET>"}&form=<AZURE_CLIENT_SECRET>&plus=<AZURE_CLIENT_SECRET>'
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"access_token": "abc.def"}', '{"access_token": "<ACCESS_TOKEN>"}'),
        ('{"refresh_token":"r-1","x":1}', '{"refresh_token":"<REFRESH_TOKEN>","x":1}'),
        ('{"client_secret": "s\\"q"}', '{"client_secret": "<CLIENT_SECRET>"}'),
        (
            "grant_type=x&client_secret=abc&scope=y",
            "grant_type=x&client_secret=<CLIENT_SECRET>&scope=y",
        ),
        ("/files?sig=abc%3D&api-key=k1", "/files?sig=<SIG>&api-key=<API_KEY>"),
        ('{"access_token": null}', '{"access_token": null}'),
    ],
)
def test_token_fields_are_scrubbed(sanitizer: Sanitizer, text: str, expected: str) -> None:
    assert sanitizer.scrub_text(text) == expected


def test_unnamed_secrets_get_numbered_markers() -> None:
    sanitizer = Sanitizer(ENDPOINT, [CANARY_SECRET, CANARY_TENANT])
    assert sanitizer.scrub_text(f"{CANARY_TENANT} {CANARY_SECRET}") == "<SECRET_2> <SECRET_1>"


def test_a_secret_inside_another_is_replaced_whole() -> None:
    sanitizer = Sanitizer(ENDPOINT, {"SHORT": "abc123", "LONG": "xxabc123yy"})
    assert sanitizer.scrub_text("xxabc123yy abc123") == "<LONG> <SHORT>"


def test_secrets_from_environment_picks_credentials_only() -> None:
    environ = {
        "AZURE_CLIENT_SECRET": CANARY_SECRET,
        "AZURE_TENANT_ID": CANARY_TENANT,
        "AZURE_CLIENT_ID": CANARY_CLIENT,
        "MY_API_KEY": "k-123-canary",
        "AZURE_TOKEN_CREDENTIAL": object(),
        "AZURE_FOUNDRY_AGENT_NAME": "retail",
        "EMPTY_SECRET": "",
        # Too short to be a credential; replaced wherever it appears it would wreck the text.
        "FEATURE_TOKEN": "true",
        "PWD": "/work/not-a-password",
    }
    assert secrets_from_environment(environ) == {**SECRETS, "MY_API_KEY": "k-123-canary"}


# -- responses -------------------------------------------------------------------------


@pytest.mark.parametrize("status", [408, 409, 429, 500, 502, 503, 504])
def test_retried_failures_are_not_recorded(sanitizer: Sanitizer, status: int) -> None:
    assert is_retried_failure(status)
    response = _response(status, b"{}", **{"Retry-After": ["30"]})
    assert sanitizer.before_record_response(response) is None


@pytest.mark.parametrize("status", [200, 201, 400, 401, 404])
def test_other_statuses_are_recorded(sanitizer: Sanitizer, status: int) -> None:
    assert sanitizer.before_record_response(_response(status, b"{}")) is not None


def test_a_dropped_response_drops_its_request(sanitizer: Sanitizer, tmp_path: Path) -> None:
    # vcrpy's Cassette.append keeps the pair only when both hooks keep their half.
    cassette = Cassette(
        str(tmp_path / "c.yaml"),
        before_record_request=sanitizer.before_record_request,
        before_record_response=sanitizer.before_record_response,
    )
    request = _request(f"{ENDPOINT}/openai/v1/responses", b'{"input":"hi"}')
    cassette.append(request, _response(429, b"{}"))
    assert len(cassette) == 0
    cassette.append(request, _response(200, b'{"id":"resp_1"}'))
    assert len(cassette) == 1


def test_gzip_bodies_are_stored_as_text(sanitizer: Sanitizer) -> None:
    payload = {"id": "resp_1", "token": CANARY_JWT, "host": CANARY_HOST}
    response = _response(
        200,
        gzip.compress(json.dumps(payload).encode()),
        **{"Content-Encoding": ["gzip"], "Content-Type": ["application/json"]},
    )
    recorded = sanitizer.before_record_response(response)
    assert recorded is not None
    assert json.loads(recorded["body"]["string"]) == {
        "id": "resp_1",
        "token": "<JWT>",
        "host": "foundry.invalid",
    }
    assert "content-encoding" not in recorded["headers"]


def test_str_and_binary_bodies_keep_their_type(sanitizer: Sanitizer) -> None:
    assert sanitizer.scrub_body(f"x {CANARY_SECRET}") == "x <AZURE_CLIENT_SECRET>"
    binary = b"\xff\xfe" + CANARY_SECRET.encode()
    assert sanitizer.scrub_body(binary) == b"\xff\xfe<AZURE_CLIENT_SECRET>"
    assert sanitizer.scrub_body(None) is None


def test_hooks_do_not_change_what_the_client_got(sanitizer: Sanitizer) -> None:
    request = _request(f"{ENDPOINT}/r", CANARY_SECRET.encode(), {"Authorization": "Bearer x"})
    response = _response(200, CANARY_SECRET.encode(), **{"Date": ["now"]})
    sanitizer.before_record_request(request)
    sanitizer.before_record_response(response)
    assert request.body == CANARY_SECRET.encode()
    assert request.uri.startswith(ENDPOINT)
    assert "Authorization" in request.headers
    assert response["body"]["string"] == CANARY_SECRET.encode()
    assert response["headers"] == {"Date": ["now"]}


# -- the leak scan ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("planted", "rule"),
    [
        (f"note: {CANARY_SECRET}", "secret value AZURE_CLIENT_SECRET"),
        (f"uri: https://x/?t={CANARY_TENANT}", "secret value AZURE_TENANT_ID"),
        (f"client: {CANARY_CLIENT}", "secret value AZURE_CLIENT_ID"),
        ("secret: canary-SECRET%2D9f8e7d".replace("%2D", "-"), "secret value AZURE_CLIENT_SECRET"),
        (f"token: {CANARY_JWT}", "JWT"),
        (f"note: Bearer {CANARY_BEARER}", "bearer token"),
        ("access_token: opaque-value-1", "token field access_token"),
        ('body: \'{"refresh_token": "r-1"}\'', "token field refresh_token"),
        ("form: grant_type=x&client_secret=abc", "token field client_secret"),
        ("authorization: Basic dXNlcjpwYXNz", "credential header authorization"),
        ("uri: https://login.microsoftonline.com/t/oauth2/v2.0/token", "token endpoint"),
        ("uri: http://169.254.169.254/metadata/identity/oauth2/token", "token endpoint"),
        (f"link: https://{CANARY_HOST}/api", "real endpoint host"),
    ],
)
def test_the_scan_names_the_rule_that_missed(planted: str, rule: str) -> None:
    text = f"version: 1\ninteractions:\n- {planted}\n"
    leaks = scan_for_leaks(text, SECRETS, hosts=[CANARY_HOST])
    assert rule in {leak.rule for leak in leaks}
    assert all(leak.line == 3 for leak in leaks)


def test_the_scan_never_shows_a_secret() -> None:
    leaks = scan_for_leaks(f"a: {CANARY_SECRET}\nb: {CANARY_JWT}", SECRETS)
    shown = " ".join(str(leak) for leak in leaks)
    assert CANARY_SECRET not in shown and CANARY_JWT not in shown
    assert "ca… (20 chars)" in shown


def test_the_scan_ignores_markers_and_empty_fields() -> None:
    text = (
        "access_token: <ACCESS_TOKEN>\n"
        'body: \'{"client_secret": "<AZURE_CLIENT_SECRET>"}\'\n'
        "authorization: Bearer <JWT>\n"
        "note: Bearer <TOKEN>\n"
        "id_token: null\n"
        f"uri: {PLACEHOLDER_ENDPOINT}/openai/v1/responses\n"
        "text: the bearer of good news\n"
    )
    assert scan_for_leaks(text, SECRETS, hosts=[CANARY_HOST, "foundry.invalid"]) == []


def test_sanitized_text_passes_its_own_scan(sanitizer: Sanitizer) -> None:
    raw = json.dumps(
        {
            "a": CANARY_SECRET,
            "b": f"Bearer {CANARY_BEARER}",
            "c": CANARY_JWT,
            "access_token": "opaque",
            "d": f"{ENDPOINT}/x",
            "e": CANARY_TENANT,
        }
    )
    assert sanitizer.scan(raw)
    assert sanitizer.scan(sanitizer.scrub_text(raw)) == []


def test_the_leak_error_names_the_cassette_and_rule_but_not_the_secret() -> None:
    leaks = scan_for_leaks(f"x: {CANARY_SECRET}", SECRETS)
    error = CassetteLeakError(Path("cassettes/greeting.json"), leaks)
    message = str(error)
    assert "cassettes/greeting.json" in message
    assert "secret value AZURE_CLIENT_SECRET" in message
    assert CANARY_SECRET not in message
    assert error.leaks == leaks


def test_the_live_names_are_scrubbed_while_recording_on_the_emulator() -> None:
    """The emulator's loopback names are no secret; the configured live project's are."""
    live = "https://canary-res.services.ai.azure.com/api/projects/canary-proj"
    sanitizer = Sanitizer("http://127.0.0.1:8123/api/projects/demo", SECRETS, endpoints=[live])
    text = '{"say": "demo of canary-proj on canary-res (canary-res.services.ai.azure.com:443)"}'
    assert sanitizer.scrub_text(text) == (
        '{"say": "demo of <PROJECT> on <RESOURCE> (<RESOURCE_HOST>:443)"}'
    )
    assert sanitizer.scan(text) != []


# -- secrets in other encodings: decoded before they are judged -------------------------------

ENCODED_SECRET = "canary+SECRET/9f8e7d="


def _encoded_forms(secret: str) -> dict[str, str]:
    u_escaped = "".join(f"\\u{ord(c):04x}" for c in secret)
    return {
        "base64": base64.b64encode(f"note {secret}".encode()).decode(),
        "Basic": "Basic " + base64.b64encode(f"svc:{secret}".encode()).decode(),
        "lower-case %": re.sub(
            r"%[0-9A-F]{2}", lambda m: m.group().lower(), quote(secret, safe="")
        ),
        "\\u-escaped": u_escaped,
        "JSON-escaped twice": json.dumps(json.dumps(secret))[1:-1],
        "+ as \\u002B": secret.replace("+", "\\u002B"),
    }


@pytest.mark.parametrize("form", list(_encoded_forms(ENCODED_SECRET)))
def test_encoded_secrets_are_scrubbed_from_bodies_and_the_scan_sees_them(form: str) -> None:
    sanitizer = Sanitizer(ENDPOINT, {"AZURE_CLIENT_SECRET": ENCODED_SECRET})
    planted = _encoded_forms(ENCODED_SECRET)[form]
    output = json.dumps({"result": planted})
    body = json.dumps({"type": "function_call_output", "output": output}).encode()
    assert any("AZURE_CLIENT_SECRET" in leak.rule for leak in sanitizer.scan(body.decode()))
    recorded = sanitizer.before_record_response(_response(200, body))
    assert recorded is not None
    text = recorded["body"]["string"].decode()
    assert planted not in text and ENCODED_SECRET not in text
    assert "<AZURE_CLIENT_SECRET>" in json.loads(json.loads(text)["output"])["result"]
    assert sanitizer.scan(text) == []


def test_the_leak_scan_refuses_a_cassette_holding_an_encoded_secret(tmp_path: Path) -> None:
    class Leaky(Sanitizer):
        def scrub_body(self, body: str | bytes | None) -> str | bytes | None:
            return body

    sanitizer = Leaky(ENDPOINT, {"AZURE_CLIENT_SECRET": ENCODED_SECRET})
    for form, planted in _encoded_forms(ENCODED_SECRET).items():
        body = json.dumps({"input": planted}).encode()
        request = sanitizer.before_record_request(_request(f"{ENDPOINT}/r", body))
        assert request is not None
        cassette = {"requests": [request], "responses": [_response(200, b"{}")]}
        with pytest.raises(CassetteLeakError) as excinfo:
            LeakCheckingPersister(sanitizer).save_cassette(
                tmp_path / "leaky.json", cassette, serializer=cassette_format
            )
        message = str(excinfo.value)
        assert "AZURE_CLIENT_SECRET" in message and "decoded" in message, form
        assert ENCODED_SECRET not in message and planted not in message
        assert list(tmp_path.iterdir()) == [], form


@pytest.mark.parametrize(
    ("planted", "rule"),
    [
        ("Authorization: Basic Y2FuYXJ5LXVzZXI6QzRuYXJ5QmFzaWNIZHJQdzA=", "basic auth"),
        ("sk-ant-api03-" + "C4n4ry-Anthropic_key" * 4 + "0123456789abcAA", "anthropic-api-key"),
        ("Server=x;User ID=sa;Password=C4nary$QLpw!2;", "password assignment"),
        ("the db password=C4naryFreeTextPw9 then", "password assignment"),
    ],
)
def test_the_scan_names_the_new_rules(planted: str, rule: str) -> None:
    leaks = scan_for_leaks(f"version: 1\ninteractions:\n- {planted}\n")
    assert any(leak.rule.startswith(rule) for leak in leaks), leaks
