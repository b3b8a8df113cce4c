"""Signing in for real: the emulator's Entra ID stand-in, the snippet's sign-in settings, and
recording through a real `ClientSecretCredential` at any concurrency without losing a request.

Real HTTP on loopback only: azure-identity -> MSAL -> azure-core -> requests over TLS to the
stand-in; openai -> httpx2 to the emulator. The recorder writes under tmp_path.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import json
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx2
import pytest
import requests
from azure.core.exceptions import ClientAuthenticationError
from azure.identity import ClientSecretCredential
from vcr.errors import CannotOverwriteExistingCassetteException
from vcr.request import Request

from foundry_goldens.cassettes.player import recording_vcr
from foundry_goldens.cassettes.router import ThreadCassetteRouter
from foundry_goldens.cassettes.sanitizer import PLACEHOLDER_ENDPOINT, Sanitizer
from foundry_goldens.emulator import EmulatorStats, FoundryEmulator
from foundry_goldens.emulator.entra import TOKEN_ROUTE, EntraStandIn
from foundry_goldens.emulator.errors import UNAUTHORIZED_MESSAGE
from foundry_goldens.goldens.dialogues import Dialogue, load_dialogues
from foundry_goldens.recording.progress import SilentProgress
from foundry_goldens.recording.recorder import RecordOptions, record_dialogues
from foundry_goldens.recording.targets import EmulatorTarget, Session, emulator_sign_in
from foundry_goldens.replay.replayer import ReplayError, replay_dialogue
from foundry_goldens.snippet.driver import drive_dialogue
from foundry_goldens.snippet.loader import load_integration
from tests.paths import DIALOGUE_DIR

SCOPE = "https://ai.azure.com/.default"  # what azure-ai-projects asks a token for
REFERENCE = json.loads(
    (Path(__file__).parent / "reference" / "entra.json").read_text(encoding="utf-8")
)


@pytest.fixture
def emulator() -> Iterator[FoundryEmulator]:
    with FoundryEmulator(sign_in=True) as running:
        yield running


@pytest.fixture(autouse=True)
def fresh_clients(snippet: ModuleType) -> Iterator[None]:
    snippet.reset_client_cache()
    yield
    snippet.reset_client_cache()


def credential(emulator: FoundryEmulator, **changes: str) -> ClientSecretCredential:
    principal = emulator.service_principal
    settings = {
        "tenant_id": principal.tenant_id,
        "client_id": principal.client_id,
        "client_secret": principal.client_secret,
        **changes,
    }
    return ClientSecretCredential(
        **settings,
        authority=emulator.authority_host,
        disable_instance_discovery=True,
        connection_verify=emulator.ca_bundle,
    )


def first_turn(text: str = "Hi") -> str:
    return json.dumps({"messages": [{"role": "user", "content": text}]})


# ------------------------------------------------------------------ the Entra ID stand-in


def test_client_secret_credential_signs_in_over_tls(emulator: FoundryEmulator) -> None:
    with credential(emulator) as signed_in:
        token = signed_in.get_token(SCOPE)
        again = signed_in.get_token(SCOPE)
    header, claims, _signature = token.token.split(".")
    assert json.loads(_b64decode(header))["typ"] == "JWT"
    payload = json.loads(_b64decode(claims))
    principal = emulator.service_principal
    assert (payload["aud"], payload["tid"], payload["appid"]) == (
        "https://ai.azure.com",
        principal.tenant_id,
        principal.client_id,
    )
    assert 3500 < token.expires_on - payload["iat"] <= 3599
    assert again.token == token.token  # cached: MSAL asks again only near expiry
    assert emulator.stats().sign_in == {
        "GET /{tenant}/v2.0/.well-known/openid-configuration": 1,
        TOKEN_ROUTE: 1,
        "tokens issued": 1,
    }
    assert emulator.stats().requests == {}  # no Foundry traffic yet


def create_conversation(emulator: FoundryEmulator, token: str) -> int:
    """The HTTP status of a conversation created with `token` as the bearer token."""
    answer = requests.post(
        f"{emulator.endpoint}/openai/v1/conversations",
        json={},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    return answer.status_code


def test_the_foundry_emulator_accepts_the_issued_token_only(emulator: FoundryEmulator) -> None:
    with credential(emulator) as signed_in:
        token = signed_in.get_token(SCOPE).token
    assert create_conversation(emulator, token) == 200
    header, claims, signature = token.split(".")
    tampered = _b64encode(json.loads(_b64decode(claims)) | {"appid": str(uuid.uuid4())})
    assert create_conversation(emulator, f"{header}.{tampered}.{signature}") == 401
    with EntraStandIn(service_principal=emulator.service_principal) as other_tenant:
        forged = other_tenant._access_token("https://ai.azure.com")  # same claims, other key
    assert create_conversation(emulator, forged) == 401
    assert emulator.stats().requests == {"POST /conversations": 3}


def test_a_token_for_another_audience_is_the_gateways_401(emulator: FoundryEmulator) -> None:
    # Entra issues a valid token for any resource the principal asks for; the Foundry
    # resource's gateway takes only its own audiences (its 401 message names them).
    with credential(emulator) as signed_in:
        management = signed_in.get_token("https://management.azure.com/.default").token
        cognitive = signed_in.get_token("https://cognitiveservices.azure.com/.default").token
    refused = requests.post(
        f"{emulator.endpoint}/openai/v1/conversations",
        json={},
        headers={"Authorization": f"Bearer {management}"},
        timeout=10,
    )
    assert refused.status_code == 401
    assert refused.json() == {"statusCode": 401, "message": UNAUTHORIZED_MESSAGE}
    assert create_conversation(emulator, cognitive) == 200  # the other audience it names


def test_an_expired_token_is_refused() -> None:
    with EntraStandIn(token_lifetime=0) as entra, FoundryEmulator(entra=entra) as emulator:
        assert create_conversation(emulator, entra._access_token("https://ai.azure.com")) == 401
        assert entra.verify(entra._access_token("https://ai.azure.com")) is False


def test_emulators_sharing_a_stand_in_accept_one_sign_in(snippet: ModuleType) -> None:
    """One tenant, several projects: the snippet signs in once (its credential is per identity),
    and an emulator started after the sign-in accepts the token all the same."""
    with EntraStandIn() as entra:
        for _ in range(3):
            with FoundryEmulator(entra=entra) as emulator:
                snippet.run_inference(first_turn(), snippet_environment(emulator))
                assert emulator.stats().requests["POST /responses"] == 1
                assert emulator.stats().sign_in == {}  # the run's counts are the owner's
        assert entra.request_counts()[TOKEN_ROUTE] == 1
    assert len(snippet._CLIENTS) == 3 and len(snippet._CREDENTIALS) == 1


def test_an_emulator_takes_its_own_stand_in_or_a_shared_one_not_both() -> None:
    with EntraStandIn() as entra, pytest.raises(ValueError, match="not both"):
        FoundryEmulator(sign_in=True, entra=entra)


def test_a_wrong_secret_is_entras_invalid_client(emulator: FoundryEmulator) -> None:
    with (
        credential(emulator, client_secret="not-the-secret") as wrong,
        pytest.raises(ClientAuthenticationError) as raised,
    ):
        wrong.get_token(SCOPE)
    assert "AADSTS7000215: Invalid client secret provided" in str(raised.value)
    assert "not-the-secret" not in str(raised.value)
    assert emulator.stats().sign_in.get("tokens issued", 0) == 0


def test_error_bodies_have_entras_shape(emulator: FoundryEmulator) -> None:
    principal = emulator.service_principal
    token_url = f"{emulator.authority_host}/{principal.tenant_id}/oauth2/v2.0/token"
    form = {
        "client_id": principal.client_id,
        "client_secret": "wrong",
        "grant_type": "client_credentials",
        "scope": SCOPE,
    }
    answer = requests.post(token_url, data=form, verify=emulator.ca_bundle, timeout=10)
    assert answer.status_code == 401
    body = answer.json()
    (reference,) = [case for case in REFERENCE if case["body"]["error"] == "invalid_client"]
    expected = reference["body"]
    assert answer.status_code == reference["status"]
    assert sorted(body) == sorted(expected)
    assert body["error"] == expected["error"]
    assert body["error_codes"] == expected["error_codes"]
    assert body["error_description"].startswith("AADSTS7000215: Invalid client secret provided.")

    unknown_tenant = requests.get(
        f"{emulator.authority_host}/00000000-0000-0000-0000-000000000000"
        "/v2.0/.well-known/openid-configuration",
        verify=emulator.ca_bundle,
        timeout=10,
    )
    assert unknown_tenant.status_code == 400
    assert unknown_tenant.json()["error_codes"] == [90002]


def test_the_stand_in_serves_only_over_the_throwaway_ca(emulator: FoundryEmulator) -> None:
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(f"{emulator.authority_host}/common/discovery/instance", timeout=10)
    discovered = requests.get(
        f"{emulator.authority_host}/common/discovery/instance",
        params={"api-version": "1.1"},
        verify=emulator.ca_bundle,
        timeout=10,
    ).json()
    tenant = emulator.service_principal.tenant_id
    assert discovered["tenant_discovery_endpoint"] == (
        f"{emulator.authority_host}/{tenant}/v2.0/.well-known/openid-configuration"
    )


def test_an_emulator_without_sign_in_says_how_to_get_it() -> None:
    with FoundryEmulator() as plain, pytest.raises(RuntimeError, match="sign_in=True"):
        _ = plain.authority_host


# ------------------------------------------------------------------ the snippet signs in


def snippet_environment(emulator: FoundryEmulator, **changes: Any) -> dict[str, Any]:
    return {
        "AZURE_AI_PROJECT_ENDPOINT": emulator.endpoint,
        "AZURE_FOUNDRY_AGENT_NAME": "retail-support",
        **emulator_sign_in(emulator),
        **changes,
    }


def test_the_snippet_signs_in_as_the_service_principal(
    snippet: ModuleType, emulator: FoundryEmulator
) -> None:
    env = snippet_environment(emulator)
    snippet.run_inference(first_turn(), env)
    snippet.run_inference(first_turn("Do you sell headphones?"), env)
    stats = emulator.stats()
    assert stats.sign_in[TOKEN_ROUTE] == 1  # one sign-in, reused by every call
    assert stats.requests["POST /responses"] == 2
    (credential,) = snippet._CREDENTIALS.values()
    assert type(credential.credential).__name__ == "ClientSecretCredential"


def test_a_wrong_secret_is_a_foundry_error_without_the_secret(
    snippet: ModuleType, emulator: FoundryEmulator
) -> None:
    env = snippet_environment(emulator, AZURE_CLIENT_SECRET="wrong-secret-value-123")
    with pytest.raises(snippet.FoundryError) as raised:
        snippet.run_inference(first_turn(), env)
    assert raised.value.code == "authentication_failed"
    assert "AADSTS7000215" in raised.value.message
    assert "wrong-secret-value-123" not in str(raised.value)
    assert emulator.stats().requests == {}  # nothing reached Foundry without a token


def test_a_service_principal_without_the_role_is_foundrys_permission_denied(
    snippet: ModuleType,
) -> None:
    """Signed in, but the app lacks the Azure AI User role: the error names the code, the
    data action to grant and where to read about it, and never the secret or the token."""
    with FoundryEmulator(sign_in=True, role_assigned=False) as emulator:
        env = snippet_environment(emulator)
        with pytest.raises(snippet.FoundryError) as raised:
            snippet.run_inference(first_turn(), env)
        assert emulator.stats().sign_in[TOKEN_ROUTE] == 1
    error = raised.value
    assert (error.code, error.status_code) == ("PermissionDenied", 401)
    assert "agents/write" in error.message and "aka.ms/FoundryPermissions" in error.message
    assert env["AZURE_CLIENT_SECRET"] not in str(error)
    assert "eyJ" not in str(error)


def test_a_token_the_resource_refuses_is_the_gateways_401(snippet: ModuleType) -> None:
    """A token from another tenant's sign-in (valid there, unknown here): the gateway's body,
    which has no `error` envelope, still becomes a FoundryError that says what is wrong."""
    with FoundryEmulator(sign_in=True) as emulator, FoundryEmulator(sign_in=True) as elsewhere:
        env = snippet_environment(emulator) | emulator_sign_in(elsewhere)
        with pytest.raises(snippet.FoundryError) as raised:
            snippet.run_inference(first_turn(), env)
        assert elsewhere.stats().sign_in[TOKEN_ROUTE] == 1  # signed in, at the wrong tenant
        assert emulator.stats().requests == {"POST /conversations": 1}
    error = raised.value
    assert (error.code, error.status_code) == ("http_401", 401)
    assert error.message.startswith("Unauthorized. Access token is missing, invalid")


def test_the_sign_in_settings_are_part_of_the_cached_identity(
    snippet: ModuleType, emulator: FoundryEmulator, tmp_path: Path
) -> None:
    env = snippet_environment(emulator)
    client = snippet.get_foundry_client(env)
    assert snippet.get_foundry_client(dict(env)) is client
    elsewhere = snippet_environment(emulator, AZURE_AUTHORITY_HOST="https://login.example.test")
    assert snippet.get_foundry_client(elsewhere) is not client
    copy = tmp_path / "ca.pem"
    copy.write_bytes(Path(emulator.ca_bundle).read_bytes())
    other_ca = snippet_environment(emulator, REQUESTS_CA_BUNDLE=str(copy))
    assert snippet.get_foundry_client(other_ca) is not client


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"AZURE_AUTHORITY_HOST": "http://login.test"}, "AZURE_AUTHORITY_HOST must be an https"),
        ({"REQUESTS_CA_BUNDLE": "/nonexistent/ca.pem"}, "REQUESTS_CA_BUNDLE names no file"),
        ({"REQUESTS_CA_BUNDLE": 42}, "REQUESTS_CA_BUNDLE must be a string"),
    ],
)  # fmt: skip
def test_bad_sign_in_settings_are_named(
    snippet: ModuleType, emulator: FoundryEmulator, changes: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        snippet.run_inference(first_turn(), snippet_environment(emulator, **changes))
    assert emulator.stats().sign_in == {} and emulator.stats().requests == {}


# ------------------------------------------------------------------ recording through the sign-in


class WatchedEmulatorTarget:
    """EmulatorTarget's sessions (signed in, counted), also keeping each emulator's stats."""

    description = "local Foundry emulator, watched"

    def __init__(self) -> None:
        self.stats: dict[str, EmulatorStats] = {}

    @contextlib.contextmanager
    def session(self, dialogue: Dialogue) -> Iterator[Session]:
        with EmulatorTarget().session(dialogue) as session:
            yield session
        assert session.server_stats is not None
        self.stats[dialogue.name] = session.server_stats()  # the final counters


@pytest.mark.parametrize("concurrency", [1, 4, 15])
def test_recording_through_the_sign_in_loses_no_request(tmp_path: Path, concurrency: int) -> None:
    dialogues = load_dialogues(DIALOGUE_DIR)
    for run in range(2):
        root = tmp_path / f"run-{run}"
        target = WatchedEmulatorTarget()
        outcomes = record_dialogues(
            dialogues,
            target,
            RecordOptions(root / "cassettes", root / "snapshots", concurrency=concurrency),
            SilentProgress(),
        )
        assert [(o.name, o.status, o.detail) for o in outcomes if not o.ok] == []
        for dialogue in dialogues:
            text = (root / "cassettes" / f"{dialogue.name}.json").read_text(encoding="utf-8")
            stats = target.stats[dialogue.name]
            assert stats.sign_in[TOKEN_ROUTE] == stats.sign_in["tokens issued"] == 1
            # Every request the emulator answered is in the cassette (no faults: none retried).
            recorded = len(json.loads(text)["interactions"])
            assert recorded == sum(stats.requests.values()), dialogue.name
            # No token request, and no token: issued tokens are JWTs (scrubbed ones: <JWT>).
            for absent in ("oauth2", "openid-configuration", "eyJ", "<JWT>", "earer"):
                assert absent not in text, (dialogue.name, absent)


@pytest.mark.parametrize("concurrency", [1, 4])
def test_a_recording_run_signs_in_once_not_per_dialogue(tmp_path: Path, concurrency: int) -> None:
    """As against a live project: the run's emulators trust one stand-in, so the snippet's one
    credential signs in once (at most once per thread whose first call races the others)."""
    counts: list[dict[str, int]] = []

    @dataclasses.dataclass(frozen=True)
    class CountedEmulatorTarget(EmulatorTarget):
        @contextlib.contextmanager
        def opened(self) -> Iterator[EntraStandIn]:
            with super().opened() as entra:
                yield entra
                counts.append(entra.request_counts())

    dialogues = load_dialogues(DIALOGUE_DIR)
    options = RecordOptions(tmp_path / "cassettes", tmp_path / "snapshots", concurrency=concurrency)
    outcomes = record_dialogues(dialogues, CountedEmulatorTarget(), options, SilentProgress())
    assert [(o.name, o.detail) for o in outcomes if not o.ok] == []
    [run] = counts
    assert 1 <= run["tokens issued"] == run[TOKEN_ROUTE] <= concurrency < len(dialogues)
    if concurrency == 1:
        assert run["tokens issued"] == 1


def test_an_emulator_target_is_opened_once_at_a_time() -> None:
    target = EmulatorTarget()
    with target.opened():
        again = target.opened()
        with pytest.raises(RuntimeError, match="already opened"):
            again.__enter__()
    with target.opened() as entra:  # closed again: can be opened anew
        assert entra.verify("not.a.token") is False


def test_a_request_that_bypasses_the_patched_transport_is_counted(tmp_path: Path) -> None:
    router = ThreadCassetteRouter()
    with FoundryEmulator() as emulator, router.installed():
        sanitizer = Sanitizer(emulator.endpoint)
        conversations = f"{emulator.endpoint}/openai/v1/conversations"
        headers = {"Authorization": "Bearer static-test-token"}
        with router.recording(recording_vcr(sanitizer), tmp_path / "c.json") as cassette:
            httpx2.post(conversations, json={}, headers=headers)
            assert router.unrecorded(lambda: sum(emulator.stats().requests.values())) == 0
            requests.post(conversations, json={}, headers=headers, timeout=10)  # not patched
            assert router.unrecorded(lambda: sum(emulator.stats().requests.values())) == 1
        assert len(cassette) == 1
        assert router.unrecorded(None) == 0  # a live target cannot tell: no false alarm


def test_an_unmatched_request_in_the_in_memory_replay_is_explained(tmp_path: Path) -> None:
    """vcrpy's exception reads `rewound` from the router: it is there (no AttributeError)."""
    (greeting,) = load_dialogues(DIALOGUE_DIR, ["greeting"])
    router = ThreadCassetteRouter()
    path = tmp_path / "greeting.json"
    target = EmulatorTarget()
    with router.installed():
        with target.session(greeting) as session:
            sanitizer = Sanitizer(session.endpoint, session.secrets)
            with router.recording(recording_vcr(sanitizer), path) as recorded:
                drive_dialogue(greeting, load_integration().run_inference, session.environment)
        router.save(recorded)
        other_agent = greeting.model_copy(update={"agent": "retail-support-guarded"})
        with pytest.raises(ReplayError) as raised:
            replay_dialogue(
                other_agent, path, cassette_session=lambda p: router.replaying(p, recorded)
            )
        assert "the integration now sends a request the recording does not have" in str(
            raised.value
        )
        assert "retail-support-guarded" in str(raised.value)

        with (
            router.replaying(path, recorded),
            pytest.raises(CannotOverwriteExistingCassetteException),
        ):
            httpx2.get(f"{PLACEHOLDER_ENDPOINT}/openai/v1/conversations/conv_unknown/items")


