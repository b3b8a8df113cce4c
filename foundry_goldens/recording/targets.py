"""Where a recording goes: a live Foundry project, or the built-in emulator.

Live when AZURE_AI_PROJECT_ENDPOINT and AZURE_FOUNDRY_AGENT_NAME are set (in the environment or
`.env`); `--emulator` records against a fresh local emulator per dialogue, seeded with the
dialogue's name so that recording twice gives byte-identical cassettes. The emulator's session
signs in for real, as a team's would: a service principal, through an Entra ID stand-in over
TLS (its authority host and CA bundle in the environment), so recording on the emulator runs
the live path, token requests included. Within `opened()` (the recorder's whole run) every
dialogue's emulator trusts one stand-in, as the projects of one tenant trust one Entra ID: the
snippet signs in once per run, as it does against a live project; outside it, each session
starts a stand-in of its own.

Whichever azure-identity credential the snippet builds signs in there (snippet/identity.py):
the tutorial's `ClientSecretCredential` or `DefaultAzureCredential`, a managed identity, the
CLI's, none of them reaching Entra ID or running `az`. Within `opened()` the stand-in's sign-in
settings are also in os.environ for the run (restored after); a session outside it signs in on
its own thread only. A live target leaves the snippet's credentials alone.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from foundry_goldens.emulator import EmulatorStats, FoundryEmulator
from foundry_goldens.emulator.entra import EntraStandIn, ServicePrincipal
from foundry_goldens.emulator.variation import BehaviourChange
from foundry_goldens.goldens.dialogues import Dialogue
from foundry_goldens.redaction.redactor import (
    ENDPOINT_KEY,
    SECRET_ENVIRONMENT_KEYS,
    secrets_from_environment,
)
from foundry_goldens.snippet.identity import signing_in_at

PASSED_THROUGH_KEYS = (
    *SECRET_ENVIRONMENT_KEYS,
    "AZURE_AUTHORITY_HOST",
    "REQUESTS_CA_BUNDLE",
    "FOUNDRY_MCP_APPROVAL",
    "FOUNDRY_MAX_APPROVAL_ROUNDS",
)
DEFAULT_EMULATOR_AGENT = "retail-support"


class ConfigurationError(ValueError):
    """Nothing to record against; the message says how to configure one."""


@dataclass(frozen=True)
class Session:
    """What one dialogue's recording needs: the integration's environment and what to scrub."""

    environment: dict[str, Any]
    endpoint: str
    secrets: dict[str, str]  # name -> value, scrubbed from cassettes as <NAME>
    # Endpoints whose host, resource and project names are scrubbed besides `endpoint`'s:
    # the live one configured while recording on the emulator.
    scrubbed_endpoints: tuple[str, ...] = ()
    # The server's counters, when the target can read them (the emulator; after the session,
    # the final ones): the recorder fails a dialogue if a request it answered was not recorded.
    server_stats: Callable[[], EmulatorStats] | None = None

    @property
    def served_requests(self) -> Callable[[], int] | None:
        """How many Foundry requests the server has answered so far; None when unknown."""
        stats = self.server_stats
        return None if stats is None else lambda: sum(stats().requests.values())


class Target(Protocol):
    @property
    def description(self) -> str: ...

    def session(self, dialogue: Dialogue) -> contextlib.AbstractContextManager[Session]: ...


@runtime_checkable
class RunScoped(Protocol):
    """A target that holds something for a whole run (the emulator's shared sign-in)."""

    def opened(self) -> contextlib.AbstractContextManager[object]: ...


def opened(target: Target) -> contextlib.AbstractContextManager[object]:
    """`target`'s run scope, for a target that has one; nothing to hold otherwise."""
    return target.opened() if isinstance(target, RunScoped) else contextlib.nullcontext()


@dataclass
class _Run:
    entra: EntraStandIn | None = None  # while opened: the stand-in every session trusts


@dataclass(frozen=True)
class LiveTarget:
    endpoint: str
    agent: str
    settings: Mapping[str, str] = field(default_factory=dict)

    @property
    def description(self) -> str:
        # The endpoint host is deliberately not shown: it must not reach logs.
        return f"live Foundry project (agent {self.agent})"

    @contextlib.contextmanager
    def session(self, dialogue: Dialogue) -> Iterator[Session]:
        environment: dict[str, Any] = {
            key: self.settings[key] for key in PASSED_THROUGH_KEYS if self.settings.get(key)
        }
        environment["AZURE_AI_PROJECT_ENDPOINT"] = self.endpoint
        environment["AZURE_FOUNDRY_AGENT_NAME"] = dialogue.agent or self.agent
        yield Session(environment, self.endpoint, secrets_from_environment(self.settings))


@dataclass(frozen=True)
class EmulatorTarget:
    latency: float = 0.0
    description: str = "local Foundry emulator"
    # The environment and .env: their secrets are scrubbed here too (typed into a dialogue,
    # echoed by a tool), as in live mode.
    settings: Mapping[str, str] = field(default_factory=dict)
    emulator_options: Mapping[str, Any] = field(default_factory=dict)  # e.g. agents (tests)
    variation_seed: int | None = None  # the emulator's variation mode (a live-like agent)
    behaviour_change: BehaviourChange | None = None  # injected on purpose (benchmarks)
    _run: _Run = field(default_factory=_Run, init=False, repr=False, compare=False)

    @contextlib.contextmanager
    def opened(self) -> Iterator[EntraStandIn]:
        """One Entra ID stand-in for the sessions opened meanwhile: one sign-in per run, not a
        stand-in, a TLS certificate and a sign-in per dialogue."""
        if self._run.entra is not None:
            raise RuntimeError("this emulator target is already opened (one run at a time)")
        with EntraStandIn() as entra, signing_in_at(entra_sign_in(entra), process_wide=True):
            self._run.entra = entra
            try:
                yield entra
            finally:
                self._run.entra = None

    @contextlib.contextmanager
    def session(self, dialogue: Dialogue) -> Iterator[Session]:
        shared = self._run.entra
        with (
            FoundryEmulator(
                seed=dialogue.name,
                latency=self.latency,
                sign_in=shared is None,
                entra=shared,
                variation_seed=self.variation_seed,
                behaviour_change=self.behaviour_change,
                **self.emulator_options,
            ) as emulator,
            contextlib.ExitStack() as identity,
        ):
            sign_in = emulator_sign_in(emulator)
            if shared is None:  # the run's sign-in is process-wide; this one is the thread's
                identity.enter_context(signing_in_at(sign_in))
            environment: dict[str, Any] = {
                "AZURE_AI_PROJECT_ENDPOINT": emulator.endpoint,
                "AZURE_FOUNDRY_AGENT_NAME": dialogue.agent or DEFAULT_EMULATOR_AGENT,
                **sign_in,
            }
            live_endpoint = self.settings.get(ENDPOINT_KEY, "").strip()
            yield Session(
                environment,
                emulator.endpoint,
                _emulator_secrets(self.settings, environment),
                scrubbed_endpoints=(live_endpoint,) if live_endpoint else (),
                server_stats=emulator.stats,
            )


def _emulator_secrets(
    settings: Mapping[str, str], environment: Mapping[str, Any]
) -> dict[str, str]:
    """The secrets of the user's settings under their own names, and the emulator's throwaway
    service principal as EMULATOR_*: a real AZURE_CLIENT_SECRET in .env stays scrubbed too."""
    emulator = {f"EMULATOR_{k}": v for k, v in secrets_from_environment(environment).items()}
    return {**emulator, **secrets_from_environment(settings)}


def emulator_sign_in(emulator: FoundryEmulator) -> dict[str, str]:
    """The snippet's settings for signing in to `emulator` (created with sign_in=True or
    entra=) as its service principal, exactly as a team sets them for Entra ID."""
    return _sign_in(emulator.service_principal, emulator.authority_host, emulator.ca_bundle)


def entra_sign_in(entra: EntraStandIn) -> dict[str, str]:
    """The same settings for a running stand-in itself."""
    return _sign_in(entra.service_principal, entra.authority_host, entra.ca_bundle)


def _sign_in(principal: ServicePrincipal, authority_host: str, ca_bundle: str) -> dict[str, str]:
    return {
        "AZURE_TENANT_ID": principal.tenant_id,
        "AZURE_CLIENT_ID": principal.client_id,
        "AZURE_CLIENT_SECRET": principal.client_secret,
        "AZURE_AUTHORITY_HOST": authority_host,
        "REQUESTS_CA_BUNDLE": ca_bundle,
    }


def choose_target(
    settings: Mapping[str, str], *, emulator: bool, emulator_latency: float = 0.0
) -> Target:
    if emulator:
        return EmulatorTarget(latency=emulator_latency, settings=dict(settings))
    endpoint = settings.get("AZURE_AI_PROJECT_ENDPOINT", "").strip()
    agent = settings.get("AZURE_FOUNDRY_AGENT_NAME", "").strip()
    if endpoint and agent:
        return LiveTarget(endpoint=endpoint, agent=agent, settings=dict(settings))
    missing = [
        key
        for key, value in (
            ("AZURE_AI_PROJECT_ENDPOINT", endpoint),
            ("AZURE_FOUNDRY_AGENT_NAME", agent),
        )
        if not value
    ]
    raise ConfigurationError(
        f"nothing to record against: {' and '.join(missing)} not set.\n"
        "  - live: set AZURE_AI_PROJECT_ENDPOINT and AZURE_FOUNDRY_AGENT_NAME (and the service "
        "principal AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET, or `az login`) in the "
        "environment or in .env (see integration/.env.example);\n"
        "  - local: pass --emulator to record against the built-in Foundry emulator."
    )
