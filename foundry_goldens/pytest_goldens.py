"""The golden tests of the pytest plugin, imported by foundry_goldens/plugin.py only for a
project with [tool.foundry-goldens] (or a --goldens-* option).

The configured dialogue directory is collected, each `<name>.yaml` becoming
`<dialogues>/<name>.yaml::test_golden[<name>]`, replayed with the network blocked and no Azure
settings; plus one check that every snapshot and cassette still has its dialogue. The snapshots
are syrupy's: `--snapshot-update` rewrites them (and deletes orphaned ones) through the
project's snapshot extension.

Each dialogue file is a pytest Module (with no Python behind it): module-scoped fixtures of
other plugins (pytest-recording's) need one above every test, and it holds the fixtures by
which golden tests step out of pytest-recording's cassette and network block: replay blocks the
network itself, and a live check must reach the agent.

A golden test that fails before its snapshot is compared (a dialogue file that does not load,
a broken `expect:`, a changed user text, a snippet that does not compile, a cassette refused)
still marks its snapshot used: syrupy would otherwise call the snapshot of a dialogue that
exists "unused" and suggest `--snapshot-update`, which would delete it.

A failure the harness explains (ReplayError, GoldenFailure) is reported as its message alone;
`--tb=long` or `--full-trace` show the traceback and chained exceptions too.
"""

from __future__ import annotations

import os
import sys
import tempfile
import types
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from syrupy.assertion import AssertionResult, SnapshotAssertion

from foundry_goldens.cassettes import format as cassette_format
from foundry_goldens.commands import command
from foundry_goldens.config import Config, ConfigError, activate, find_pyproject, load_config
from foundry_goldens.goldens.dialogues import Dialogue, DialogueError, load_dialogue
from foundry_goldens.goldens.snapshots import GoldenSnapshotExtension
from foundry_goldens.plugin_settings import MACHINERY, MODE_VARIABLE, PATH_OPTIONS, block_network

_STASH: pytest.StashKey[Config] = pytest.StashKey()
_SETTINGS: pytest.StashKey[dict[str, str]] = pytest.StashKey()
_LIVE: pytest.StashKey[LiveCheck] = pytest.StashKey()


class GoldenFailure(AssertionError):
    """A golden test's failure whose message says it all (the snapshot changed, a file the
    user must fix, a live check's behaviour change): reported without a traceback."""


def start(config: pytest.Config, mode: str) -> None:
    """Load the configuration, then register this module's hooks and fixtures for the run."""
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
    if mode != "replay":
        config.stash[_LIVE] = LiveCheck.configured(config, mode, config.stash[_SETTINGS])
    # A plain `pytest` (testpaths or the current directory) also collects the dialogues.
    if config.args_source != pytest.Config.ArgsSource.ARGS:
        base = Path(config.invocation_params.dir)
        paths = [(base / arg).resolve() for arg in config.args]
        dialogues = goldens.dialogues.resolve()
        if not any(dialogues.is_relative_to(path) for path in paths):
            config.args.append(str(dialogues))
    config.pluginmanager.register(sys.modules[__name__], MACHINERY)


def _load(config: pytest.Config) -> Config | None:
    option = config.option
    overrides: dict[str, Any] = {key: getattr(option, dest) for dest, key in PATH_OPTIONS.items()}
    overrides["agent"] = option.goldens_agent
    given = option.goldens_root or option.goldens_config or any(overrides.values())
    root = Path(option.goldens_root) if option.goldens_root else None
    if not given:
        found = find_pyproject(config.rootpath)
        if found is None:
            return None
        root = found.parent
    return load_config(
        root=root,
        config_file=Path(option.goldens_config) if option.goldens_config else None,
        overrides=overrides,
        cwd=Path(config.invocation_params.dir),
    )


def pytest_report_header(config: pytest.Config) -> str | None:
    goldens = config.stash.get(_STASH, None)
    if goldens is None:
        return None
    live = config.stash.get(_LIVE, None)
    how = (
        "replayed offline from their cassettes"
        if live is None
        else f"{MODE_VARIABLE}={live.mode}: driven against the {live.target.description}, "
        "judged as record --check judges, nothing written"
    )
    return f"foundry-goldens: {goldens.dialogues} {how}"


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


