"""Where a recording goes: a live Foundry project, or the built-in emulator.

Live when AZURE_AI_PROJECT_ENDPOINT and AZURE_FOUNDRY_AGENT_NAME are set (in the environment or
`.env`); `--emulator` records against a fresh local emulator per dialogue, seeded with the
dialogue's name so that recording twice gives byte-identical cassettes.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from harness.credentials import StaticTokenCredential
from harness.dialogues import Dialogue
from harness.emulator import FoundryEmulator
from harness.emulator.variation import BehaviourChange
from harness.sanitize import SECRET_ENVIRONMENT_KEYS, secrets_from_environment

PASSED_THROUGH_KEYS = (
    *SECRET_ENVIRONMENT_KEYS,
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


class Target(Protocol):
    @property
    def description(self) -> str: ...

    def session(self, dialogue: Dialogue) -> contextlib.AbstractContextManager[Session]: ...


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
    variation_seed: int | None = None  # the emulator's variation mode (a live-like agent)
    behaviour_change: BehaviourChange | None = None  # injected on purpose (benchmarks)

    @contextlib.contextmanager
    def session(self, dialogue: Dialogue) -> Iterator[Session]:
        with FoundryEmulator(
            seed=dialogue.name,
            latency=self.latency,
            variation_seed=self.variation_seed,
            behaviour_change=self.behaviour_change,
        ) as emulator:
            environment: dict[str, Any] = {
                "AZURE_AI_PROJECT_ENDPOINT": emulator.endpoint,
                "AZURE_FOUNDRY_AGENT_NAME": dialogue.agent or DEFAULT_EMULATOR_AGENT,
                "AZURE_TOKEN_CREDENTIAL": StaticTokenCredential(),
            }
            yield Session(environment, emulator.endpoint, {})


def choose_target(
    settings: Mapping[str, str], *, emulator: bool, emulator_latency: float = 0.0
) -> Target:
    if emulator:
        return EmulatorTarget(latency=emulator_latency)
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
