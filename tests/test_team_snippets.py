"""A team's own snippet: the harness supplies the identity, whichever credential it builds.

LatticeFlow's published tutorial snippet (installed with latticeflow-go-sdk) builds
`ClientSecretCredential(tenant, client, secret)` from its environment, else
`DefaultAzureCredential()`, with no authority host and no CA bundle. It records on the
emulator, signing in at the emulator's Entra ID stand-in and nowhere else, and replays offline
with no sign-in at all (snippet/identity.py). Real HTTP on loopback only; nothing is mocked
but the network and `az` being refused.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import importlib.resources
import ipaddress
import os
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import azure.identity
import azure.identity.aio
import pytest
import requests
from azure.core.exceptions import ClientAuthenticationError
from azure.core.pipeline.transport import AsyncHttpTransport

from foundry_goldens.cli.main import main
from foundry_goldens.config import activate, active, load_config
from foundry_goldens.emulator.entra import TOKEN_ROUTE, EntraStandIn
from foundry_goldens.goldens.dialogues import load_dialogues
from foundry_goldens.goldens.snapshots import render_snapshot
from foundry_goldens.recording.finishers import FinisherKind
from foundry_goldens.recording.progress import DialogueOutcome, SilentProgress
from foundry_goldens.recording.recorder import RecordOptions, record_dialogues
from foundry_goldens.recording.targets import EmulatorTarget, LiveTarget, entra_sign_in
from foundry_goldens.replay.replayer import replay_dialogue
from foundry_goldens.scaffold import init_project
from foundry_goldens.snippet import identity
from foundry_goldens.snippet.identity import SIGN_IN_KEYS, signing_in_at, static_identity
from foundry_goldens.snippet.loader import MODULE_NAME
from foundry_goldens.static_token import STATIC_TEST_TOKEN
from tests.conftest import NetworkBlocked, block_network
from tests.paths import DIALOGUE_DIR

SCOPE = "https://ai.azure.com/.default"
TUTORIAL = "skills_data/integrations/tutorials/agents/azure-foundry/run_inference.py"


def copy_tutorial_snippet(to: Path) -> None:
    """run_inference.py of the tutorial, from wherever latticeflow-go-sdk is installed."""
    found = importlib.resources.files("latticeflow.go") / TUTORIAL  # a namespace package
    with importlib.resources.as_file(found) as path:
        shutil.copyfile(path, to)


def team_project(root: Path) -> Path:
    """`foundry-goldens init` with the tutorial's snippet in place of the reference one, and a
    dialogue with tool calls besides the greeting."""
    init_project(root)
    copy_tutorial_snippet(root / "integration" / "run_inference.py")
    shutil.copyfile(
        DIALOGUE_DIR / "order_lookup.yaml", root / "goldens/dialogues/order_lookup.yaml"
    )
    return root


@contextlib.contextmanager
def project_active(root: Path) -> Iterator[None]:
    """The project's configuration and snippet for this test; the reference ones after."""
    previous, module = active(), sys.modules.get(MODULE_NAME)
    activate(load_config(cwd=root))
    try:
        yield
    finally:
        activate(previous)
        if module is None:
            sys.modules.pop(MODULE_NAME, None)
        else:
            sys.modules[MODULE_NAME] = module


@dataclasses.dataclass(frozen=True)
class CountedEmulatorTarget(EmulatorTarget):
    """EmulatorTarget, keeping what its run's stand-in was asked."""

    counts: list[dict[str, int]] = dataclasses.field(default_factory=list)

    @contextlib.contextmanager
    def opened(self) -> Iterator[EntraStandIn]:
        with super().opened() as entra:
            yield entra
            self.counts.append(entra.request_counts())


def record(root: Path, target: EmulatorTarget, finisher: FinisherKind = "thread") -> None:
    options = RecordOptions(root / "cassettes", root / "goldens/snapshots", finisher=finisher)
    dialogues = load_dialogues(root / "goldens/dialogues")
    outcomes: list[DialogueOutcome] = record_dialogues(dialogues, target, options, SilentProgress())
    assert [(o.name, o.status, o.detail) for o in outcomes if not o.ok] == []


@pytest.fixture(autouse=True)
def unpatched_to_begin_with() -> None:
    """A replay outside the plugin and the recorder (an earlier test's replay_dialogue) leaves
    the patch on, calling the originals, until a holder ends: end one, so that each test
    starts from azure-identity's own classes."""
    with static_identity():
        pass
    assert not identity.is_installed()


def _local(host: Any) -> bool:
    try:
        return ipaddress.ip_address(str(host).split("%")[0]).is_loopback
    except ValueError:
        return str(host) == "localhost"


