"""Offline replay of one golden dialogue from its cassette, through the real integration.

No configuration and no credentials: the cassette always speaks to the placeholder endpoint,
a static token stands in for Entra ID, and vcrpy in `none` mode answers every request or fails
it. A failure says which dialogue and turn, what differs, and how to re-record.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vcr.cassette import Cassette
from vcr.errors import CannotOverwriteExistingCassetteException, MissingMetadataError

from foundry_goldens.cassettes import format as cassette_format
from foundry_goldens.cassettes.player import describe_unmatched_request, parsed_body, replaying
from foundry_goldens.cassettes.sanitizer import PLACEHOLDER_ENDPOINT
from foundry_goldens.commands import command
from foundry_goldens.config import Config, UnsafeGoldenPath, active, read_golden
from foundry_goldens.goldens.dialogues import Dialogue
from foundry_goldens.goldens.held import (
    METADATA_KEY,
    HeldMetadataError,
    dialogue_digests,
    read_held,
)
from foundry_goldens.goldens.publishing import half_published
from foundry_goldens.snippet.checking import ExpectationFailure, check_dialogue
from foundry_goldens.snippet.driver import (
    RunInference,
    TurnFailure,
    TurnResult,
    conversations_expected,
    drive_dialogue,
)
from foundry_goldens.snippet.identity import static_identity_here
from foundry_goldens.snippet.loader import load_integration
from foundry_goldens.snippet.transcript import normalize_dialogue

MAX_LISTED = 40
# Statuses openai retries (after waiting out Retry-After): a cassette never holds one, since the
# recorder keeps only the attempt that succeeded.
RETRIED_STATUSES = frozenset({408, 409, 429})
# What the sanitizer leaves where it removed a value, e.g. <AZURE_CLIENT_SECRET>, <JWT>.
SCRUBBED_MARKER = re.compile(r"<[A-Z][A-Z0-9_]*>")


def rerecord_hint(name: str) -> str:
    return (
        f"re-record it: {command()} record --emulator --only {name} "
        f"(or without --emulator against the live project)"
    )


def snapshot_update_hint(name: str) -> str:
    return f"{command('pytest')} --snapshot-update -k {name}"


def explain_snapshot_mismatch(
    dialogue: str,
    expected_file: Path,
    actual: dict[str, Any],
    script: Dialogue | None = None,
) -> str:
    """Per turn, what differs from the committed snapshot, classified (review/classify.py),
    with every changed reply as a whole word diff, and what to do about it.

    Replay got this far, so the cassette still matches what the integration sends: only the
    snapshot differs, and accepting the output is `pytest --snapshot-update`.
    """
    # Only a failing golden needs these (and deepdiff, which imports pandas when installed):
    # imported here, they stay out of every passing run's start-up.
    from foundry_goldens.review.classify import CATEGORIES
    from foundry_goldens.review.compare import classify_snapshots
    from foundry_goldens.review.comparison import compare_snapshots, text_word_diff

    try:
        # Never through a link: the committed snapshot is untrusted input.
        expected = json.loads(read_golden(expected_file).decode("utf-8"))
    except FileNotFoundError:
        return f"{dialogue}: no snapshot at {expected_file}; {rerecord_hint(dialogue)}"
    except UnsafeGoldenPath as refused:
        return f"{dialogue}: {refused}"
    classification = classify_snapshots(dialogue, expected, actual, script)
    lines = [
        f"{dialogue}: the output changed against {expected_file} "
        "(the cassette still matches: every recorded request was replayed)"
    ]
    for category in CATEGORIES:
        changes = classification.of(category)
        if not changes:
            continue
        lines.append(f"{category}:")
        for change in changes:
            where = f"turn {change.turn}" if change.turn else "dialogue"
            lines.append(f"  {where}: {change.summary}")
            if change.old is not None and change.new is not None:
                lines.append(f"    {text_word_diff(change.old, change.new)}")
    details = compare_snapshots(expected, actual)
    if details:
        lines.append("every field that differs:")
        lines += [f"  {line}" for line in details]
    lines.append(
        f"If the new output is intended, accept it: {snapshot_update_hint(dialogue)} "
        f"(or {rerecord_hint(dialogue)}); if not, the integration or the harness broke."
    )
    return "\n".join(lines)


def expectation_message(name: str, failure: ExpectationFailure, dialogues: Path) -> str:
    broken = "\n".join(f"  - {b}" for b in failure.broken)
    return (
        f"{name}, turn {failure.turn}: the recording breaks the dialogue's expectations "
        f"({dialogues / name}.yaml):\n{broken}\n"
        "If the expect: block is what is wrong, correct it (replay checks it against this "
        "recording again: nothing to re-record); if the agent or the integration should not "
        f"behave this way, fix it, then {rerecord_hint(name)}."
    )


# Why a snippet that loses the dialogue's conversation cannot be re-recorded away.
FIX_THE_SNIPPET = (
    "fix the snippet: re-recording cannot help, recording fails the same check "
    "(one conversation per dialogue, whichever way the requests are built)"
)


def turn_failure_advice(name: str, failure: TurnFailure) -> str:
    """What to do about a turn that failed on replay, by its cause."""
    if failure.__cause__ is None:
        # The driver's own checks of the output (driver.check_turn, check_conversation): the
        # snippet's answer to the recorded responses breaks what AI GO! relies on.
        return f"The snippet's output breaks what AI GO! relies on; {FIX_THE_SNIPPET}."
    return (
        "The snippet raised on the recorded responses: fix it, or, if the recording is what "
        f"is stale (the dialogue now expects something else), {rerecord_hint(name)}"
    )


def started_another_conversation(turn: int, request: Any) -> bool:
    """An unrecorded request that creates a conversation after the first turn: the snippet
    lost the dialogue's conversation (the conversation_id echo, or its memory of the chat)."""
    method = getattr(request, "method", "")
    path = getattr(request, "path", "")
    return turn > 1 and method == "POST" and path.rstrip("/").endswith("/conversations")


