"""Goldens from strangers' pull requests: symbolic links, overlapping directories, failing
disks, and the mode of what the recorder writes.

End to end as a team runs it: a project made by `foundry-goldens init`, the command in a
subprocess (`record --emulator --only greeting`, pytest with `--snapshot-update`). Faults are
injected at the real system call (os.replace, os.write, os.mkdir) inside that subprocess: the
tests run as root, whom chmod does not stop.
"""

from __future__ import annotations

import errno
import json
import os
import re
import stat
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from syrupy.data import Snapshot, SnapshotCollection

from foundry_goldens import config as config_module
from foundry_goldens.cassettes import format as cassette_format
from foundry_goldens.cassettes.player import LeakCheckingPersister, Utf8Files
from foundry_goldens.cassettes.sanitizer import Sanitizer
from foundry_goldens.config import ConfigError, GoldenDirectory, UnsafeGoldenPath, load_config
from foundry_goldens.goldens import publishing
from foundry_goldens.goldens.dialogues import load_dialogue, load_dialogues
from foundry_goldens.goldens.publishing import PublishError, complete_pending, staging
from foundry_goldens.goldens.snapshots import GoldenSnapshotExtension
from foundry_goldens.recording.progress import SilentProgress
from foundry_goldens.recording.recorder import RecordOptions, record_dialogues
from foundry_goldens.recording.targets import EmulatorTarget
from foundry_goldens.replay.replayer import ReplayError, replay_dialogue
from foundry_goldens.scaffold import init_project
from tests.paths import DIALOGUE_DIR

TIMEOUT = 120
SECRET = b"outside the project: never read, never written\n"

CHANGED_GREETING = """\
name: greeting
agent: retail-support
turns:
  - user: "Hi there!"
  - user: "What can you do for me?"
"""

# Records greeting with one system call failing as the test says (argv: call, errno name,
# the Python condition on its arguments `a`).
FAULTY_RECORD = """
import errno, os, sys
from foundry_goldens.cli.main import main

call, code, condition = sys.argv[1:4]
real = getattr(os, call)

def faulty(*a, **k):
    if eval(condition):
        raise OSError(getattr(errno, code), os.strerror(getattr(errno, code)))
    return real(*a, **k)

setattr(os, call, faulty)
sys.exit(main(["record", "--emulator", "--only", "greeting"]))
"""