class GoldenFile(pytest.Module):
    """One dialogue. A Module for pytest's fixture scopes; no Python is imported from it."""

    def _getobj(self) -> types.ModuleType:
        namespace = types.ModuleType(f"foundry_goldens.golden.{self.path.stem}")
        namespace.__file__ = str(self.path)
        # What pytest finds in a test module, it registers for the tests under it: these
        # override fixtures of the same name from plugins and conftest files, here alone.
        # (Not at this module's top level: it is a plugin, its fixtures would apply to all.)

        @pytest.fixture(name="block_network")
        def golden_network() -> Iterator[None]:
            """Over pytest-recording's autouse `block_network` (--block-network): replay
            blocks the network itself, a live check must reach the agent."""
            yield

        @pytest.fixture(name="vcr")
        def golden_vcr() -> None:
            """Over pytest-recording's autouse `vcr`: a golden test replays its own cassette."""
            return None

        namespace.block_network = golden_network  # type: ignore[attr-defined]
        namespace.vcr = golden_vcr  # type: ignore[attr-defined]
        return namespace

    def collect(self) -> Iterable[pytest.Item]:
        # Registers the fixtures above; any item it would make from them is not ours: dropped.
        list(super().collect())
        try:
            dialogue = load_dialogue(self.path)
        except DialogueError as exc:
            # A failed test of its own (named after the file, as its snapshot is), not a
            # collection error: its snapshot stays used, so --snapshot-update keeps it.
            yield GoldenItem.from_parent(
                self, name=f"test_golden[{self.path.stem}]", callobj=_unloadable_test(str(exc))
            )
            return
        live = self.config.stash.get(_LIVE, None)
        test = _golden_test(dialogue) if live is None else _live_test(dialogue, live)
        yield GoldenItem.from_parent(self, name=f"test_golden[{dialogue.name}]", callobj=test)


def _full_detail(config: pytest.Config) -> bool:
    return bool(config.getoption("fulltrace", False)) or config.getoption("tbstyle") == "long"


class GoldenItem(pytest.Function):
    """`test_golden[<name>]`: its failure is the harness's explanation, not its frames."""

    def reportinfo(self) -> tuple[Path, int | None, str]:
        # The failure's header line: `test_golden[greeting]`, as pytest names a test function.
        return self.path, None, self.name

    def repr_failure(  # type: ignore[override]
        self, excinfo: pytest.ExceptionInfo[BaseException]
    ) -> str | Any:
        from foundry_goldens.replay.replayer import ReplayError

        if _full_detail(self.config) or not excinfo.errisinstance((ReplayError, GoldenFailure)):
            return super().repr_failure(excinfo)
        text = str(excinfo.value)
        cause = _root_cause(excinfo.value)
        if cause is not excinfo.value:
            text += f"\n({_raised_where(cause)}; --tb=long shows the traceback)"
        return text


def _root_cause(error: BaseException) -> BaseException:
    seen = {id(error)}
    while error.__cause__ is not None and id(error.__cause__) not in seen:
        error = error.__cause__
        seen.add(id(error))
    return error


def _raised_where(error: BaseException) -> str:
    """`ValueError raised at run_inference.py:312`: where the snippet (or whatever) raised."""
    frame = error.__traceback__
    if frame is None:
        return f"{type(error).__name__} raised"
    while frame.tb_next is not None:
        frame = frame.tb_next
    where = Path(frame.tb_frame.f_code.co_filename).name
    return f"{type(error).__name__} raised at {where}:{frame.tb_lineno}"


class OrphanCheck(pytest.Item):
    def runtest(self) -> None:
        goldens = self.config.stash[_STASH]
        left = orphans(goldens.dialogues, goldens.snapshots, goldens.cassettes)
        if not left:
            return
        message = (
            f"golden files without a dialogue in {goldens.dialogues}: "
            + ", ".join(str(path) for path in left)
            + f"; delete them ({command('pytest')} --snapshot-update deletes the snapshots) "
            "or restore the dialogue"
        )
        if self.config.option.warn_unused_snapshots:
            # syrupy's --snapshot-warn-unused: report unused snapshots, do not fail on them.
            # (A warning of the run, at the dialogue directory: this item has no line.)
            warnings.warn_explicit(pytest.PytestWarning(message), None, str(goldens.dialogues), 0)
            return
        raise GoldenFailure(message)

    def repr_failure(  # type: ignore[override]
        self, excinfo: pytest.ExceptionInfo[BaseException]
    ) -> str | Any:
        if isinstance(excinfo.value, GoldenFailure) and not _full_detail(self.config):
            return str(excinfo.value)
        return super().repr_failure(excinfo)

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
        raise GoldenFailure(problem)

    return test_golden


