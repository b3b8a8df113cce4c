"""Planted canaries through the real recorder: what reaches the wire never reaches a cassette.

A custom Target runs the emulator under a canary project name, with a credential whose token
is a JWT-shaped canary and with canary service-principal secrets, then the written cassette
and snapshot are searched for every one of them.
"""

from __future__ import annotations

import base64
import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from foundry_goldens.cassettes.sanitizer import PLACEHOLDER_ENDPOINT
from foundry_goldens.emulator import FoundryEmulator
from foundry_goldens.goldens.dialogues import Dialogue, Turn, load_dialogues
from foundry_goldens.recording.progress import SilentProgress
from foundry_goldens.recording.recorder import RecordOptions, record_dialogues
from foundry_goldens.recording.targets import Session
from foundry_goldens.snippet.credentials import StaticTokenCredential
from tests.paths import DIALOGUE_DIR


def b64url(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


CANARY_JWT = ".".join(
    [
        b64url({"alg": "RS256", "typ": "JWT"}),
        b64url({"aud": "https://ai.azure.com", "canary": "jwt-canary-5c1f"}),
        "c2lnbmF0dXJlLWNhbmFyeS01YzFm",
    ]
)
SECRETS = {
    "AZURE_CLIENT_SECRET": "canary-client-secret-Zq81~vX",
    "AZURE_CLIENT_ID": "canary-client-id-6d0b3f1e",
    "AZURE_TENANT_ID": "canary-tenant-id-91a4c2d7",
}
PROJECT = "canary-project-h7k2"


class CountingCredential(StaticTokenCredential):
    """The static credential with the canary token; counts how often the SDK asked for it."""

    def __init__(self) -> None:
        super().__init__(token=CANARY_JWT)
        self.calls = 0

    def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        self.calls += 1
        return super().get_token(*scopes, **kwargs)

    def get_token_info(self, *scopes: str, **kwargs: Any) -> Any:
        self.calls += 1
        return super().get_token_info(*scopes, **kwargs)


class CanaryTarget:
    description = "local Foundry emulator with planted canaries"

    def __init__(self) -> None:
        self.credential = CountingCredential()
        self.endpoints: list[str] = []

    @contextlib.contextmanager
    def session(self, dialogue: Dialogue) -> Iterator[Session]:
        with FoundryEmulator(seed=dialogue.name, project=PROJECT) as emulator:
            emulator.accept_token(CANARY_JWT)  # the emulator refuses tokens it did not issue
            self.endpoints.append(emulator.endpoint)
            environment: dict[str, Any] = {
                **SECRETS,
                "AZURE_AI_PROJECT_ENDPOINT": emulator.endpoint,
                "AZURE_FOUNDRY_AGENT_NAME": dialogue.agent or "retail-support",
                "AZURE_TOKEN_CREDENTIAL": self.credential,  # wins over the service principal
            }
            yield Session(environment, emulator.endpoint, dict(SECRETS))


def options(root: Path) -> RecordOptions:
    return RecordOptions(root / "cassettes", root / "snapshots")


def test_canaries_on_the_wire_never_reach_the_cassette(tmp_path: Path) -> None:
    target = CanaryTarget()
    dialogues = load_dialogues(DIALOGUE_DIR, ["approval_return", "order_lookup"])

    outcomes = record_dialogues(dialogues, target, options(tmp_path), SilentProgress())

    assert [(o.name, o.status) for o in outcomes] == [
        ("approval_return", "recorded"),
        ("order_lookup", "recorded"),
    ], [o.detail for o in outcomes]
    assert target.credential.calls > 0, "the canary token was never requested, so never sent"
    ports = {endpoint.split(":")[2].split("/")[0] for endpoint in target.endpoints}
    for directory in ("cassettes", "snapshots"):
        for path in sorted(p for p in (tmp_path / directory).iterdir() if p.is_file()):
            text = path.read_text("utf-8")
            for canary in (CANARY_JWT, *SECRETS.values(), PROJECT, "127.0.0.1"):
                assert canary not in text, f"{path.name} holds {canary[:12]}…"
            assert "eyJ" not in text, f"{path.name} holds something JWT-shaped"
            assert "bearer" not in text.lower(), f"{path.name} holds a bearer string"
            assert "authorization" not in text.lower(), f"{path.name} holds an auth header"
            for port in ports:
                assert f":{port}" not in text, f"{path.name} holds the emulator's port"
    cassette = (tmp_path / "cassettes" / "order_lookup.json").read_text("utf-8")
    assert f'"uri": "{PLACEHOLDER_ENDPOINT}/openai/v1/conversations",\n' in cassette


def test_a_secret_in_the_user_text_is_scrubbed_so_the_dialogue_fails_and_writes_nothing(
    tmp_path: Path,
) -> None:
    """By design replay does not sanitize requests, so a secret typed into a dialogue cannot
    replay: the recorder scrubs it, its own replay then fails, and nothing is written."""
    secret = SECRETS["AZURE_CLIENT_SECRET"]
    leaky = Dialogue(
        name="leaky", agent="retail-support", turns=[Turn(user=f"Hi, my password is {secret}")]
    )

    [outcome] = record_dialogues([leaky], CanaryTarget(), options(tmp_path), SilentProgress())

    assert outcome.status == "failed"
    assert outcome.detail.startswith("replay of the fresh recording failed: leaky, turn 1: ")
    assert "the recording scrubbed a secret or token out of this turn's user text" in (
        outcome.detail
    )
    assert "recorded: 'Hi, my password is <AZURE_CLIENT_SECRET>'" in outcome.detail
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert written == []
    assert sorted(tmp_path.glob(".record-*")) == []
    assert sorted(tmp_path.glob("cassettes/.record/run-*")) == []
