"""The agent scorers' template shortcut renders exactly what latticeflow's safe_render does."""

from __future__ import annotations

import json
import random

import pytest
from latticeflow.core.experimental.scorers import agent as agent_scorers

from foundry_goldens.goldens import scorer_templates

SAMPLE = {"sample": {"tools": ["get_order"], "order": "ORD-1"}}


def _corpus() -> list[str]:
    rng = random.Random(7)
    alphabet = 'ab {}%#-\n\r\t"[]:,\\é東🚀'
    texts = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 24))) for _ in range(3000)]
    return [
        *texts,
        json.dumps(["get_order", {"name": "lookup", "arguments": {"id": "ORD-1"}}]),
        json.dumps([{"name": "x", "arguments": {"nested": {"deep": 1}}}]),
        "ORD-\\d+",
        "",
        "trailing newline\n",
        "two\n\n",
        "crlf\r\nline",
        "{ {not a tag} }",
        "{{ sample.order }}",
        "{% if true %}yes{% endif %}",
        "{# comment #}kept",
    ]


@pytest.mark.parametrize("chunk", range(4))
def test_the_shortcut_renders_what_jinja_renders(chunk: int) -> None:
    original = scorer_templates.original_render()
    wrapped = agent_scorers.safe_render
    differing = []
    for text in _corpus()[chunk::4]:
        try:
            expected: str | type[Exception] = original(text, SAMPLE)
        except Exception as error:  # a syntax error, worded by latticeflow
            expected = type(error)
        try:
            got: str | type[Exception] = wrapped(text, SAMPLE)
        except Exception as error:
            got = type(error)
        if got != expected:
            differing.append((text, expected, got))
    assert differing == []


def test_the_shortcut_is_installed_where_the_agent_scorers_look() -> None:
    import foundry_goldens.goldens.expectations  # noqa: F401  (installs it)

    assert scorer_templates.install() is True
    assert agent_scorers.safe_render is not scorer_templates.original_render()
    assert scorer_templates.install() is True  # idempotent: never wrapped twice
    assert getattr(agent_scorers.safe_render, "__foundry_goldens_wrapped__", None) is (
        scorer_templates.original_render()
    )


@pytest.mark.parametrize(
    ("text", "itself"),
    [
        ('["get_order"]', True),
        ("ORD-\\d+", True),
        ("{{ sample.order }}", False),
        ("{% raw %}x{% endraw %}", False),
        ("{#c#}", False),
        ("line\n", False),
        ("a\rb", False),
    ],
)
def test_renders_as_itself(text: str, itself: bool) -> None:
    assert scorer_templates.renders_as_itself(text) is itself