def keep_snapshot(
    golden: SnapshotAssertion, error: BaseException | None = None, success: bool = False
) -> None:
    """Record `golden`'s snapshot as used by this test without comparing or writing it (a
    failed assertion in syrupy's report, unless `success`), unless the test already asserted it.

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
        success=success,
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
    return isinstance(item, GoldenItem)


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
    from foundry_goldens.replay.replayer import explain_snapshot_mismatch, replay_dialogue

    try:
        result = replay_dialogue(
            dialogue,
            cassette_session=_Replays.get().replaying,
            recheck_expectations=recheck_expectations,
            config=active(),
        )
        actual = result.snapshot()
    except BaseException as error:
        keep_snapshot(golden, error)
        problem = _named_problem(dialogue, error)
        if problem is None:
            raise
        raise GoldenFailure(problem) from None
    if not golden == actual:
        raise GoldenFailure(
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


# The live check (FOUNDRY_GOLDENS_MODE=live or emulator): `record --check` for one dialogue.


@dataclass
class LiveCheck:
    mode: str
    target: Any  # a foundry_goldens.recording.targets.Target
    usage_threshold_percent: float
    # Dialogues whose wording or usage moved: information, listed after the run.
    information: list[str] = field(default_factory=list)

    @classmethod
    def configured(cls, config: pytest.Config, mode: str, settings: dict[str, str]) -> LiveCheck:
        from foundry_goldens.recording.targets import ConfigurationError, choose_target
        from foundry_goldens.review.classify import DEFAULT_USAGE_THRESHOLD_PERCENT

        if config.option.update_snapshots:
            raise pytest.UsageError(
                f"{MODE_VARIABLE}={mode} checks the agent and writes nothing: "
                "--snapshot-update does not apply (re-record with foundry-goldens record)"
            )
        try:
            target = choose_target(settings, emulator=mode == "emulator")
        except ConfigurationError as exc:
            raise pytest.UsageError(
                f"{MODE_VARIABLE}={mode}: {exc}\n  (in pytest, {MODE_VARIABLE}=emulator is "
                "the emulator)"
            ) from None
        return cls(mode, target, DEFAULT_USAGE_THRESHOLD_PERCENT)

    def check(self, dialogue: Dialogue) -> Any:
        """Record `dialogue` into a scratch directory and classify it against the committed
        snapshot, as `foundry-goldens record --check` does; its outcome."""
        from foundry_goldens.config import active
        from foundry_goldens.recording.progress import SilentProgress
        from foundry_goldens.recording.recorder import RecordOptions, record_dialogues

        with tempfile.TemporaryDirectory(prefix="foundry-goldens-live-") as scratch:
            options = RecordOptions(
                cassette_dir=Path(scratch),  # the recording's staging: never the project
                snapshot_dir=active().snapshots,
                concurrency=1,
                check=True,
                usage_threshold_percent=self.usage_threshold_percent,
            )
            [outcome] = record_dialogues([dialogue], self.target, options, SilentProgress())
        return outcome


def _live_test(dialogue: Dialogue, live: LiveCheck) -> Callable[..., None]:
    def test_golden(golden: SnapshotAssertion) -> None:
        from foundry_goldens.recording.check_report import render_text

        try:
            outcome = live.check(dialogue)
        except BaseException:
            keep_snapshot(golden)
            raise
        # The snapshot is judged, not asserted: used either way, never unused or rewritten.
        keep_snapshot(golden, success=outcome.ok)
        if outcome.status in ("failed", "cancelled", "new"):
            raise GoldenFailure(
                f"{dialogue.name}: {outcome.detail} "
                f"(live check against the {live.target.description})"
            )
        report = "\n".join(render_text([outcome]))
        if outcome.status == "changed":
            raise GoldenFailure(
                f"{dialogue.name}: the agent's behaviour changed against "
                f"{golden.extension.get_location(test_location=golden.test_location, index=0)} "
                f"(live check against the {live.target.description})\n{report}\n"
                f"If it is intended, re-record: {command()} record"
                + (" --emulator" if live.mode == "emulator" else "")
                + f" --only {dialogue.name}"
            )
        if report:
            live.information.append(report)

    return test_golden


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    live = config.stash.get(_LIVE, None)
    if live is None or not live.information:
        return
    from foundry_goldens.redaction.redactor import Redactor

    settings: dict[str, str] = config.stash.get(_SETTINGS, {})
    redact = Redactor.from_settings(settings)
    terminalreporter.section("foundry-goldens live check: wording and usage (information)")
    for report in live.information:
        terminalreporter.write_line(redact.redact(report))