class ReplayError(AssertionError):
    """Replay diverged from the recording; the message says where and what to do."""


@dataclass(frozen=True)
class ReplayResult:
    dialogue: str
    turns: list[TurnResult]
    # Digests of the turns whose expectations held (goldens/held.py), one per turn; empty when
    # the replay did not check them.
    expectations_held: list[str] = field(default_factory=list)
    document: dict[str, Any] | None = field(default=None, repr=False, compare=False)

    def snapshot(self) -> dict[str, Any]:
        """The snapshot document. A replay that checked expectations made it for their digests
        and keeps it: every call returns that same document, so copy it before changing it."""
        if self.document is not None:
            return self.document
        return normalize_dialogue(self.dialogue, self.turns)


def _responses_requests(cassette: Cassette) -> Iterator[dict[str, Any]]:
    for request in cassette.requests:
        if request.method == "POST" and request.path.endswith("/responses"):
            body = parsed_body(request)  # parsed once per cassette body, shared with matching
            if isinstance(body, dict):
                yield body


def _user_text(body: dict[str, Any]) -> str | None:
    """The user text a responses call carried; None for an approval continuation."""
    given = body.get("input")
    if isinstance(given, str):
        return given
    if isinstance(given, list):
        texts = [
            item.get("content")
            for item in given
            if isinstance(item, dict) and item.get("role") == "user"
        ]
        if texts:
            return "".join(t if isinstance(t, str) else json.dumps(t) for t in texts)
    return None


def recorded_user_turns(cassette: Cassette) -> list[str]:
    return [
        text for body in _responses_requests(cassette) if (text := _user_text(body)) is not None
    ]


def recorded_agent(cassette: Cassette) -> str | None:
    for body in _responses_requests(cassette):
        reference = body.get("agent_reference") or body.get("agent") or {}
        if isinstance(reference, dict) and reference.get("name"):
            return str(reference["name"])
    return None


def conversations_created(cassette: Cassette) -> int:
    return sum(
        1 for r in cassette.requests if r.method == "POST" and r.path.endswith("/conversations")
    )


def check_script_matches(dialogue: Dialogue, cassette: Cassette) -> None:
    """The dialogue's user turns must be the ones recorded, else replay cannot mean anything."""
    recorded = recorded_user_turns(cassette)
    for number, turn in enumerate(dialogue.turns, start=1):
        if number > len(recorded):
            raise ReplayError(
                f"{dialogue.name}, turn {number}: the dialogue has {len(dialogue.turns)} turns "
                f"but the cassette recorded {len(recorded)}; {rerecord_hint(dialogue.name)}"
            )
        if recorded[number - 1] != turn.user:
            if SCRUBBED_MARKER.search(recorded[number - 1]):
                raise ReplayError(
                    f"{dialogue.name}, turn {number}: the recording scrubbed a secret or token "
                    f"out of this turn's user text\n  recorded: {recorded[number - 1]!r}\n"
                    "Dialogue texts are sent as they are and matched as recorded: take the "
                    "secret-shaped text out of the dialogue, then re-record it."
                )
            raise ReplayError(
                f"{dialogue.name}, turn {number}: the user text changed since recording\n"
                f"  recorded: {recorded[number - 1]!r}\n  dialogue: {turn.user!r}\n"
                f"{rerecord_hint(dialogue.name)}"
            )
    if len(recorded) > len(dialogue.turns):
        raise ReplayError(
            f"{dialogue.name}: the cassette recorded {len(recorded)} turns but the dialogue has "
            f"{len(dialogue.turns)}; {rerecord_hint(dialogue.name)}"
        )


