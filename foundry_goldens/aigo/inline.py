"""One standalone Python file from package modules: how the AI GO! solver and scorer are made.

AI GO! runs a task's `python` solver and scorer as single files, with latticeflow-core,
pydantic and the standard library but without foundry-goldens. The exported scorer must still
check expectations exactly as the package does, so it is generated from the package's own
modules, never kept by hand: the entry module's source becomes the file's top level (AI GO!
finds `compute_scores` / `run_solver` there), and every package module it imports is embedded
as its source text, executed once under a private package name (a hash of the sources, so two
exports in one process never share modules). A module that imports what AI GO! lacks (PyYAML
in goldens/dialogues.py) is cut down to the definitions the others import from it, with what
those need.
"""

from __future__ import annotations

import ast
import hashlib
import importlib.util
import re
import sys
from dataclasses import dataclass
from pathlib import Path

PACKAGE = "foundry_goldens"
# What a snippet may import in AI GO! besides the standard library (latticeflow-core's own
# dependencies are pydantic and orjson).
AVAILABLE = frozenset({"__future__", "latticeflow", "pydantic", "orjson"})
# AI GO! reads `<< config.x >>` in task settings as a template; a snippet must not hold one.
TEMPLATE_MARK = "<<"


class InlineError(ValueError):
    """A module cannot be made standalone; the message names it and why."""


@dataclass(frozen=True)
class _Module:
    name: str  # foundry_goldens.goldens.expectations
    source: str
    tree: ast.Module

    @property
    def relative(self) -> str:
        return self.name.removeprefix(PACKAGE + ".")


def _load(name: str) -> _Module:
    spec = importlib.util.find_spec(name)
    if spec is None or spec.origin is None:
        raise InlineError(f"{name}: not found")
    source = Path(spec.origin).read_text(encoding="utf-8")
    return _Module(name, source, ast.parse(source, filename=spec.origin))


def _package_imports(nodes: list[ast.stmt]) -> dict[str, set[str]]:
    """Package module -> the names imported from it (a module imported whole: under '*')."""
    found: dict[str, set[str]] = {}
    for node in nodes:
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == PACKAGE or node.module.startswith(PACKAGE + "."):
                for alias in node.names:
                    submodule = f"{node.module}.{alias.name}"
                    if _is_module(submodule):
                        found.setdefault(submodule, set()).add("*")
                    else:
                        found.setdefault(node.module, set()).add(alias.name)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == PACKAGE:
                    raise InlineError(f"`import {alias.name}`: import names from it instead")
    return found


def _is_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def _foreign(node: ast.stmt) -> list[str]:
    """Top-level modules `node` imports that AI GO! does not have."""
    if isinstance(node, ast.Import):
        roots = [alias.name.split(".")[0] for alias in node.names]
    elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
        roots = [node.module.split(".")[0]]
    else:
        return []
    return [
        root
        for root in roots
        if root != PACKAGE and root not in AVAILABLE and root not in sys.stdlib_module_names
    ]


def _defined(node: ast.stmt) -> set[str]:
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return {node.name}
    if isinstance(node, ast.Import | ast.ImportFrom):
        return {(alias.asname or alias.name).split(".")[0] for alias in node.names}
    targets: list[ast.expr] = []
    if isinstance(node, ast.Assign):
        targets = node.targets
    elif isinstance(node, ast.AnnAssign | ast.AugAssign):
        targets = [node.target]
    return {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}


def _used(node: ast.stmt) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}


def _segment(module: _Module, node: ast.stmt) -> str:
    first = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))])
    lines = module.source.splitlines(keepends=True)
    return "".join(lines[first - 1 : node.end_lineno])


def _kept(module: _Module, wanted: set[str]) -> set[int]:
    """Indices of the top-level statements defining `wanted` and what they use."""
    body = module.tree.body
    keep: set[int] = set()
    pending = set(wanted)
    seen: set[str] = set()
    while pending:
        name = pending.pop()
        seen.add(name)
        for index, node in enumerate(body):
            if name in _defined(node) and index not in keep:
                keep.add(index)
                pending |= _used(node) - seen
    missing = wanted - {n for i in keep for n in _defined(body[i])}
    if missing:
        raise InlineError(f"{module.name}: defines no {', '.join(sorted(missing))}")
    return keep


def _sliced(module: _Module, wanted: set[str]) -> str:
    """The module's docstring, __future__ imports and the statements defining `wanted` and
    what they use, in source order; any other import of a foreign module is an error."""
    keep = _kept(module, wanted)
    parts = []
    for index, node in enumerate(module.tree.body):
        is_docstring = index == 0 and isinstance(node, ast.Expr)
        is_future = isinstance(node, ast.ImportFrom) and node.module == "__future__"
        if index in keep or is_docstring or is_future:
            foreign = _foreign(node)
            if foreign:
                raise InlineError(
                    f"{module.name}: {', '.join(wanted)} need {', '.join(foreign)}, which "
                    "AI GO! does not have"
                )
            parts.append(_segment(module, node))
    return "\n".join(parts)


