"""The pytest plugin (entry point `pytest11`): one offline replay test per golden dialogue.

Active when the project's pyproject.toml has a [tool.foundry-goldens] table (or a --goldens-*
option is given); the golden machinery (foundry_goldens/pytest_goldens.py: syrupy, vcrpy, the
integration's stack) is imported only then. Every other pytest run pays for this module and
plugin_settings alone, which import pytest and the standard library (tests/test_plugin_light.py
holds it to that).

`FOUNDRY_GOLDENS_MODE` says how the golden tests run: `replay` (default: offline, from the
cassettes), `live` (each dialogue against the live agent, judged as `record --check` judges it,
nothing written) or `emulator` (the same against the local emulator).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from foundry_goldens.plugin_settings import (  # re-exported: a team's conftest may use them
    MODE_VARIABLE,
    MODES,
    PATH_OPTIONS,
    NetworkBlocked,
    block_network,
    golden_mode,
)

__all__ = [
    "MODES",
    "MODE_VARIABLE",
    "NetworkBlocked",
    "block_network",
    "golden_mode",
    "pytest_addoption",
    "pytest_configure",
    "wants_goldens",
]

GROUP = "foundry-goldens"
# In any spelling of the [tool.foundry-goldens] table (config.TABLE), quoted or not.
TABLE_TEXT = b"foundry-goldens"


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


def wants_goldens(config: pytest.Config) -> bool:
    """A --goldens-* option, or a [tool.foundry-goldens] table from the rootdir upward."""
    option = config.option
    if option.goldens_root or option.goldens_config or option.goldens_agent:
        return True
    if any(getattr(option, dest) for dest in PATH_OPTIONS):
        return True
    start = Path(config.rootpath)
    if not _mentions_goldens(start):
        return False
    from foundry_goldens.config import ConfigError, find_pyproject

    try:
        return find_pyproject(start) is not None
    except ConfigError as exc:
        raise pytest.UsageError(str(exc)) from None


def _mentions_goldens(start: Path) -> bool:
    """Whether a pyproject.toml from `start` upward names foundry-goldens at all: a few reads,
    where parsing (config.find_pyproject, tomllib) is left to the projects that might have
    the table."""
    for directory in (start, *start.parents):
        try:
            if TABLE_TEXT in (directory / "pyproject.toml").read_bytes():
                return True
        except OSError:
            continue
    return False


def pytest_configure(config: pytest.Config) -> None:
    if config.option.no_goldens or not wants_goldens(config):
        return  # another project: the plugin stays out of its way, and costs nothing
    from foundry_goldens import pytest_goldens

    pytest_goldens.start(config, golden_mode())