def _unmatched(exc: BaseException) -> CannotOverwriteExistingCassetteException | None:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, CannotOverwriteExistingCassetteException):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def replay_environment(agent: str, config: Config | None = None) -> dict[str, Any]:
    """The snippet's settings on replay: no credential among them. Whatever credential the
    snippet builds answers with the static fake token while `replay_cassette` runs
    (snippet/identity.py `static_identity_here`)."""
    return {
        # the project's own settings ([tool.foundry-goldens] replay-env)
        **(config if config is not None else active()).replay_env,
        "AZURE_AI_PROJECT_ENDPOINT": PLACEHOLDER_ENDPOINT,
        "AZURE_FOUNDRY_AGENT_NAME": agent,
        # A recorded 429 or 5xx must fail at once, never sleep through its Retry-After.
        "FOUNDRY_MAX_RETRIES": "0",
    }


def check_no_retried_responses(dialogue: Dialogue, cassette: Cassette) -> None:
    """A throttled or failed attempt in a cassette was put there by hand (or by an older
    recorder); replaying it would only say that some request no longer matches."""
    for number, (request, response) in enumerate(cassette.data, start=1):
        status = int((response.get("status") or {}).get("code") or 0)
        if status not in RETRIED_STATUSES and status < 500:
            continue
        headers = {k.lower(): v for k, v in (response.get("headers") or {}).items()}
        retry_after = headers.get("retry-after")
        if isinstance(retry_after, list):
            retry_after = retry_after[0] if retry_after else None
        wait = f" with Retry-After: {retry_after}" if retry_after else ""
        raise ReplayError(
            f"{dialogue.name}: interaction {number} of the cassette ({request.method} "
            f"{request.path}) is a recorded HTTP {status}{wait}. Recordings keep only the "
            "attempt that succeeded, so this one was edited in or recorded by an older "
            f"recorder; replay does not retry or wait on it. {rerecord_hint(dialogue.name)}"
        )


def replay_dialogue(
    dialogue: Dialogue,
    cassette_file: Path | None = None,
    run_inference: RunInference | None = None,
    cassette_session: Callable[[Path], AbstractContextManager[Cassette]] = replaying,
    check_expected: bool = True,
    tolerate_errors: bool = False,
    recheck_expectations: bool = False,
    config: Config | None = None,
) -> ReplayResult:
    """Replay the dialogue's cassette file through the integration (see `replay_cassette`):
    what a golden test runs before comparing the snapshot (pytest_goldens.check_golden).

    `run_inference` may wrap the snippet's (benchmarks); `cassette_session` replays on a
    session of the caller's (the plugin's, with vcrpy's patches on for a run of goldens).
    """
    config = config if config is not None else active()
    path = cassette_file or cassette_format.find_cassette(config.cassettes, dialogue.name)
    cut_short = half_published(path.parent, dialogue.name)
    if cut_short is not None:
        raise ReplayError(
            f"{dialogue.name}: {cut_short}. The cassette and snapshot do not belong together: "
            f"run any {command()} record (it completes the interrupted publish first), or "
            f"{rerecord_hint(dialogue.name)}"
        )
    if not path.is_file():
        raise ReplayError(f"{dialogue.name}: no cassette at {path}; {rerecord_hint(dialogue.name)}")
    return replay_cassette(
        dialogue,
        cassette_session(path),
        cassette_file=path,
        run_inference=run_inference,
        check_expected=check_expected,
        tolerate_errors=tolerate_errors,
        recheck_expectations=recheck_expectations,
        config=config,
    )


def _held_in(dialogue: Dialogue, cassette: Cassette, path: Path | None) -> list[str]:
    """The turns' digests the recording stored (goldens/held.py); none for an older one."""
    try:
        stored = cassette.get_metadata(METADATA_KEY, None)
    except MissingMetadataError:  # a replayed cassette that has none (record mode none)
        return []
    try:
        return read_held(stored)
    except HeldMetadataError as error:
        where = f"cassette {path}" if path is not None else "its cassette"
        raise ReplayError(
            f"{dialogue.name}: {where}: {error}. The recorder writes it; "
            f"{rerecord_hint(dialogue.name)}"
        ) from None


