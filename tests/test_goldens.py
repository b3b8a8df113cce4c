"""Offline replay of every golden dialogue through the real integration (one test per dialogue).

No environment variables, no credentials, no network: each cassette answers every request or
the test fails, saying which dialogue and turn diverged and how to re-record.
`pytest --snapshot-update` refreshes goldens/snapshots/ (scripts/record.py does it for you).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from syrupy.assertion import SnapshotAssertion

from harness.dialogues import Dialogue, load_dialogues
from harness.paths import CASSETTE_DIR, DIALOGUE_DIR, SNAPSHOT_DIR
from harness.recording_router import ThreadCassetteRouter
from harness.replay import explain_snapshot_mismatch, replay_dialogue
from harness.snapshots import GoldenSnapshotExtension

DIALOGUES = load_dialogues(DIALOGUE_DIR)


@pytest.fixture
def golden(snapshot: SnapshotAssertion) -> SnapshotAssertion:
    return snapshot.use_extension(GoldenSnapshotExtension)


@pytest.fixture(scope="module")
def replay_router() -> Iterator[ThreadCassetteRouter]:
    """vcrpy's patches installed once for every golden, each dialogue's cassette routed."""
    with ThreadCassetteRouter.for_replay().installed() as router:
        yield router


@pytest.mark.parametrize("dialogue", DIALOGUES, ids=[d.name for d in DIALOGUES])
def test_golden(
    dialogue: Dialogue,
    golden: SnapshotAssertion,
    offline: None,
    replay_router: ThreadCassetteRouter,
) -> None:
    result = replay_dialogue(dialogue, cassette_session=replay_router.replaying)

    assert len(result.turns) == len(dialogue.turns)
    # One conversation when the id is echoed; one per turn, each seeded, when rebuilt (a turn
    # that failed as its dialogue expects has none).
    answered = [turn for turn in result.turns if turn.error is None]
    conversation_ids = {turn.conversation_id for turn in answered}
    expected = min(len(answered), 1) if dialogue.request_mode == "echo" else len(answered)
    assert len(conversation_ids) == expected, (
        f"{dialogue.name}: conversation ids {conversation_ids}"
    )

    actual = result.snapshot()
    if not golden == actual:
        raise AssertionError(
            explain_snapshot_mismatch(
                dialogue.name, SNAPSHOT_DIR / f"{dialogue.name}.json", actual, dialogue
            )
        )


def orphans(dialogue_dir: Path, snapshot_dir: Path, cassette_dir: Path) -> list[Path]:
    """Snapshots and cassettes whose dialogue no longer exists."""
    names = {path.stem for path in dialogue_dir.glob("*.yaml")}
    found = [*snapshot_dir.glob("*.json"), *cassette_dir.glob("*.yaml")]
    return sorted(path for path in found if path.stem not in names)


def test_every_snapshot_and_cassette_has_its_dialogue() -> None:
    # syrupy's unused-snapshot report sees orphaned snapshots in a whole-suite run (the
    # extension lets every golden test claim them); cassettes it cannot see, so they are here.
    left = orphans(DIALOGUE_DIR, SNAPSHOT_DIR, CASSETTE_DIR)
    assert not left, (
        "golden files without a dialogue in goldens/dialogues/: "
        + ", ".join(str(path.relative_to(DIALOGUE_DIR.parent.parent)) for path in left)
        + "; delete them (pytest --snapshot-update deletes the snapshots) or restore the dialogue"
    )


def test_an_orphaned_cassette_is_named(tmp_path: Path) -> None:
    for sub in ("dialogues", "snapshots", "cassettes"):
        (tmp_path / sub).mkdir()
    (tmp_path / "dialogues" / "kept.yaml").write_text("name: kept\n", encoding="utf-8")
    (tmp_path / "snapshots" / "kept.json").write_text("{}", encoding="utf-8")
    (tmp_path / "cassettes" / "gone.yaml").write_text("{}", encoding="utf-8")
    assert orphans(tmp_path / "dialogues", tmp_path / "snapshots", tmp_path / "cassettes") == [
        tmp_path / "cassettes" / "gone.yaml"
    ]
