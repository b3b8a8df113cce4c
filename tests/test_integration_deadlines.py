"""The snippet's turn deadline against a stalled, a hung and a throttling Foundry (the emulator).

Real HTTP on loopback through azure-ai-projects -> openai -> httpx2. Deadlines are a second or
two so the tests take seconds; the default (100 s, under AI GO!'s 120 s) is checked as data.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest

from foundry_goldens.emulator import FaultConfig, FoundryEmulator
from foundry_goldens.snippet.credentials import StaticTokenCredential
from tests.paths import PROJECT_ROOT

BODY = json.dumps({"messages": [{"role": "user", "content": "Hi"}]})
CREDENTIAL = StaticTokenCredential()


@pytest.fixture(autouse=True)
def fresh_clients(snippet: ModuleType) -> Iterator[None]:
    snippet.reset_client_cache()
    yield
    snippet.reset_client_cache()


def environment(emulator: FoundryEmulator, turn_seconds: float, **extra: Any) -> dict[str, Any]:
    return {
        "AZURE_AI_PROJECT_ENDPOINT": emulator.endpoint,
        "AZURE_FOUNDRY_AGENT_NAME": "retail-support",
        "AZURE_TOKEN_CREDENTIAL": CREDENTIAL,
        "FOUNDRY_TURN_TIMEOUT_SECONDS": str(turn_seconds),
        **extra,
    }


def run_timed(snippet: ModuleType, env: dict[str, Any]) -> tuple[Any, float]:
    started = time.monotonic()
    with pytest.raises(snippet.FoundryError) as caught:
        snippet.run_inference(BODY, env)
    return caught.value, time.monotonic() - started


def test_a_server_dripping_bytes_is_cut_off_at_the_turn_deadline(snippet: ModuleType) -> None:
    # Every byte resets httpx's read timeout: only a total deadline ends this call.
    with FoundryEmulator(faults=FaultConfig(stall_call=1, stall_interval=0.2)) as emulator:
        error, seconds = run_timed(snippet, environment(emulator, 1.0))
        stats = emulator.stats()
    assert error.code == "timeout"
    assert "deadline of 1 s (FOUNDRY_TURN_TIMEOUT_SECONDS)" in str(error)
    assert "still arriving" in str(error)
    assert seconds < 5
    assert stats.faults == {"stalled": 1}
    assert stats.responses_calls == 1  # no retry was started past the deadline


def test_a_server_that_never_answers_is_not_retried_past_the_deadline(
    snippet: ModuleType,
) -> None:
    with FoundryEmulator(faults=FaultConfig(hang_call=1)) as emulator:
        error, seconds = run_timed(snippet, environment(emulator, 1.0))
        stats = emulator.stats()
    assert error.code == "timeout"
    assert "waiting for Foundry to answer" in str(error)
    assert seconds < 5  # not 3 attempts x 110 s
    assert stats.responses_calls == 1


def test_a_retry_after_longer_than_the_time_left_is_not_waited_for(snippet: ModuleType) -> None:
    faults = FaultConfig(rate_limit_every=1, retry_after=30)
    with FoundryEmulator(faults=faults) as emulator:
        error, seconds = run_timed(snippet, environment(emulator, 2.0))
    assert error.code == "timeout"
    assert "HTTP 429 and asked to wait 30 s" in str(error)
    assert seconds < 2


def test_no_backoff_is_slept_that_would_outlast_the_deadline(snippet: ModuleType) -> None:
    # A dropped connection is retried after openai's backoff (up to 0.5 s for the first retry).
    with FoundryEmulator(faults=FaultConfig(drop_call=1)) as emulator:
        error, seconds = run_timed(snippet, environment(emulator, 0.4))
        stats = emulator.stats()
    assert error.code == "timeout"
    assert "before a retry: the request failed" in str(error)
    assert seconds < 0.4
    assert stats.responses_calls == 1


def test_short_retries_still_happen_within_the_deadline(snippet: ModuleType) -> None:
    with FoundryEmulator(faults=FaultConfig(fail_call=1)) as emulator:
        output = json.loads(snippet.run_inference(BODY, environment(emulator, 5.0)))
        stats = emulator.stats()
    assert output["items"][-1]["conversation_id"]
    assert stats.faults == {"failed": 1}
    assert stats.responses_calls == 2


def test_a_stall_in_a_later_approval_round_counts_against_the_same_deadline(
    snippet: ModuleType,
) -> None:
    guarded = json.dumps(
        {
            "messages": [
                {"role": "user", "content": "I want to return ORD-3001 because it is broken"}
            ]
        }
    )
    # Call 1 asks for approval; call 2, the approval answer, stalls.
    with FoundryEmulator(faults=FaultConfig(stall_call=2, stall_interval=0.2)) as emulator:
        env = environment(emulator, 1.0, AZURE_FOUNDRY_AGENT_NAME="retail-support-guarded")
        started = time.monotonic()
        with pytest.raises(snippet.FoundryError, match="deadline of 1 s") as caught:
            snippet.run_inference(guarded, env)
        seconds = time.monotonic() - started
        stats = emulator.stats()
    assert caught.value.code == "timeout"
    assert seconds < 5
    assert stats.responses_calls == 2


@pytest.mark.parametrize("value", ["0", "-1", "nan", "inf", "soon"])
def test_a_bad_turn_timeout_is_a_value_error_naming_the_setting(
    snippet: ModuleType, value: str
) -> None:
    env = {
        "AZURE_AI_PROJECT_ENDPOINT": "https://example.invalid/api/projects/p",
        "AZURE_FOUNDRY_AGENT_NAME": "a",
        "FOUNDRY_TURN_TIMEOUT_SECONDS": value,
    }
    with pytest.raises(ValueError, match="FOUNDRY_TURN_TIMEOUT_SECONDS"):
        snippet.read_settings(env)


def test_the_default_turn_deadline_fits_under_the_models_timeout(snippet: ModuleType) -> None:
    model = (PROJECT_ROOT / "integration" / "model.yaml").read_text("utf-8")
    (timeout,) = [float(seconds) for seconds in re.findall(r"(?m)^\s*timeout:\s*(\d+)", model)]
    # Room left for AI GO!'s side of the sample (conversion, its own bookkeeping).
    assert timeout - snippet.DEFAULT_TURN_TIMEOUT_SECONDS >= 10
