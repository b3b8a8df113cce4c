"""The golden replay tests are the foundry-goldens pytest plugin at work: `pytest` collects one
`test_golden[<name>]` per goldens/dialogues/<name>.yaml (see foundry_goldens/plugin.py and
tests/test_plugin.py); this file only checks the plugin's orphan rule on its own."""

from __future__ import annotations

from pathlib import Path

from foundry_goldens.pytest_goldens import orphans


def test_an_orphaned_cassette_is_named(tmp_path: Path) -> None:
    for sub in ("dialogues", "snapshots", "cassettes"):
        (tmp_path / sub).mkdir()
    (tmp_path / "dialogues" / "kept.yaml").write_text("name: kept\n", encoding="utf-8")
    (tmp_path / "snapshots" / "kept.json").write_text("{}", encoding="utf-8")
    (tmp_path / "cassettes" / "gone.json").write_text("{}", encoding="utf-8")
    (tmp_path / "cassettes" / "old.yaml").write_text("{}", encoding="utf-8")  # an older format
    (tmp_path / "cassettes" / "kept.yaml").write_text("{}", encoding="utf-8")
    (tmp_path / "cassettes" / "notes.txt").write_text("mine", encoding="utf-8")
    assert orphans(tmp_path / "dialogues", tmp_path / "snapshots", tmp_path / "cassettes") == [
        tmp_path / "cassettes" / "gone.json",
        tmp_path / "cassettes" / "old.yaml",
    ]
