"""latticeflow's agent scorers, without compiling a Jinja template for a setting that has none.

Every scorer setting (`FunctionCallCoverage.function_calls`, a `pattern`, ...) may be a Jinja
template over the sample, so latticeflow's `safe_render` builds a Jinja environment and
compiles the text on every call: a third of checking a turn's expectations, although the
settings this package passes are plain JSON or patterns. Jinja renders text without any tag
(`{{`, `{%`, `{#`), carriage return or trailing newline as exactly that text (its lexer
only normalizes newlines and drops one trailing newline), so for such text the original
is skipped; anything else still goes through it, with latticeflow's own errors.

`install()` wraps the name the agent scorers call; it is idempotent and does nothing when
latticeflow has moved it (then checks are only slower: tests/test_expectations.py notices).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from latticeflow.core.experimental.scorers import agent as _agent_scorers

_JINJA_TAGS = ("{{", "{%", "{#")


def renders_as_itself(source: object) -> bool:
    """True when Jinja would render `source` unchanged (no tag, no \\r, no trailing \\n)."""
    return (
        isinstance(source, str)
        and not any(tag in source for tag in _JINJA_TAGS)
        and "\r" not in source
        and not source.endswith("\n")
    )


def _skipping_plain_text(render: Callable[..., str]) -> Callable[..., str]:
    @functools.wraps(render)
    def safe_render(source: str, *args: Any, **kwargs: Any) -> str:
        if renders_as_itself(source):
            return source
        return render(source, *args, **kwargs)

    safe_render.__foundry_goldens_wrapped__ = render  # type: ignore[attr-defined]
    return safe_render


def install() -> bool:
    """Wrap the agent scorers' `safe_render`; True when it is (now or already) wrapped."""
    current = getattr(_agent_scorers, "safe_render", None)
    if current is None:
        return False
    if not hasattr(current, "__foundry_goldens_wrapped__"):
        _agent_scorers.safe_render = _skipping_plain_text(current)
    return True


def original_render() -> Callable[..., str]:
    """latticeflow's own `safe_render` (for the test that the shortcut renders the same)."""
    current = _agent_scorers.safe_render
    return getattr(current, "__foundry_goldens_wrapped__", current)
