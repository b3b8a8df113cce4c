"""YAML for the files strangers' pull requests bring (dialogues, cassettes older versions wrote
as YAML), read without ever expanding an alias.

A few hundred bytes of nested anchors and aliases expand to gigabytes once anything walks the
data, so `load_yaml` refuses them, and nesting past MAX_YAML_DEPTH, before anything is built.
"""

from __future__ import annotations

from typing import Any, cast

import yaml
from yaml.composer import Composer
from yaml.events import (
    AliasEvent,
    CollectionEndEvent,
    CollectionStartEvent,
    DocumentStartEvent,
    ScalarEvent,
)
from yaml.nodes import Node

# Deeper than any dialogue (or cassette body) nests; bounds the composer's recursion.
MAX_YAML_DEPTH = 100


class UnsafeYamlError(yaml.YAMLError):
    """YAML this project refuses to load: an anchor or alias (a few hundred bytes of nested
    aliases expand to gigabytes once anything walks the data), nesting past MAX_YAML_DEPTH, or a
    value its constructor cannot build (a 5000-digit integer, the 13th month)."""


def _refusal(event: Any, depth: int) -> UnsafeYamlError | None:
    """What is wrong with a node `event` opened `depth` levels deep (1: the document's root)."""
    line = event.start_mark.line + 1 if event.start_mark is not None else 0
    if isinstance(event, AliasEvent) or getattr(event, "anchor", None) is not None:
        return UnsafeYamlError(
            f"line {line}: YAML anchors and aliases (&name, *name) are not allowed; "
            "write the value out where it is used"
        )
    if depth > MAX_YAML_DEPTH:
        return UnsafeYamlError(f"line {line}: nested more than {MAX_YAML_DEPTH} levels deep")
    return None


class _StrictComposer(Composer):
    """Composes nodes from the parser's events, refusing anchors, aliases and deep nesting."""

    _depth = 0

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        refused = _refusal(cast(Any, self).peek_event(), self._depth + 1)
        if refused is not None:
            raise refused
        self._depth += 1
        try:
            return cast("Node | None", super().compose_node(parent, index))
        finally:
            self._depth -= 1


class _StrictPureLoader(_StrictComposer, yaml.SafeLoader):
    """PyYAML's pure-Python safe loader, refusing what _StrictComposer refuses."""


# libyaml composes in C, out of any Python hook's reach, so with it the same refusals come
# first from its event stream, scanned when the text could hold one (_may_be_refused); a third
# faster than composing in Python. Read at each call: the tests run both loaders.
USE_LIBYAML = yaml.__with_libyaml__


def _check_events(text: str | bytes) -> None:
    """Raise what _StrictComposer would for the first document's first refused node, scanning
    libyaml's events in document order; a later document is the loader's error to report."""
    from yaml._yaml import CParser

    parser = CParser(text)
    try:
        depth = 0
        documents = 0
        while (event := parser.get_event()) is not None:
            kind = type(event)
            if kind is ScalarEvent or kind is AliasEvent or isinstance(event, CollectionStartEvent):
                refused = _refusal(event, depth + 1)
                if refused is not None:
                    raise refused
                if kind is not ScalarEvent and kind is not AliasEvent:
                    depth += 1
            elif isinstance(event, CollectionEndEvent):
                depth -= 1
            elif kind is DocumentStartEvent:
                documents += 1
                if documents > 1:
                    return
    finally:
        parser.dispose()


def _may_be_refused(text: str | bytes) -> bool:
    """False only when no event of `text` can be refused, so libyaml's events need no scan
    (most dialogues): an anchor or alias needs a `&` or `*`, and every collection opens at a
    `[`, `{`, `-`, `?` or `:` of its own, so nesting is at most their count plus a scalar."""
    if not isinstance(text, str):  # bytes may be UTF-16: scan
        return True
    if "&" in text or "*" in text:
        return True
    return sum(map(text.count, "[{-?:")) + 1 > MAX_YAML_DEPTH


def load_yaml(text: str | bytes) -> Any:
    """One YAML document, as `yaml.safe_load` reads it but never expanding an alias: anchors,
    aliases and nesting deeper than MAX_YAML_DEPTH raise UnsafeYamlError (a yaml.YAMLError), as
    does a value the safe constructor cannot build. libyaml's loader where PyYAML has it."""
    if USE_LIBYAML:
        if _may_be_refused(text):
            _check_events(text)
        loader: Any = yaml.CSafeLoader(text)
    else:
        loader = _StrictPureLoader(text)
    try:
        return loader.get_single_data()
    except (ValueError, OverflowError, RecursionError) as error:
        raise UnsafeYamlError(f"a value cannot be loaded: {error}") from None
    finally:
        loader.dispose()