@pytest.fixture
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Refuse any connection or name lookup beyond loopback; the refused ones are listed."""
    refused: list[str] = []
    connect, lookup = socket.socket.connect, socket.getaddrinfo

    def guarded_connect(self: socket.socket, address: Any) -> Any:
        if isinstance(address, tuple) and not _local(address[0]):
            refused.append(str(address))
            raise NetworkBlocked(f"not loopback: {address!r}")
        return connect(self, address)

    def guarded_lookup(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host is not None and not _local(host):
            refused.append(str(host))
            raise NetworkBlocked(f"name lookup of {host!r}")
        return lookup(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", guarded_connect)
    monkeypatch.setattr(socket, "getaddrinfo", guarded_lookup)
    return refused


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch, loopback_only: list[str]) -> None:
    """The plugin's offline replay (no AZURE_* settings, no sockets), and no name lookups
    either: a credential left to itself fails at once instead of waiting on DNS."""
    block_network(monkeypatch)


@pytest.fixture
def no_subprocess(monkeypatch: pytest.MonkeyPatch) -> None:
    """`az`, `azd`, `pwsh` must never run: starting any process fails the test."""

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"a process was started: {args!r}")

    monkeypatch.setattr(subprocess.Popen, "__init__", refuse)
    monkeypatch.setattr(asyncio, "create_subprocess_exec", refuse)


class RefusingTransport(AsyncHttpTransport):
    """An async credential's transport (aiohttp is not installed) that fails if ever used."""

    async def __aenter__(self) -> RefusingTransport:
        return self

    async def __aexit__(self, *args: Any) -> None:
        pass

    async def open(self) -> None:
        pass

    async def close(self) -> None:
        pass

    async def send(self, request: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"an async credential sent {request.method} {request.url}")


# ------------------------------------------------------------------ the tutorial, end to end