def environment() -> dict[str, str]:
    """No Azure settings; output neither wrapped nor coloured, whatever the paths' length."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AZURE_", "FOUNDRY_"))}
    env.update(COLUMNS="100000", NO_COLOR="1", TERM="dumb", PYTHONUNBUFFERED="1")
    return env


def run(project: Path, *args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *map(str, args)],
        cwd=project,
        env=environment(),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )


def record(project: Path, *args: str | Path) -> subprocess.CompletedProcess[str]:
    return run(
        project, "-m", "foundry_goldens", "record", "--emulator", "--only", "greeting", *args
    )


def said(result: subprocess.CompletedProcess[str]) -> str:
    """Everything the command printed, whitespace runs as one space."""
    return " ".join((result.stdout + result.stderr).split())


def snapshot_of(files: Iterator[Path]) -> dict[str, bytes]:
    return {str(path): path.read_bytes() for path in files if path.is_file()}


def goldens(project: Path) -> dict[str, bytes]:
    """Every golden file of the project, by path (the recorder's work directory aside)."""
    found = [*(project / "goldens").rglob("*"), *(project / "cassettes").glob("*")]
    return snapshot_of(iter(sorted(found)))


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    init_project(root)
    return root


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A file outside the project that a link in the goldens points at."""
    victim = tmp_path / "outside" / "victim.json"
    victim.parent.mkdir()
    victim.write_bytes(SECRET)
    return victim


@pytest.fixture
def recorded_project(project: Path) -> Path:
    """The project with greeting recorded."""
    result = record(project)
    assert result.returncode == 0, said(result)
    return project


@pytest.fixture
def recorded(recorded_project: Path) -> Path:
    """Greeting recorded, then its dialogue changed: a re-recording would replace both files."""
    dialogue = recorded_project / "goldens" / "dialogues" / "greeting.yaml"
    dialogue.write_text(CHANGED_GREETING, "utf-8")
    return recorded_project


# -- 1. symbolic links ------------------------------------------------------------------


@pytest.mark.parametrize(
    "golden",
    ["goldens/snapshots/greeting.json", "cassettes/greeting.json", "cassettes/greeting.yaml"],
)
def test_record_refuses_a_golden_linked_outside_and_leaves_its_target(
    project: Path, outside: Path, golden: str
) -> None:
    link = project / golden
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(outside)

    result = record(project)

    assert result.returncode == 2, said(result)
    assert f"{link} is a symbolic link (to {outside})" in said(result)
    assert "Traceback" not in said(result)
    assert outside.read_bytes() == SECRET
    assert link.is_symlink()


@pytest.mark.parametrize("directory", ["goldens/snapshots", "cassettes", "cassettes/.record"])
def test_record_refuses_a_golden_directory_linked_outside(
    project: Path, tmp_path: Path, directory: str
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    link = project / directory
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(elsewhere, target_is_directory=True)

    result = record(project)

    assert result.returncode == 2, said(result)
    assert f"{link} is a symbolic link (to {elsewhere})" in said(result)
    assert list(elsewhere.iterdir()) == []  # nothing written there, not even a directory


def test_record_refuses_a_linked_dialogue_before_reading_it(project: Path, outside: Path) -> None:
    outside.write_text("name: stolen\nturns:\n  - user: 'the secret'\n", encoding="utf-8")
    link = project / "goldens" / "dialogues" / "stolen.yaml"
    link.symlink_to(outside)

    result = record(project)

    assert result.returncode == 2, said(result)
    assert f"{link} is a symbolic link" in said(result)
    assert "the secret" not in said(result)


def test_snapshot_update_neither_writes_nor_reads_through_a_linked_snapshot(
    recorded_project: Path, outside: Path
) -> None:
    recorded = recorded_project
    snapshot = recorded / "goldens" / "snapshots" / "greeting.json"
    snapshot.unlink()
    snapshot.symlink_to(outside)

    for options in ((), ("--snapshot-update",)):
        result = run(recorded, "-m", "pytest", "-p", "no:cacheprovider", "-q", *options)

        assert result.returncode != 0, said(result)
        assert outside.read_bytes() == SECRET
        assert not snapshot.exists() or snapshot.is_symlink()  # never written through


def test_the_snapshot_extension_refuses_linked_snapshots_and_directories(
    tmp_path: Path, outside: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "project"
    root.mkdir()
    (root / "pyproject.toml").write_text("[tool.foundry-goldens]\n", encoding="utf-8")
    config = load_config(root=root, cwd=root)
    monkeypatch.setattr(config_module, "_active", config)  # as the plugin activates it
    config.snapshots.mkdir(parents=True)
    link = config.snapshots / "greeting.json"
    link.symlink_to(outside)
    extension = GoldenSnapshotExtension()
    collection = SnapshotCollection(location=str(link))
    collection.add(Snapshot(name="greeting", data="{}\n"))
    refused = rf"{re.escape(str(link))} is a symbolic link \(to {re.escape(str(outside))}\)"

    with pytest.raises(UnsafeGoldenPath, match=refused):
        extension.read_snapshot_data_from_location(
            snapshot_location=str(link), snapshot_name="greeting", session_id="s"
        )
    with pytest.raises(UnsafeGoldenPath, match=refused):
        GoldenSnapshotExtension.write_snapshot_collection(snapshot_collection=collection)
    extension.delete_snapshots(snapshot_location=str(link), snapshot_names={"greeting"})
    assert not link.is_symlink() and outside.read_bytes() == SECRET  # the link went, not it

    config.snapshots.rmdir()
    config.snapshots.symlink_to(outside.parent, target_is_directory=True)
    with pytest.raises(UnsafeGoldenPath, match="goldens/snapshots is a symbolic link"):
        GoldenSnapshotExtension.write_snapshot_collection(snapshot_collection=collection)
    assert sorted(p.name for p in outside.parent.iterdir()) == ["victim.json"]


def test_snapshot_update_writes_a_regular_file_with_the_umask_mode(
    recorded_project: Path,
) -> None:
    recorded = recorded_project
    (recorded / "goldens" / "snapshots" / "greeting.json").unlink()
    code = "import os, sys, pytest; os.umask(0o027); sys.exit(pytest.main(sys.argv[1:]))"

    result = run(recorded, "-c", code, "-p", "no:cacheprovider", "-q", "--snapshot-update")

    snapshot = recorded / "goldens" / "snapshots" / "greeting.json"
    assert snapshot.is_file() and not snapshot.is_symlink(), said(result)
    assert stat.S_IMODE(snapshot.stat().st_mode) == 0o640


def test_a_publish_refuses_a_link_that_appeared_after_the_check(tmp_path: Path) -> None:
    """The race the up-front check cannot close: the write itself refuses the link."""
    greeting = load_dialogues(DIALOGUE_DIR, ["greeting"])
    options = RecordOptions(tmp_path / "cassettes", tmp_path / "snapshots")
    record_dialogues(greeting, EmulatorTarget(), options, SilentProgress())
    before = snapshot_of((tmp_path / "cassettes").glob("*.json"))
    victim = tmp_path / "victim.json"
    victim.write_bytes(SECRET)
    snapshot = tmp_path / "snapshots" / "greeting.json"
    snapshot.unlink()
    snapshot.symlink_to(victim)

    with pytest.raises(UnsafeGoldenPath, match=r"greeting\.json is a symbolic link"):
        record_dialogues(greeting, EmulatorTarget(), options, SilentProgress())

    assert victim.read_bytes() == SECRET
    assert snapshot_of((tmp_path / "cassettes").glob("*.json")) == before
    assert [p for p in (tmp_path / "cassettes" / ".record").rglob("*") if p.is_file()] == []


def test_a_link_swapped_in_after_every_check_is_replaced_never_written_through(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    victim = tmp_path / "victim.json"
    victim.write_bytes(SECRET)
    (tmp_path / "goldens").mkdir()
    (tmp_path / "goldens" / "greeting.json").symlink_to(victim)
    monkeypatch.setattr(GoldenDirectory, "refuse_replacing", lambda self, name: None)

    with GoldenDirectory.open(tmp_path / "goldens") as directory:
        directory.write("greeting.json", b"{}\n")

    assert victim.read_bytes() == SECRET
    assert not (tmp_path / "goldens" / "greeting.json").is_symlink()
    assert (tmp_path / "goldens" / "greeting.json").read_bytes() == b"{}\n"


def test_the_cassette_persister_neither_writes_nor_reads_through_a_link(tmp_path: Path) -> None:
    victim = tmp_path / "victim.json"
    victim.write_bytes(SECRET)
    cassette = tmp_path / "cassettes" / "greeting.json"
    cassette.parent.mkdir()
    cassette.symlink_to(victim)
    persister = LeakCheckingPersister(Sanitizer("https://foundry.invalid", {}))

    with pytest.raises(UnsafeGoldenPath, match=r"greeting\.json is a symbolic link"):
        persister.save_cassette(
            cassette, {"requests": [], "responses": []}, serializer=cassette_format
        )
    with pytest.raises(UnsafeGoldenPath, match=r"greeting\.json is a symbolic link"):
        Utf8Files.load_cassette(cassette, serializer=None)
    assert victim.read_bytes() == SECRET


def test_a_committed_journal_naming_a_file_outside_is_refused(tmp_path: Path) -> None:
    victim = tmp_path / "victim.json"
    victim.write_bytes(SECRET)
    cassettes = tmp_path / "cassettes"
    entry = cassettes / ".record" / "pending" / "greeting"
    entry.mkdir(parents=True)
    (entry / "cassette.json").write_bytes(b"overwritten\n")
    (entry / "snapshot.json").write_bytes(b"overwritten\n")
    targets = {"cassette.json": str(victim), "snapshot.json": str(tmp_path / "x.json")}
    (entry / "targets.json").write_text(json.dumps(targets), encoding="utf-8")

    with pytest.raises(UnsafeGoldenPath, match=f"names {victim}, .*not the golden files"):
        complete_pending(cassettes)
    with pytest.raises(UnsafeGoldenPath):
        record_dialogues(
            load_dialogues(DIALOGUE_DIR, ["greeting"]),
            EmulatorTarget(),
            RecordOptions(cassettes, tmp_path / "snapshots"),
            SilentProgress(),
        )
    assert victim.read_bytes() == SECRET


def test_a_linked_journal_entry_is_refused(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / "cassettes" / ".record" / "pending").mkdir(parents=True)
    (tmp_path / "cassettes" / ".record" / "pending" / "greeting").symlink_to(elsewhere)

    refused = pytest.raises(UnsafeGoldenPath, match="pending/greeting is a symbolic link")
    with refused, staging(tmp_path / "cassettes"):
        pass


# -- 2. overlapping directories -----------------------------------------------------------


@pytest.mark.parametrize("taken", ["goldens/dialogues", "goldens/snapshots"])
def test_record_refuses_cassettes_overlapping_another_golden_directory(
    recorded: Path, taken: str
) -> None:
    before = goldens(recorded)

    result = record(recorded, "--cassettes", taken)

    key = taken.split("/")[1]
    assert result.returncode == 2, said(result)
    message = said(result)
    assert "--cassettes" in message and f"[tool.foundry-goldens] {key} in" in message
    assert "overlap" in message and "Traceback" not in message
    assert goldens(recorded) == before


@pytest.mark.parametrize(
    ("table", "first", "second"),
    [
        ('dialogues = "goldens"\nsnapshots = "goldens/snapshots"\n', "dialogues", "snapshots"),
        ('snapshots = "cassettes/.record/snaps"\n', "snapshots", "cassettes"),
        ('cassettes = "goldens/dialogues"\n', "dialogues", "cassettes"),
        ('dialogues = "specs/../cassettes"\n', "dialogues", "cassettes"),
    ],
)
def test_overlapping_directories_in_the_configuration_name_both_keys(
    tmp_path: Path, table: str, first: str, second: str
) -> None:
    (tmp_path / "pyproject.toml").write_text(f"[tool.foundry-goldens]\n{table}", "utf-8")
    config = load_config(cwd=tmp_path)

    with pytest.raises(ConfigError) as raised:
        config.require_separate_directories()

    source = tmp_path.resolve() / "pyproject.toml"
    message = str(raised.value)
    assert f"[tool.foundry-goldens] {first} in {source}" in message
    assert f"[tool.foundry-goldens] {second} in {source}" in message


def test_directories_aliased_by_a_link_overlap_too(tmp_path: Path) -> None:
    (tmp_path / "cassettes").mkdir()
    (tmp_path / "snaps").symlink_to(tmp_path / "cassettes", target_is_directory=True)
    config = load_config(root=tmp_path, overrides={"snapshots": "snaps"}, cwd=tmp_path)

    with pytest.raises(ConfigError, match=r"--snapshots and \[tool.foundry-goldens\] cassettes"):
        config.require_separate_directories()


def test_separate_directories_pass(tmp_path: Path) -> None:
    load_config(root=tmp_path, cwd=tmp_path).require_separate_directories()


# -- 3. faults: one line, the previous goldens intact ------------------------------------


@pytest.mark.parametrize(
    ("call", "code", "condition", "says"),
    [
        # moving the staged cassette into the journal: before the commit point
        ("replace", "ENOSPC", "a[1] == 'cassette.json'", "could not publish greeting"),
        # writing the journal's targets.json
        ("write", "ENOSPC", "bytes(a[1]).startswith(b'{\\n  \"cassette.json\"')", "unchanged"),
        # moving the cassette into place, after the commit point: the commit is undone
        ("replace", "ENOSPC", "a[0] == 'cassette.json'", "are unchanged"),
        # a read-only cassettes directory: the run's staging cannot be made
        ("mkdir", "EROFS", "str(a[0]).startswith('run-')", "Read-only file system"),
    ],
)
def test_a_failing_disk_is_one_line_and_leaves_the_goldens_whole(
    recorded: Path, call: str, code: str, condition: str, says: str
) -> None:
    before = goldens(recorded)

    result = run(recorded, "-c", textwrap.dedent(FAULTY_RECORD), call, code, condition)

    message = said(result)
    assert result.returncode == 1, message
    assert "error:" in message and says in message
    assert "Traceback" not in message
    assert goldens(recorded) == before
    assert [p for p in (recorded / "cassettes" / ".record").rglob("*") if p.is_file()] == []


def test_a_fault_after_the_first_move_leaves_a_journal_the_next_run_completes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    [greeting] = load_dialogues(DIALOGUE_DIR, ["greeting"])
    options = RecordOptions(tmp_path / "cassettes", tmp_path / "snapshots")
    record_dialogues([greeting], EmulatorTarget(), options, SilentProgress())
    (tmp_path / "changed").mkdir()
    (tmp_path / "changed" / "greeting.yaml").write_text(CHANGED_GREETING, encoding="utf-8")
    changed = load_dialogue(tmp_path / "changed" / "greeting.yaml")
    real_replace = os.replace

    def full_disk(*args: object, **kwargs: object) -> None:
        if args[0] == "snapshot.json":
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real_replace(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "replace", full_disk)
    previous = os.umask(0o027)
    try:
        with pytest.raises(PublishError, match="publishing greeting was cut short"):
            record_dialogues([changed], EmulatorTarget(), options, SilentProgress())
    finally:
        os.umask(previous)
    monkeypatch.undo()

    entry = tmp_path / "cassettes" / ".record" / "pending" / "greeting"
    assert sorted(p.name for p in entry.iterdir()) == ["snapshot.json", "targets.json"]
    assert {stat.S_IMODE(p.stat().st_mode) for p in entry.iterdir()} == {0o640}
    with pytest.raises(ReplayError, match="interrupted while it replaced its files"):
        replay_dialogue(changed, tmp_path / "cassettes" / "greeting.json")

    record_dialogues([changed], EmulatorTarget(), options, SilentProgress())
    assert not entry.exists()
    replay_dialogue(changed, tmp_path / "cassettes" / "greeting.json")


def test_init_into_a_dangling_link_is_one_line(tmp_path: Path) -> None:
    link = tmp_path / "agent"
    link.symlink_to(tmp_path / "missing")

    result = run(tmp_path, "-m", "foundry_goldens", "init", link)

    assert result.returncode == 2, said(result)
    assert f"{link} is a symbolic link to {tmp_path / 'missing'}, which does not exist" in said(
        result
    )
    assert "Traceback" not in said(result)
    assert not (tmp_path / "missing").exists()


def test_init_that_cannot_write_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a directory", encoding="utf-8")

    result = run(tmp_path, "-m", "foundry_goldens", "init", tmp_path / "file" / "agent")

    assert result.returncode == 1, said(result)
    assert said(result).startswith("error: cannot write the project into")
    assert "Traceback" not in said(result)


# -- 4. one file mode ---------------------------------------------------------------------


@pytest.mark.parametrize("umask", [0o022, 0o027, 0o002])
def test_recorded_files_get_the_mode_open_gives_under_the_umask(tmp_path: Path, umask: int) -> None:
    greeting = load_dialogues(DIALOGUE_DIR, ["greeting"])
    options = RecordOptions(tmp_path / "cassettes", tmp_path / "snapshots")
    previous = os.umask(umask)
    try:
        record_dialogues(greeting, EmulatorTarget(), options, SilentProgress())
        record_dialogues(greeting, EmulatorTarget(), options, SilentProgress())  # re-recorded
    finally:
        os.umask(previous)

    for path in (
        tmp_path / "cassettes" / "greeting.json",
        tmp_path / "snapshots" / "greeting.json",
    ):
        assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask, path


def test_the_staging_writes_with_the_same_mode(tmp_path: Path) -> None:
    previous = os.umask(0o022)
    try:
        with staging(tmp_path / "cassettes") as staged:
            staged.write(staged.snapshot("greeting"), b"{}\n")
            mode = stat.S_IMODE(staged.snapshot("greeting").stat().st_mode)
    finally:
        os.umask(previous)
    assert mode == 0o644
    assert publishing.work_dir(tmp_path / "cassettes").is_dir()


# -- the path arithmetic GoldenDirectory does on strings ------------------------------------

_NAMES = st.sampled_from(["a", "b", "ab", ".x", "..", ".", "b.c"])


@given(
    start=st.lists(_NAMES, max_size=3),
    below=st.lists(_NAMES, max_size=4),
    root_start=st.booleans(),
)
def test_the_names_below_a_start_are_pathlibs(
    start: list[str], below: list[str], root_start: bool
) -> None:
    """`_parts_below` answers as `Path.relative_to(...).parts` / `is_relative_to` do for the
    normalized absolute paths GoldenDirectory.open compares (a sibling sharing a name's prefix,
    `/` itself and `..` included)."""
    first = config_module._normal_text("/" + "/".join(start)) if not root_start else "/"
    path = config_module._normal_text(first + "/" + "/".join(below))
    expected = (
        list(Path(path).relative_to(first).parts) if Path(path).is_relative_to(first) else None
    )
    assert config_module._parts_below(path, first) == expected
    sibling = first.rstrip("/") + "x"  # shares first's text, is not inside it
    if first != "/":
        assert config_module._parts_below(sibling, first) is None


def test_a_golden_read_whole_as_it_grows(tmp_path: Path) -> None:
    """A read that finds the file longer than it was when opened still returns every byte."""
    golden = tmp_path / "grows.json"
    golden.write_bytes(b"x" * 10)
    fd = os.open(golden, os.O_RDONLY)
    try:
        with golden.open("ab") as more:
            more.write(b"y" * 100_000)
        assert config_module._read_all(fd, 10) == b"x" * 10 + b"y" * 100_000
    finally:
        os.close(fd)