def _renamed(source: str, prefix: str, where: str) -> str:
    """`from foundry_goldens.x import y` -> `from <prefix>.x import y`, verified."""
    renamed = re.sub(rf"(?m)^(\s*from\s+){PACKAGE}\b", rf"\g<1>{prefix}", source)
    for node in ast.walk(ast.parse(renamed)):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == PACKAGE:
            raise InlineError(f"{where}: an import of {node.module} was left (line {node.lineno})")
    return renamed


def _without_future(source: str) -> str:
    tree = ast.parse(source)
    lines = source.splitlines(keepends=True)
    for node in reversed(tree.body):
        if isinstance(node, ast.ImportFrom) and node.module == "__future__":
            del lines[node.lineno - 1 : node.end_lineno]
    return "".join(lines)


def _literal(text: str) -> str:
    """`text` as implicitly concatenated string literals, one a line (readable, exact)."""
    lines = text.splitlines(keepends=True) or [""]
    return "(\n" + "".join(f"        {line!r}\n" for line in lines) + "    )"


_BOOTSTRAP = '''
import sys as _sys
import types as _types


def _foundry_goldens_modules() -> None:
    """Run each embedded module once per process, under the private package name."""
    for name, source in _EMBEDDED:
        full = f"{_PACKAGE}.{name}" if name else _PACKAGE
        if full in _sys.modules:
            continue
        parent, _, leaf = full.rpartition(".")
        for package in [p for p in (_PACKAGE, *_packages(name)) if p not in _sys.modules]:
            holder = _types.ModuleType(package)
            holder.__path__ = []
            _sys.modules[package] = holder
        module = _types.ModuleType(full)
        module.__file__ = f"<foundry_goldens/{name.replace('.', '/')}.py>"
        _sys.modules[full] = module
        try:
            exec(compile(source, module.__file__, "exec"), module.__dict__)
        except BaseException:
            del _sys.modules[full]
            raise
        if parent:
            setattr(_sys.modules[parent], leaf, module)


def _packages(name: str) -> list[str]:
    parts = name.split(".")[:-1]
    return [".".join([_PACKAGE, *parts[: i + 1]]) for i in range(len(parts))]


_foundry_goldens_modules()
'''


def standalone(entry: str, *, title: str) -> str:
    """The source of one file that runs `entry` (a package module) without the package."""
    modules: dict[str, _Module] = {}
    wanted: dict[str, set[str]] = {entry: {"*"}}

    def needs(name: str) -> dict[str, set[str]]:
        # A module cut down to what its importers want needs only what that slice imports
        # (goldens/dialogues.py's expectation models do not need its YAML loader's module).
        if name not in modules:
            modules[name] = _load(name)
        module = modules[name]
        body = module.tree.body
        if "*" not in wanted[name] and any(_foreign(node) for node in body):
            body = [body[i] for i in sorted(_kept(module, wanted[name]))]
        return _package_imports(body)

    # The names wanted from each module grow as importers are found: to a fixed point.
    changed = True
    while changed:
        changed = False
        for name in list(wanted):
            for dependency, imported in needs(name).items():
                if not imported <= wanted.setdefault(dependency, set()):
                    wanted[dependency] |= imported
                    changed = True
    order: list[str] = []  # dependencies first, as they are executed

    def visit(name: str) -> None:
        if name in order:
            return
        for dependency in needs(name):
            visit(dependency)
        order.append(name)

    visit(entry)
    sources: dict[str, str] = {}
    for name in order:
        module = modules[name]
        foreign = sorted({f for node in module.tree.body for f in _foreign(node)})
        if foreign and "*" in wanted[name]:
            raise InlineError(
                f"{name} imports {', '.join(foreign)}, which AI GO! does not have, and is "
                "needed whole"
            )
        sources[name] = _sliced(module, wanted[name]) if foreign else module.source
    digest = hashlib.sha256("\0".join(f"{n}\0{sources[n]}" for n in order).encode()).hexdigest()
    prefix = f"_foundry_goldens_aigo_{digest[:12]}"
    embedded = [(modules[n].relative, _renamed(sources[n], prefix, n)) for n in order if n != entry]
    entry_source = _without_future(_renamed(sources[entry], prefix, entry))
    listed = ", ".join(f"{PACKAGE}/{m.relative.replace('.', '/')}.py" for m in modules.values())
    embedding = (
        "The package modules it uses are embedded below and run under a private name: "
        if embedded
        else ""
    )
    header = (
        f'"""{title}\n\nGenerated by `foundry-goldens export aigo` from {listed}; do not edit '
        f"(export again).\n{embedding}AI GO! runs this file without foundry-goldens "
        'installed."""\n\nfrom __future__ import annotations\n'
    )
    parts = [header]
    if embedded:
        entries = "".join(f"    ({name!r}, {_literal(text)}),\n" for name, text in embedded)
        parts.append(f"\n_PACKAGE = {prefix!r}\n_EMBEDDED = [\n{entries}]\n{_BOOTSTRAP}\n")
    parts.append(f"\n# --- {PACKAGE}/{modules[entry].relative.replace('.', '/')}.py ---\n")
    parts.append(entry_source)
    text = "".join(parts)
    if TEMPLATE_MARK in text:
        raise InlineError(f"{entry}: the generated file holds {TEMPLATE_MARK!r}, a template")
    compile(text, f"<{entry}>", "exec")  # a generation bug fails here, not in AI GO!
    return text
