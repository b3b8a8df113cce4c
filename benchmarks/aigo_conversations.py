"""Conversations and requests per dialogue on AI GO!'s own path, before and after.

AI GO!'s multi-turn solver rebuilds each turn's request from the trace (latticeflow-core's
converters keep the text of assistant messages only): the conversation_id echo is lost on
every turn. This drives every shipped dialogue that way (`request_mode: aigo`: the system
message first, the chat rebuilt from the trace, the sample passed when the snippet takes it)
through two snippets side by side, on a fresh emulator per dialogue and variant, alternating
the variants dialogue by dialogue:

- before: the snippet as it was at --before (default the commit before this work), which
  seeds a new conversation with the whole history on every turn, in one create call;
- after: integration/run_inference.py as it is.

Per variant: conversations created and HTTP requests per dialogue (POST /conversations,
POST /conversations/{id}/items, POST /responses), turns that failed (Foundry takes at most 20
items per create call: a long history past that is a 400), input tokens billed, and the median
time per turn. Dialogues that expect an error are left out (their failure is the point).

    python benchmarks/aigo_conversations.py [--before REV] [--rounds 3]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from foundry_goldens.emulator import FoundryEmulator  # noqa: E402
from foundry_goldens.goldens.dialogues import Dialogue, load_dialogues  # noqa: E402
from foundry_goldens.snippet.credentials import StaticTokenCredential  # noqa: E402
from foundry_goldens.snippet.driver import (  # noqa: E402
    EMPTY_OUTPUT,
    TurnError,
    TurnResult,
    build_request_body,
    check_turn,
    dialogue_sample,
    takes_sample,
)

# The last commit before the snippet recognised its conversations (issue 19).
BEFORE = "893aca0"
DEFAULT_SYSTEM = "You are being evaluated as a customer-support agent. Answer briefly."
COUNTED_ROUTES = (
    "POST /conversations",
    "POST /conversations/{id}/items",
    "POST /responses",
)


@dataclass
class Tally:
    dialogues: int = 0
    turns: int = 0
    failed_turns: int = 0
    conversations: list[int] = field(default_factory=list)
    requests: list[int] = field(default_factory=list)
    input_tokens: list[int] = field(default_factory=list)
    turn_seconds: list[float] = field(default_factory=list)
    failures: dict[str, str] = field(default_factory=dict)


def load_snippet(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot load a snippet from {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def snippet_at(revision: str, into: Path) -> Path:
    try:
        text = subprocess.run(
            ["git", "show", f"{revision}:integration/run_inference.py"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        raise SystemExit(
            f"--before {revision}: cannot read integration/run_inference.py at that revision "
            f"with git ({exc}); run from a clone with the project's history"
        ) from None
    path = into / f"run_inference_{revision}.py"
    path.write_text(text, encoding="utf-8")
    return path


def aigo(dialogue: Dialogue) -> Dialogue:
    return dialogue.model_copy(
        update={"request_mode": "aigo", "system": dialogue.system or DEFAULT_SYSTEM}
    )


def drive(snippet: ModuleType, dialogue: Dialogue, tally: Tally) -> None:
    """Every turn as AI GO! sends it; a turn that fails is counted and the dialogue goes on
    (its chat then holds the user message without a reply, as AI GO!'s trace would)."""
    snippet.reset_client_cache()
    sample = dialogue_sample(dialogue) if takes_sample(snippet.run_inference) else None
    with FoundryEmulator(seed=f"aigo-{dialogue.name}") as emulator:
        environment = {
            "AZURE_AI_PROJECT_ENDPOINT": emulator.endpoint,
            "AZURE_FOUNDRY_AGENT_NAME": dialogue.agent or "retail-support",
            "AZURE_TOKEN_CREDENTIAL": StaticTokenCredential(),
            "FOUNDRY_MAX_RETRIES": "0",
        }
        previous: list[TurnResult] = []
        input_tokens = 0
        for number, turn in enumerate(dialogue.turns, start=1):
            body = build_request_body(previous, turn.user, mode="aigo", system=dialogue.system)
            started = time.perf_counter()
            try:
                if sample is not None:
                    returned = snippet.run_inference(body, environment, sample=sample)
                else:
                    returned = snippet.run_inference(body, environment)
            except Exception as exc:  # counted: a failed turn is the finding
                tally.failed_turns += 1
                tally.failures.setdefault(dialogue.name, f"turn {number}: {exc}"[:160])
                error = TurnError.of(exc)
                previous.append(TurnResult(number, turn.user, body, "", EMPTY_OUTPUT, error))
                continue
            finally:
                tally.turn_seconds.append(time.perf_counter() - started)
            output = check_turn(dialogue.name, number, returned)
            if output.usage is not None:
                input_tokens += output.usage.num_prompt_tokens or 0
            previous.append(TurnResult(number, turn.user, body, returned, output))
        stats = emulator.stats()
    snippet.reset_client_cache()
    requests = stats["requests"]
    tally.dialogues += 1
    tally.turns += len(dialogue.turns)
    tally.conversations.append(stats["conversations"])
    tally.requests.append(sum(int(requests.get(route, 0)) for route in COUNTED_ROUTES))
    tally.input_tokens.append(input_tokens)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--before", default=BEFORE, help="git revision of the 'before' snippet")
    parser.add_argument("--rounds", type=int, default=3, help="timing rounds (counts are exact)")
    args = parser.parse_args()

    dialogues = [
        aigo(d)
        for d in load_dialogues(ROOT / "goldens" / "dialogues")
        if not any(turn.expect.error is not None for turn in d.turns)
    ]
    with tempfile.TemporaryDirectory() as scratch:
        variants = {
            f"before ({args.before})": load_snippet(
                snippet_at(args.before, Path(scratch)), "aigo_before"
            ),
            "after": load_snippet(ROOT / "integration" / "run_inference.py", "aigo_after"),
        }
        tallies = {name: Tally() for name in variants}
        timing: dict[str, list[float]] = {name: [] for name in variants}
        for round_number in range(args.rounds):
            round_tallies = {name: Tally() for name in variants}
            for dialogue in dialogues:
                # Alternate which variant goes first, dialogue by dialogue.
                order = list(variants.items())
                if (round_number + dialogues.index(dialogue)) % 2:
                    order.reverse()
                for name, snippet in order:
                    drive(snippet, dialogue, round_tallies[name])
            for name, tally in round_tallies.items():
                timing[name].append(statistics.median(tally.turn_seconds))
                if round_number == 0:
                    tallies[name] = tally

    turns = sum(len(d.turns) for d in dialogues)
    longest = max(dialogues, key=lambda d: len(d.turns))
    print(
        f"AI GO!'s path (request_mode aigo): {len(dialogues)} shipped dialogues, {turns} turns "
        f"(longest: {longest.name}, {len(longest.turns)} turns), {args.rounds} rounds"
    )
    header = (
        f"  {'variant':<22} {'conversations':>13} {'per dialogue':>12} {'requests':>9} "
        f"{'per dialogue':>12} {'failed turns':>12} {'input tokens':>12} {'ms/turn':>8}"
    )
    print(header)
    summary: dict[str, Any] = {}
    for name, tally in tallies.items():
        row = {
            "conversations": sum(tally.conversations),
            "conversations_per_dialogue": sum(tally.conversations) / tally.dialogues,
            "requests": sum(tally.requests),
            "requests_per_dialogue": sum(tally.requests) / tally.dialogues,
            "failed_turns": tally.failed_turns,
            "input_tokens": sum(tally.input_tokens),
            "ms_per_turn": statistics.median(timing[name]) * 1000,
            "failures": tally.failures,
        }
        summary[name] = row
        print(
            f"  {name:<22} {row['conversations']:>13} {row['conversations_per_dialogue']:>12.2f} "
            f"{row['requests']:>9} {row['requests_per_dialogue']:>12.2f} "
            f"{row['failed_turns']:>12} {row['input_tokens']:>12} {row['ms_per_turn']:>8.2f}"
        )
    before, after = summary.values()
    for name, row in summary.items():
        for dialogue, failure in row["failures"].items():
            print(f"  {name}: {dialogue}: first failure {failure}")
    print(
        f"  after/before: conversations {after['conversations'] / before['conversations']:.3f}, "
        f"requests {after['requests'] / before['requests']:.3f}, "
        f"input tokens {after['input_tokens'] / max(before['input_tokens'], 1):.3f}"
    )
    print(json.dumps({"dialogues": len(dialogues), "turns": turns, **summary}, default=str))
    # Target: one conversation per dialogue and no failed turn on AI GO!'s path.
    ok = after["conversations"] == len(dialogues) and after["failed_turns"] == 0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