def test_the_tutorial_records_on_the_emulator_and_replays_offline(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The reproduction: init, the tutorial's snippet, `foundry-goldens record --emulator`,
    then the project's own pytest."""
    root = team_project(tmp_path / "team")
    with project_active(root):  # the command in this process: a start-up saved
        code = main(["record", "--emulator", "--root", str(root)])
    assert code == 0, capsys.readouterr()
    assert sorted(p.name for p in (root / "cassettes").glob("*.json")) == [
        "greeting.json",
        "order_lookup.json",
    ]
    # The plugin's golden tests run with sockets refused and no AZURE_* settings.
    replayed = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr
    assert "2 snapshots passed" in replayed.stdout


@pytest.mark.parametrize("finisher", ["thread", "process"])
def test_recording_the_tutorial_signs_in_at_the_stand_in_only(
    tmp_path: Path, loopback_only: list[str], finisher: FinisherKind
) -> None:
    """Every request stays on loopback: the tutorial's ClientSecretCredential signs in at the
    stand-in (never login.microsoftonline.com), and the check of each fresh recording (on a
    thread here, or in the finishing process) replays without signing in."""
    root = team_project(tmp_path / "team")
    target = CountedEmulatorTarget()
    before = {key: os.environ.get(key) for key in SIGN_IN_KEYS}
    with project_active(root):
        record(root, target, finisher)
    assert loopback_only == []
    [run] = target.counts
    # One delegate credential per run: one sign-in for the five turns of two dialogues.
    assert run[TOKEN_ROUTE] == run["tokens issued"] == 1
    assert {key: os.environ.get(key) for key in SIGN_IN_KEYS} == before
    assert not identity.is_installed()


def test_tutorial_goldens_are_deterministic(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The tutorial makes every trace item id with uuid4: the snapshot aliases them, so two
    recordings are byte for byte the same, and so are two replays of one."""
    first, second = team_project(tmp_path / "first"), team_project(tmp_path / "second")
    for root in (first, second):
        with project_active(root):
            record(root, EmulatorTarget())
    for relative in ("cassettes", "goldens/snapshots"):
        for path in sorted((first / relative).glob("*.json")):
            assert path.read_bytes() == (second / relative / path.name).read_bytes(), path.name
    block_network(monkeypatch)
    with project_active(first):
        for dialogue in load_dialogues(first / "goldens/dialogues"):
            snapshots = {render_snapshot(replay_dialogue(dialogue).snapshot()) for _ in range(2)}
            committed = (first / "goldens/snapshots" / f"{dialogue.name}.json").read_text("utf-8")
            assert snapshots == {committed}


def test_the_scaffold_snippets_goldens_replay_through_the_tutorials(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Recorded with the reference snippet, replayed with the tutorial's, which failed every
    turn in DefaultAzureCredential while replay offered only a credential setting of its own."""
    root = tmp_path / "team"
    init_project(root)
    with project_active(root):
        record(root, EmulatorTarget())
    copy_tutorial_snippet(root / "integration" / "run_inference.py")
    block_network(monkeypatch)
    with project_active(root):
        (greeting,) = load_dialogues(root / "goldens/dialogues")
        result = replay_dialogue(greeting)
    assert [turn.error for turn in result.turns] == [None, None]
    assert len({turn.conversation_id for turn in result.turns}) == 1


# ------------------------------------------------------------------ replay: the static token


def _sync_credentials(tmp_path: Path) -> dict[str, Callable[[], Any]]:
    token_file = tmp_path / "federated-token"
    token_file.write_text("not-a-token")
    tenant, client = "00000000-0000-0000-0000-000000000001", "00000000-0000-0000-0000-000000000002"
    i = azure.identity
    return {
        "DefaultAzureCredential": i.DefaultAzureCredential,
        "ManagedIdentityCredential": i.ManagedIdentityCredential,
        "AzureCliCredential": i.AzureCliCredential,
        "AzureDeveloperCliCredential": i.AzureDeveloperCliCredential,
        "AzurePowerShellCredential": i.AzurePowerShellCredential,
        "WorkloadIdentityCredential": lambda: i.WorkloadIdentityCredential(
            tenant_id=tenant, client_id=client, token_file_path=str(token_file)
        ),
        "DeviceCodeCredential": i.DeviceCodeCredential,
        "InteractiveBrowserCredential": i.InteractiveBrowserCredential,
        "SharedTokenCacheCredential": i.SharedTokenCacheCredential,
        "VisualStudioCodeCredential": i.VisualStudioCodeCredential,
        "EnvironmentCredential": i.EnvironmentCredential,
        "ClientSecretCredential": lambda: i.ClientSecretCredential(tenant, client, "secret"),
        "ChainedTokenCredential": lambda: i.ChainedTokenCredential(
            i.ManagedIdentityCredential(), i.AzureCliCredential()
        ),
    }


def test_replay_answers_every_credential_with_the_static_token(
    tmp_path: Path, offline: None, no_subprocess: None
) -> None:
    factories = _sync_credentials(tmp_path)
    with static_identity():
        for name, factory in factories.items():
            credential = factory()
            assert credential.get_token(SCOPE).token == STATIC_TEST_TOKEN, name
            assert credential.get_token_info(SCOPE).token == STATIC_TEST_TOKEN, name
    # Taken off again: the same credential is itself once more (no network: it fails so).
    with pytest.raises(ClientAuthenticationError):
        factories["ClientSecretCredential"]().get_token(SCOPE)


def test_async_credentials_get_the_static_token_too(offline: None, no_subprocess: None) -> None:
    aio = azure.identity.aio

    async def tokens() -> list[str]:
        credentials: list[Any] = [
            aio.DefaultAzureCredential(transport=RefusingTransport()),
            aio.ManagedIdentityCredential(transport=RefusingTransport()),
            aio.AzureCliCredential(),
        ]
        found = []
        for credential in credentials:
            found.append((await credential.get_token(SCOPE)).token)
            found.append((await credential.get_token_info(SCOPE)).token)
        return found

    with static_identity():
        assert asyncio.run(tokens()) == [STATIC_TEST_TOKEN] * 6
    with pytest.raises(ClientAuthenticationError):  # itself again: it tries IMDS, refused
        asyncio.run(aio.ManagedIdentityCredential(transport=RefusingTransport()).get_token(SCOPE))


def _exported_credential_classes() -> list[type]:
    return [
        value
        for module in (azure.identity, azure.identity.aio)
        for value in (getattr(module, name) for name in module.__all__)
        if isinstance(value, type) and hasattr(value, "get_token")
    ]


def test_every_exported_class_is_patched_for_the_scope_and_restored_after() -> None:
    classes = _exported_credential_classes()
    assert len(classes) > 25  # sync and async
    before = {
        (cls, m): (getattr(cls, m), cls.__dict__.get(m))
        for cls in classes
        for m in identity.METHODS
    }
    with static_identity(), static_identity():  # nested: the outer one restores
        for (cls, method), (original, _own) in before.items():
            assert getattr(cls, method) is not original, (cls, method)
            assert getattr(cls, method).__wrapped__ is original
    assert not identity.is_installed()
    after = {
        (cls, m): (getattr(cls, m), cls.__dict__.get(m))
        for cls in classes
        for m in identity.METHODS
    }
    assert after == before


def test_replay_inside_a_recording_process_is_static_on_its_own_thread_only(
    offline: None,
) -> None:
    """The recorder checks each fresh recording by replaying it beside the recording threads:
    the replaying thread (and an async credential awaited in it) gets the static token, a
    thread beside it its own credential."""

    def token() -> str:
        return str(azure.identity.ClientSecretCredential("t", "c", "s").get_token(SCOPE).token)

    async def async_token() -> str:
        credential = azure.identity.aio.ManagedIdentityCredential(transport=RefusingTransport())
        async with credential:
            return str((await credential.get_token(SCOPE)).token)

    beside: list[BaseException] = []

    def other_thread() -> None:
        try:
            token()
        except BaseException as error:
            beside.append(error)

    with identity.static_identity_here():
        thread = threading.Thread(target=other_thread)
        thread.start()
        thread.join()
        assert token() == STATIC_TEST_TOKEN
        assert asyncio.run(async_token()) == STATIC_TEST_TOKEN
    assert [type(error) for error in beside] == [ClientAuthenticationError]
    assert not identity.is_installed()  # the last holder took the patch off
    with pytest.raises(ClientAuthenticationError):  # outside the replay: itself
        token()


# ------------------------------------------------------------------ emulator: a real sign-in


def test_on_the_emulator_every_credential_signs_in_at_the_stand_in(
    tmp_path: Path, loopback_only: list[str], no_subprocess: None
) -> None:
    factories = _sync_credentials(tmp_path)
    with EntraStandIn() as entra:
        principal = entra.service_principal
        # As the tutorial builds it: no authority host, no CA bundle, instance discovery on.
        factories["tutorial"] = lambda: azure.identity.ClientSecretCredential(
            principal.tenant_id, principal.client_id, principal.client_secret
        )
        with signing_in_at(entra_sign_in(entra)):
            for name, factory in factories.items():
                token = factory().get_token(SCOPE).token
                assert entra.verify(token), name
                assert entra.verify(factory().get_token_info(SCOPE).token), name

            async def async_token() -> str:
                aio = azure.identity.aio.ManagedIdentityCredential(transport=RefusingTransport())
                return (await aio.get_token(SCOPE)).token

            assert entra.verify(asyncio.run(async_token()))
        counts = entra.request_counts()
    assert loopback_only == []
    assert counts[TOKEN_ROUTE] == counts["tokens issued"] == 1  # one delegate, MSAL's cache
    assert not identity.is_installed()


def test_a_session_outside_a_run_signs_in_on_its_own_thread(
    loopback_only: list[str], no_subprocess: None
) -> None:
    (greeting,) = load_dialogues(DIALOGUE_DIR, ["greeting"])
    with EmulatorTarget().session(greeting) as session:
        token = azure.identity.ManagedIdentityCredential().get_token(SCOPE).token
        created = requests.post(
            f"{session.endpoint}/openai/v1/conversations",
            json={},
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        )
        assert created.status_code == 200  # the emulator's stand-in issued it
        assert session.server_stats is not None
        assert session.server_stats().sign_in["tokens issued"] == 1
        beside: list[BaseException] = []

        def other_thread() -> None:
            try:
                azure.identity.ManagedIdentityCredential().get_token(SCOPE)
            except BaseException as error:
                beside.append(error)

        thread = threading.Thread(target=other_thread)
        thread.start()
        thread.join()
    # Another thread is not this session's: its managed identity tries IMDS itself (refused).
    assert [type(error).__name__ for error in beside] == ["CredentialUnavailableError"]
    assert loopback_only and all("169.254.169.254" in refused for refused in loopback_only)


def test_a_run_puts_the_sign_in_in_os_environ_and_restores_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AZURE_CLIENT_ID", "the-team-s-own")
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    with EntraStandIn() as entra:
        settings = entra_sign_in(entra)
        with signing_in_at(settings, process_wide=True):
            assert {key: os.environ[key] for key in SIGN_IN_KEYS} == settings
            seen: list[bool] = []
            thread = threading.Thread(
                target=lambda: seen.append(
                    entra.verify(azure.identity.DefaultAzureCredential().get_token(SCOPE).token)
                )
            )
            thread.start()
            thread.join()
            assert seen == [True]  # process-wide: any thread of the run
    assert os.environ["AZURE_CLIENT_ID"] == "the-team-s-own"
    assert "REQUESTS_CA_BUNDLE" not in os.environ


def test_live_recording_leaves_the_snippets_credentials_alone(
    offline: None,
) -> None:
    target = LiveTarget("https://res.services.ai.azure.com/api/projects/p", "agent")
    (greeting,) = load_dialogues(DIALOGUE_DIR, ["greeting"])
    with target.session(greeting) as session:
        assert "AZURE_TENANT_ID" not in session.environment  # none configured: none made up
        # Itself: it signs in at Entra ID (refused here), no static token, no stand-in.
        with pytest.raises(ClientAuthenticationError, match="name lookup of 'login"):
            azure.identity.ClientSecretCredential("t", "c", "s").get_token(SCOPE)