def check_expectations_held(
    dialogue: Dialogue,
    turns: list[TurnResult],
    document: dict[str, Any],
    held: list[str],
    dialogues: Path,
) -> list[str]:
    """Check every turn whose digest (from `document`, the turns' snapshot) is not the one
    `held` recorded for it, in turn order, raising ReplayError at the first broken one; the
    digests of all turns, whose expectations now held."""
    digests = dialogue_digests(dialogue, document)

    def known_to_hold(number: int) -> bool:
        return number <= len(held) and held[number - 1] == digests[number - 1]

    with _expectations_as_replay_errors(dialogue, dialogues):
        check_dialogue(dialogue, turns, known_to_hold)
    return digests


@contextlib.contextmanager
def _expectations_as_replay_errors(dialogue: Dialogue, dialogues: Path) -> Iterator[None]:
    try:
        yield
    except ExpectationFailure as failure:
        raise ReplayError(expectation_message(dialogue.name, failure, dialogues)) from None


def replay_cassette(
    dialogue: Dialogue,
    cassette_session: AbstractContextManager[Cassette],
    cassette_file: Path | None = None,
    run_inference: RunInference | None = None,
    check_expected: bool = True,
    tolerate_errors: bool = False,
    recheck_expectations: bool = False,
    config: Config | None = None,
) -> ReplayResult:
    """Replay through the integration, each turn checked as AI GO! reads it, then the turns'
    expectations (`check_expected`): those whose digest the recording stored are known to hold
    (goldens/held.py) and are checked again only with `recheck_expectations`.

    The recorder replays its fresh recording from memory this way, before the file exists.
    """
    config = config if config is not None else active()
    run_inference = run_inference or load_integration(config.require_snippet()).run_inference
    with static_identity_here(), cassette_session as cassette:
        check_no_retried_responses(dialogue, cassette)
        check_script_matches(dialogue, cassette)
        held = (
            []
            if recheck_expectations or not check_expected
            else _held_in(dialogue, cassette, cassette_file)
        )
        agent = dialogue.agent or recorded_agent(cassette) or config.agent or "agent"
        driven: list[TurnResult] = []
        try:
            turns = drive_dialogue(
                dialogue,
                run_inference,
                replay_environment(agent, config),
                tolerate_errors=tolerate_errors,
                on_turn=driven.append,
            )
        except TurnFailure as failure:
            if check_expected:  # a turn before the failure that broke its expectations says why
                with _expectations_as_replay_errors(dialogue, config.dialogues):
                    check_dialogue(dialogue, driven)
            unmatched = _unmatched(failure)
            if unmatched is None:
                advice = turn_failure_advice(dialogue.name, failure)
                raise ReplayError(f"{failure}\n{advice}") from failure
            if started_another_conversation(failure.turn, unmatched.failed_request):
                raise ReplayError(
                    f"{failure.dialogue}, turn {failure.turn}: the snippet started a new "
                    "conversation instead of continuing the dialogue's one (it lost the "
                    f"conversation_id echo, or its memory of the chat); {FIX_THE_SNIPPET}"
                ) from None
            detail = describe_unmatched_request(cassette, unmatched.failed_request)
            raise ReplayError(
                f"{failure.dialogue}, turn {failure.turn}: the integration now sends a request "
                f"the recording does not have\n{detail}\n{rerecord_hint(dialogue.name)}"
            ) from None
        if check_expected:
            document = normalize_dialogue(dialogue.name, turns)  # the digests are of snapshots
            checked = check_expectations_held(dialogue, turns, document, held, config.dialogues)
            result = ReplayResult(dialogue.name, turns, checked, document)
        else:
            result = ReplayResult(dialogue.name, turns)
        created = conversations_created(cassette)
        if created != conversations_expected(dialogue):
            raise ReplayError(
                f"{dialogue.name}: the recording created {created} conversations, "
                f"expected {conversations_expected(dialogue)}"
            )
        if not cassette.all_played:
            unplayed = [
                f"{r.method} {r.path}"
                for i, r in enumerate(cassette.requests)
                if not cassette.play_counts[i]
            ]
            raise ReplayError(
                f"{dialogue.name}: {len(unplayed)} recorded request(s) were never sent on replay "
                f"({', '.join(unplayed)}); the integration now makes fewer calls. "
                f"{rerecord_hint(dialogue.name)}"
            )
    return result
