"""The recorder's backstop: a block that outruns its deadline is interrupted in its thread."""

from __future__ import annotations

import time

import pytest

from foundry_goldens.snippet.watchdog import DeadlineInterrupt, interrupt_after

# Far longer than a deadline plus any scheduling delay: the elapsed-time bounds below only
# tell an interrupted drip from one that ran to its end.
DRIP_SECONDS = 60


def drip(seconds: float) -> None:
    """Stands in for a read loop that gets a byte every 50 ms."""
    ends = time.monotonic() + seconds
    while time.monotonic() < ends:
        time.sleep(0.05)


def test_a_block_past_its_deadline_is_interrupted_with_the_message() -> None:
    started = time.monotonic()
    # Any number of seconds: on a loaded machine the 0.3 s deadline may land as "1.0 s".
    expected = r"^turn 2 took too long \(stopped after \d+\.\d s\)"
    with (
        pytest.raises(DeadlineInterrupt, match=expected),
        interrupt_after(0.3, "turn 2 took too long"),
    ):
        drip(DRIP_SECONDS)
    assert time.monotonic() - started < DRIP_SECONDS / 2  # interrupted, not dripped to the end


def test_a_block_within_its_deadline_is_left_alone() -> None:
    with interrupt_after(60, "never"):  # far past the drip, however slow the machine
        drip(0.1)
    drip(0.2)  # nothing pending lands after the block


def test_an_interrupt_that_is_swallowed_is_raised_again() -> None:
    swallowed = 0
    started = time.monotonic()
    with pytest.raises(DeadlineInterrupt), interrupt_after(0.2, "stubborn"):
        try:
            drip(DRIP_SECONDS)
        except DeadlineInterrupt:
            swallowed += 1
        drip(DRIP_SECONDS)
    assert swallowed == 1
    assert time.monotonic() - started < DRIP_SECONDS / 2  # raised again, not dripped to the end


def test_another_error_of_the_block_passes_through() -> None:
    with pytest.raises(KeyError), interrupt_after(5, "never"):
        raise KeyError("x")
