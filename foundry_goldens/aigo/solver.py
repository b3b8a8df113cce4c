"""The solver of exported goldens in AI GO!: plays a dialogue's user turns through the model.

`run_solver(sample, model, trace)` is AI GO!'s python solver entry point; `foundry-goldens
export aigo` writes this module as tasks/solver.py, so it imports nothing of foundry-goldens.
Each turn appends the user message and asks the model with the whole trace: AI GO! rebuilds the
request from the trace (text only, no conversation id), the path the snippet's conversation
memory keeps one Foundry conversation on. The row goes along as the sample where the model
takes one, as AI GO!'s model protocol does, so the snippet scopes that memory by dialogue.
"""

from __future__ import annotations

import inspect
from typing import Any

from latticeflow.core.dtypes import SolverTrace


def _takes_sample(predict: Any) -> bool:
    try:
        parameters = inspect.signature(predict).parameters
    except (TypeError, ValueError):
        return False
    return "sample" in parameters or any(
        p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()
    )


async def run_solver(sample: dict[str, Any], model: Any, trace: SolverTrace) -> SolverTrace:
    """Every user turn of the dialogue, each answered by the model before the next."""
    if sample.get("system"):
        trace.append_system_message(sample["system"])
    with_sample = _takes_sample(model.predict)
    for turn in sample["turns"]:
        trace.append_user_message(turn["user"])
        items = list(trace.items)  # the model reads the chat so far, not a list that grows
        if with_sample:
            response = await model.predict(items, sample=sample)
        else:
            response = await model.predict(items)
        trace.add_model_response(response)
    return trace
