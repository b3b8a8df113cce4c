"""Which turns' expectations are known to hold, so a replay need not check them again.

A recording checks every turn's `expect:` block and stores, in its cassette's metadata (vcrpy's
`metadata`, under `expectations_held`), one digest per turn of everything the answer depends on:

- the evaluator: the source of this package's checks (expectations, refusals, scorer templates;
  any edit, a comment's too, counts: the safe side) and the versions of latticeflow-core (its
  scorers) and pydantic (its parsing);
- the turn's `expect:` block, as parsed;
- the turn as its snapshot holds it: the user text and the output (or the expected error).

Replay compares each turn's digest with the recorded one and checks only the turns whose
digest differs: an edited `expect:` block, a snippet that now answers otherwise, a new
latticeflow-core. Equal digests mean the same checks on the same facts, which gave "held".

The snapshot form has its random ids replaced by aliases (goldens/normalization.py), one
numbering per kind across the dialogue. No check reads an id except to pair a function call
with its output by `call_id`, and aliasing keeps that pairing, so a turn's checks answer the
same for the output as returned and as the snapshot holds it (the golden review relies on
this too: it checks expectations on snapshots, review/classify.py).
"""

from __future__ import annotations

import functools
import hashlib
import os
from collections.abc import Mapping, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

from foundry_goldens.goldens import expectations, refusals, scorer_templates
from foundry_goldens.goldens.dialogues import Dialogue, TurnExpectations
from foundry_goldens.jsontext import compact

METADATA_KEY = "expectations_held"
PREFIX = "blake2b:"
# Their source as written is the evaluator's identity, comments included (reading it costs nothing,
# parsing it would cost every session): any edit to these files makes replay check every turn
# again, and re-recording stores the new digests (the committed cassettes' metadata changes).
_EVALUATOR_MODULES = (expectations, refusals, scorer_templates)
_EVALUATOR_DISTRIBUTIONS = ("latticeflow-core", "pydantic")


class HeldMetadataError(ValueError):
    """A cassette's `expectations_held` metadata is not a list of digests."""


@functools.cache
def _installed_versions() -> bytes:
    # Looked up once per process: what is installed does not change under a running one, as
    # what it imported does not.
    versions = b""
    for distribution in _EVALUATOR_DISTRIBUTIONS:
        try:
            version = metadata.version(distribution)
        except metadata.PackageNotFoundError:  # pragma: no cover - both are dependencies
            version = "?"
        versions += f"\0{distribution}=={version}".encode()
    return versions


@functools.cache
def evaluator_identity() -> bytes:
    """What the checks' answers depend on besides their inputs (worked out once per process;
    benchmarks start each round afresh: replay.session.forget_session_caches)."""
    identity = hashlib.blake2b(digest_size=16)
    for module in _EVALUATOR_MODULES:
        try:
            source = Path(str(module.__file__)).read_bytes()
        except OSError:  # no source to read (a frozen build): no turn is known to hold
            return os.urandom(16)
        # A checkout with Windows line endings has the same checks: the same digests.
        identity.update(source.replace(b"\r\n", b"\n"))
    identity.update(_installed_versions())
    return identity.digest()


@functools.lru_cache(maxsize=4)
def _keyed(identity: bytes) -> Any:
    """The digest with the evaluator's identity already fed in (copied for every turn)."""
    return hashlib.blake2b(identity, digest_size=16)


def turn_digest(expect: TurnExpectations, snapshot_turn: Mapping[str, Any]) -> str:
    """The digest of checking `expect` against a turn as its snapshot holds it."""
    digest = _keyed(evaluator_identity()).copy()
    for part in (expect.model_dump_json().encode(), compact(snapshot_turn)):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return PREFIX + digest.hexdigest()


def dialogue_digests(dialogue: Dialogue, snapshot: Mapping[str, Any]) -> list[str]:
    """One digest per turn of `snapshot` (normalize_dialogue's document of `dialogue`)."""
    turns: Sequence[Mapping[str, Any]] = snapshot["turns"]
    return [turn_digest(t.expect, s) for t, s in zip(dialogue.turns, turns, strict=True)]


def read_held(stored: Any) -> list[str]:
    """The digests a cassette's metadata holds (None: a cassette recorded without them)."""
    if stored is None:
        return []
    if not isinstance(stored, list) or not all(
        isinstance(d, str) and d.startswith(PREFIX) for d in stored
    ):
        raise HeldMetadataError(
            f"metadata.{METADATA_KEY} must be a list of {PREFIX}... digests, one per turn, "
            f"not {stored!r:.80}"
        )
    return stored
