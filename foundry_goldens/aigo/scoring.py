"""The scorer of exported goldens in AI GO!: every turn's `expect:` block, checked as replay does.

`compute_scores(sample, solver_output)` is AI GO!'s python scorer entry point: `sample` is a
dataset row of the export (aigo/export.py), `solver_output` the SolverTrace the exported solver
(aigo/solver.py) played. Each turn is checked by goldens/expectations.py, the same checks
recording and replay run; `foundry-goldens export aigo` writes this module, with the modules it
imports embedded, as tasks/scorer.py (aigo/inline.py), so there is no second copy to drift.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from foundry_goldens.goldens.dialogues import Turn
from foundry_goldens.goldens.expectations import evaluate, facts_from_snapshot_turn

# Score fields, averaged by the task's metrics (aigo/export.py).
DIALOGUE_PASSED = "dialogue_passed"  # 1.0 when every turn's expectations hold
TURNS_PASSED = "turns_passed"  # the fraction of turns whose expectations hold


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    return "".join(str(getattr(part, "text", "") or "") for part in content or [])


def played_turns(solver_output: Any) -> list[tuple[str, dict[str, Any]]]:
    """Each played turn of a SolverTrace: the user text and the turn's output as a snapshot
    holds it (items from the trace, usage from the matching raw output when there is one per
    turn, as the solver makes them)."""
    turns = solver_output.trace.turns
    raw = list(getattr(solver_output, "raw_outputs", None) or [])
    played = []
    for index, turn in enumerate(turns):
        output: dict[str, Any] = {
            "items": [item.model_dump(mode="json") for item in turn.assistant_items]
        }
        usage = getattr(raw[index], "usage", None) if len(raw) == len(turns) else None
        if usage is not None:
            output["usage"] = usage.model_dump(mode="json")
        played.append((_text(turn.user_message.content), output))
    return played


def check_turns(
    turns: Sequence[Mapping[str, Any]], played: Sequence[tuple[str, Mapping[str, Any]]]
) -> list[list[str]]:
    """The broken expectations of each dialogue turn (an empty list: all hold)."""
    results: list[list[str]] = []
    for index, raw_turn in enumerate(turns):
        turn = Turn.model_validate(raw_turn)
        if index >= len(played):
            results.append(["the turn was not played"])
            continue
        user, output = played[index]
        if user != turn.user:
            results.append([f"the trace's user message is {user!r}, not the dialogue's"])
            continue
        facts = facts_from_snapshot_turn({"user": user, "output": output})
        results.append([str(broken) for broken in evaluate(turn, facts)])
    return results


def compute_scores(sample: dict[str, Any], solver_output: Any) -> dict[str, Any]:
    """AI GO!'s entry point: the dialogue's scores, and which expectations broke where."""
    turns = sample["turns"]
    broken = check_turns(turns, played_turns(solver_output))
    passed = sum(1 for turn in broken if not turn)
    return {
        "scores": {
            DIALOGUE_PASSED: 1.0 if passed == len(turns) else 0.0,
            TURNS_PASSED: passed / len(turns) if turns else 1.0,
        },
        "metadata": {
            "broken": [
                f"turn {number}: {message}"
                for number, messages in enumerate(broken, start=1)
                for message in messages
            ]
        },
    }