# ------------------------------------------------------------------ explicit ports


@pytest.mark.parametrize(
    ("endpoint", "sent"),
    [
        # httpx drops a scheme's default port from the URL it sends, and keeps any other.
        ("https://res.services.ai.azure.com:443/api/projects/proj", "https://res.services.ai.azure.com/api/projects/proj"),
        ("https://res.services.ai.azure.com/api/projects/proj", "https://res.services.ai.azure.com:443/api/projects/proj"),
        ("https://res.services.ai.azure.com:80/api/projects/proj", "https://res.services.ai.azure.com:80/api/projects/proj"),
        ("http://res.services.ai.azure.com:80/api/projects/proj", "http://res.services.ai.azure.com/api/projects/proj"),
    ],
)  # fmt: skip
def test_explicit_ports_record_to_the_placeholder(endpoint: str, sent: str) -> None:
    url = str(httpx2.Request("POST", f"{sent}/openai/v1/responses").url)
    recorded = Sanitizer(endpoint).before_record_request(Request("POST", url, b"{}", {}))
    assert recorded is not None
    assert recorded.uri == f"{PLACEHOLDER_ENDPOINT}/openai/v1/responses"


def test_another_port_of_the_same_host_is_not_the_endpoint() -> None:
    sanitizer = Sanitizer("https://res.services.ai.azure.com:8443/api/projects/proj")
    scrubbed = sanitizer.scrub_uri("https://res.services.ai.azure.com/api/projects/proj/x")
    assert not scrubbed.startswith(PLACEHOLDER_ENDPOINT)
    assert "res.services.ai.azure.com" not in scrubbed  # the host is still scrubbed


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _b64encode(claims: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()


def test_the_command_line_prints_the_settings_to_sign_in_with(snippet: ModuleType) -> None:
    command = [sys.executable, "-m", "foundry_goldens.emulator", "--port", "0"]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as process:
        try:
            assert process.stdout is not None
            settings: dict[str, str] = {}
            while "REQUESTS_CA_BUNDLE" not in settings:
                key, _, value = process.stdout.readline().strip().partition("=")
                assert value, f"the emulator stopped before printing its settings ({key!r})"
                settings[key] = value
            env = {**settings, "AZURE_FOUNDRY_AGENT_NAME": "retail-support"}
            output = json.loads(snippet.run_inference(first_turn(), env))
            assert output["items"][-1]["conversation_id"].startswith("conv_")
        finally:
            process.send_signal(signal.SIGINT)
            process.wait(timeout=10)
    assert not Path(settings["REQUESTS_CA_BUNDLE"]).exists()  # the throwaway CA is gone
