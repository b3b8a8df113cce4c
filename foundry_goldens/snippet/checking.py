"""Whether the turns did what their dialogue's `expect:` blocks ask: the one place recording and
replay judge expectations.

Both judge a turn by `goldens.expectations.evaluate` on the facts of its result, and the AI GO!
export's scorer embeds that same function (aigo/scoring.py). The driver only runs turns; the
recorder checks each turn as it arrives (`checking_each_turn`, so a live recording stops at the
first broken turn instead of paying for the rest), replay checks the replayed dialogue after it
ran (`check_dialogue`), skipping the turns the recording already knows to hold (goldens/held.py).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from foundry_goldens.goldens.dialogues import Dialogue, Turn
from foundry_goldens.goldens.expectations import BrokenExpectation, TurnFacts, evaluate
from foundry_goldens.snippet.driver import TurnFailure, TurnResult


class ExpectationFailure(TurnFailure):
    """A turn ran but broke its dialogue's `expect` entries (all of them are listed)."""

    def __init__(self, dialogue: str, turn: int, broken: list[BrokenExpectation]) -> None:
        super().__init__(dialogue, turn, "; ".join(str(b) for b in broken))
        self.broken = broken


def turn_facts(result: TurnResult) -> TurnFacts:
    """What `evaluate` reads of a turn's result."""
    usage = result.output.usage
    return TurnFacts(
        user=result.user,
        items=list(result.output.items),
        reply=result.reply,
        prompt_tokens=usage.num_prompt_tokens if usage else None,
        completion_tokens=usage.num_completion_tokens if usage else None,
        error_code=result.error.code if result.error else None,
        error_message=result.error.message if result.error else None,
    )


def check_turn(dialogue: str, turn: Turn, result: TurnResult) -> None:
    """Raise ExpectationFailure listing every entry of `turn.expect` that `result` breaks."""
    broken = evaluate(turn, turn_facts(result))
    if broken:
        raise ExpectationFailure(dialogue, result.number, broken)


def check_dialogue(
    dialogue: Dialogue,
    results: Sequence[TurnResult],
    known_to_hold: Callable[[int], bool] = lambda number: False,
) -> None:
    """Check the turns that ran, in order, except those `known_to_hold(number)`; raise at the
    first broken one (a dialogue cut short by a failure is checked up to where it got)."""
    for turn, result in zip(dialogue.turns, results, strict=False):
        if not known_to_hold(result.number):
            check_turn(dialogue.name, turn, result)


def checking_each_turn(
    dialogue: Dialogue, then: Callable[[TurnResult], None] | None = None
) -> Callable[[TurnResult], None]:
    """A `drive_dialogue` on_turn that checks each turn's expectations as it arrives, then calls
    `then` (the caller's own on_turn) for a turn that held."""

    def on_turn(result: TurnResult) -> None:
        check_turn(dialogue.name, dialogue.turns[result.number - 1], result)
        if then is not None:
            then(result)

    return on_turn
