"""The pytest plugin (entry point `pytest11`): one offline replay test per golden dialogue.

Active when the project's pyproject.toml has a [tool.foundry-goldens] table (or a --goldens-*
option is given): the configured dialogue directory is collected, each `<name>.yaml` becoming
`test_golden[<name>]`, with the network blocked and no Azure settings; plus one check that every
snapshot and cassette still has its dialogue. The snapshots are syrupy's: `--snapshot-update`
rewrites them (and deletes orphaned ones) through the project's snapshot extension.

A golden test that fails before its snapshot is compared (a dialogue file that does not load,
a broken `expect:`, a changed user text, a snippet that does not compile, a cassette refused)
still marks its snapshot used: syrupy would otherwise call the snapshot of a dialogue that
exists "unused" and suggest `--snapshot-update`, which would delete it.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest
from syrupy.assertion import AssertionResult, SnapshotAssertion

from foundry_goldens.cassettes import format as cassette_format
from foundry_goldens.commands import command
from foundry_goldens.config import Config, ConfigError, activate, find_pyproject, load_config
from foundry_goldens.goldens.dialogues import Dialogue, DialogueError, load_dialogue
from foundry_goldens.goldens.snapshots import GoldenSnapshotExtension

GROUP = "foundry-goldens"
# option dest -> config key
PATH_OPTIONS = {
    "goldens_snippet": "snippet",
    "goldens_dialogues": "dialogues",
    "goldens_snapshots": "snapshots",
    "goldens_cassettes": "cassettes",
}
_STASH: pytest.StashKey[Config] = pytest.StashKey()
_SETTINGS: pytest.StashKey[dict[str, str]] = pytest.StashKey()


class NetworkBlocked(RuntimeError):
    pass


def block_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """No Azure settings and no sockets: replay must need neither, even when it fails."""
    for key in list(os.environ):
        if key.startswith(("AZURE_", "FOUNDRY_")):
            monkeypatch.delenv(key)

    def refuse(self: socket.socket, address: Any) -> None:
        raise NetworkBlocked(f"replay tried to reach {address!r}; the network is blocked")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup(GROUP, "foundry-goldens: replay the golden dialogues offline")
    group.addoption(
        "--goldens-root",
        metavar="DIR",
        help="project root whose pyproject.toml holds [tool.foundry-goldens] (default: rootdir)",
    )
    group.addoption("--goldens-config", metavar="FILE", help="that pyproject.toml")
    for dest, key in PATH_OPTIONS.items():
        group.addoption(
            f"--goldens-{key}", dest=dest, metavar="PATH", help=f"override the {key} key"
        )
    group.addoption("--goldens-agent", metavar="NAME", help="override the agent key")
    group.addoption(
        "--no-goldens",
        action="store_true",
        help="do not collect the golden dialogues",
    )
    group.addoption(
        "--goldens-recheck-expectations",
        action="store_true",
        help="check every turn's expect: block, also where its cassette records that it held",
    )


def _load(config: pytest.Config) -> Config | None:
    option = config.option
    overrides: dict[str, Any] = {key: getattr(option, dest) for dest, key in PATH_OPTIONS.items()}
    overrides["agent"] = option.goldens_agent
    given = option.goldens_root or option.goldens_config or any(overrides.values())
    if not given and find_pyproject(config.rootpath) is None:
        return None  # another project: the plugin stays out of its way
    root = Path(option.goldens_root) if option.goldens_root else None
    if root is None and option.goldens_config is None and not given:
        root = find_pyproject(config.rootpath).parent  # type: ignore[union-attr]
    return load_config(
        root=root,
        config_file=Path(option.goldens_config) if option.goldens_config else None,
        overrides=overrides,
        cwd=Path(config.invocation_params.dir),
    )


def pytest_configure(config: pytest.Config) -> None:
    if config.option.no_goldens:
        return
    try:
        goldens = _load(config)
    except ConfigError as exc:
        raise pytest.UsageError(str(exc)) from None
    if goldens is None:
        return
    config.stash[_STASH] = activate(goldens)
    try:
        # Read now: the golden tests run with the AZURE_* settings taken away, and their
        # failure text (an old golden's content among it) is masked with these.
        config.stash[_SETTINGS] = goldens.settings(os.environ)
    except ConfigError as exc:
        raise pytest.UsageError(str(exc)) from None
    # A plain `pytest` (testpaths or the current directory) also collects the dialogues.
    if config.args_source != pytest.Config.ArgsSource.ARGS:
        base = Path(config.invocation_params.dir)
        paths = [(base / arg).resolve() for arg in config.args]
        dialogues = goldens.dialogues.resolve()
        if not any(dialogues.is_relative_to(path) for path in paths):
            config.args.append(str(dialogues))


@pytest.hookimpl(tryfirst=True)
def pytest_collect_directory(path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    goldens = parent.config.stash.get(_STASH, None)
    if goldens is not None and path.resolve() == goldens.dialogues.resolve():
        return GoldenDirectory.from_parent(parent, path=path)
    return None


class GoldenDirectory(pytest.Directory):
    """The dialogue directory: one file node per dialogue, and the orphan check."""

    def collect(self) -> Iterable[pytest.Item | pytest.Collector]:
        for path in sorted(self.path.glob("*.yaml")):
            yield GoldenFile.from_parent(self, path=path)
        yield OrphanCheck.from_parent(self, name="every_golden_has_its_dialogue")


class GoldenFile(pytest.File):
    def collect(self) -> Iterable[pytest.Item]:
        try:
            dialogue = load_dialogue(self.path)
        except DialogueError as exc:
            # A failed test of its own (named after the file, as its snapshot is), not a
            # collection error: its snapshot stays used, so --snapshot-update keeps it.
            yield pytest.Function.from_parent(
                self, name=f"test_golden[{self.path.stem}]", callobj=_unloadable_test(str(exc))
            )
            return
        yield pytest.Function.from_parent(
            self,
            name=f"test_golden[{dialogue.name}]",
            callobj=_golden_test(dialogue),
        )


class OrphanCheck(pytest.Item):
    def runtest(self) -> None:
        goldens = self.config.stash[_STASH]
        left = orphans(goldens.dialogues, goldens.snapshots, goldens.cassettes)
        if left:
            raise AssertionError(
                f"golden files without a dialogue in {goldens.dialogues}: "
                + ", ".join(str(path) for path in left)
                + f"; delete them ({command('pytest')} --snapshot-update deletes the snapshots) "
                "or restore the dialogue"
            )

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, self.name


def orphans(dialogue_dir: Path, snapshot_dir: Path, cassette_dir: Path) -> list[Path]:
    """Snapshots and cassettes whose dialogue no longer exists. (syrupy's unused-snapshot
    report sees orphaned snapshots too; cassettes it cannot see.)"""
    names = {path.stem for path in dialogue_dir.glob("*.yaml")}
    cassettes = [path for path in cassette_dir.glob("*") if cassette_format.is_cassette_file(path)]
    found = [*snapshot_dir.glob("*.json"), *cassettes]
    return sorted(path for path in found if path.stem not in names)


@pytest.fixture
def golden(snapshot: SnapshotAssertion) -> SnapshotAssertion:
    """syrupy's snapshot, stored as `<snapshots>/<dialogue>.json`."""
    return snapshot.use_extension(GoldenSnapshotExtension)


