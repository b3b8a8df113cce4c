"""The emulator's fault settings refuse values that would only fail later, in its threads."""

from __future__ import annotations

import math

import pytest

from foundry_goldens.emulator import FaultConfig
from foundry_goldens.emulator.__main__ import main
from foundry_goldens.emulator.faults import Fault


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("latency", math.nan),
        ("latency", math.inf),
        ("latency", -1.0),
        ("retry_after", math.nan),
        ("stall_interval", 0.0),
        ("stall_interval", math.nan),
        ("stall_call", 0),
        ("hang_call", -2),
    ],
)
def test_a_bad_fault_setting_is_a_value_error_naming_it(field: str, value: float) -> None:
    with pytest.raises(ValueError, match=field):
        FaultConfig(**{field: value})  # type: ignore[arg-type]


def test_stall_and_hang_faults_pick_their_call() -> None:
    faults = FaultConfig(stall_call=2, hang_call=3)
    assert [faults.fault_for(call) for call in (1, 2, 3, 4)] == [
        None,
        Fault.STALL,
        Fault.HANG,
        None,
    ]


def test_the_command_line_exits_2_on_a_bad_stall_interval(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["--stall-call", "1", "--stall-interval", "nan"]) == 2
    assert "stall_interval must be a finite number of seconds > 0" in capsys.readouterr().err