@pytest.fixture
def goldens_offline(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    block_network(monkeypatch)
    yield


def _golden_test(dialogue: Dialogue) -> Callable[..., None]:
    def test_golden(
        golden: SnapshotAssertion, goldens_offline: None, request: pytest.FixtureRequest
    ) -> None:
        check_golden(dialogue, golden, request.config.option.goldens_recheck_expectations)

    return test_golden


def _unloadable_test(problem: str) -> Callable[..., None]:
    def test_golden(golden: SnapshotAssertion) -> None:
        keep_snapshot(golden)
        pytest.fail(problem, pytrace=False)

    return test_golden


def keep_snapshot(golden: SnapshotAssertion, error: BaseException | None = None) -> None:
    """Record `golden`'s snapshot as used by this test without comparing or writing it (a
    failed assertion, in syrupy's report), unless the test already asserted it.

    syrupy knows a snapshot is used only from the test's assertions; a golden test that fails
    before its assertion would leave the snapshot of a dialogue that still exists "unused",
    and `--snapshot-update` would delete it."""
    if golden.num_executions:
        return
    location, index = golden.test_location, golden.index
    extension = golden.extension
    golden.executions[golden.num_executions] = AssertionResult(
        snapshot_location=extension.get_location(test_location=location, index=index),
        snapshot_name=extension.get_snapshot_name(test_location=location, index=index),
        asserted_data=None,
        recalled_data=None,
        created=False,
        updated=False,
        success=False,
        exception=error if isinstance(error, Exception) else None,
        test_location=location,
    )


class _Replays:
    """The run's replay session (vcrpy patched once for consecutive golden tests)."""

    session: Any = None

    @classmethod
    def get(cls) -> Any:
        if cls.session is None:
            from foundry_goldens.replay.session import ReplaySession

            cls.session = ReplaySession()
        return cls.session

    @classmethod
    def close(cls) -> None:
        if cls.session is not None:
            cls.session.close()


def _is_golden(item: pytest.Item | None) -> bool:
    return item is not None and isinstance(item.parent, GoldenFile)


@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    # The patches stay on across a run of golden tests and come off before any other test.
    if _is_golden(item) and not _is_golden(nextitem):
        _Replays.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """A golden test's failure text is masked as the recordings are: it quotes the committed
    golden, which a pull request from anyone may have filled with secrets."""
    outcome: Any = yield
    report = outcome.get_result()
    golden = _is_golden(item) or isinstance(item, OrphanCheck)
    if golden and report.failed and report.longrepr is not None:
        from foundry_goldens.redaction.redactor import Redactor

        settings: dict[str, str] = item.config.stash.get(_SETTINGS, {})
        report.longrepr = Redactor.from_settings(settings).redact(str(report.longrepr))


def pytest_sessionfinish(session: pytest.Session) -> None:
    _Replays.close()


def check_golden(
    dialogue: Dialogue, golden: SnapshotAssertion, recheck_expectations: bool = False
) -> None:
    """Replay `dialogue` from its cassette and compare with its snapshot; a check that fails
    first still marks the snapshot used (`keep_snapshot`)."""
    from foundry_goldens.config import active
    from foundry_goldens.replay.replayer import explain_snapshot_mismatch, replay_golden

    try:
        result = replay_golden(
            dialogue, _Replays.get().replaying, recheck_expectations=recheck_expectations
        )
        actual = result.snapshot()
    except BaseException as error:
        keep_snapshot(golden, error)
        problem = _named_problem(dialogue, error)
        if problem is None:
            raise
    else:
        problem = None
    if problem is not None:  # outside the handler: no "during handling" chain in the report
        pytest.fail(problem, pytrace=False)
    if not golden == actual:
        raise AssertionError(
            explain_snapshot_mismatch(
                dialogue.name, active().snapshots / f"{dialogue.name}.json", actual, dialogue
            )
        )


def _named_problem(dialogue: Dialogue, error: BaseException) -> str | None:
    """The one-line failure of a file the user must fix, where a traceback would show only
    the harness: a snippet that does not load, a cassette refused."""
    from foundry_goldens.config import active
    from foundry_goldens.snippet.loader import SnippetError

    if isinstance(error, SnippetError):
        return str(error)
    if isinstance(error, cassette_format.CassetteFormatError):
        cassette = cassette_format.find_cassette(active().cassettes, dialogue.name)
        return f"{cassette}: {error}"
    return None
