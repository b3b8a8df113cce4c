"""Golden diff review: what changed in the agent's expected behaviour between two revisions.

    report = diff_goldens(Path("."), base="origin/main")   # head: the working tree
    print(render_markdown(report))

One job per module: `revisions` reads files at a git revision or the working tree, `goldens`
parses them, `traces` turns a snapshot turn into calls/reply/usage, `diffs` holds the deepdiff
and word diffs, `compare` builds the `report` types, `render_markdown`/`render_json` print it.
"""

from __future__ import annotations

from pathlib import Path

from foundry_goldens.review.compare import DEFAULT_USAGE_THRESHOLD_PERCENT, compare_goldens
from foundry_goldens.review.errors import GoldenDiffError
from foundry_goldens.review.goldens import load_goldens
from foundry_goldens.review.render_json import json_schema, render_json
from foundry_goldens.review.render_markdown import render_markdown
from foundry_goldens.review.report import GoldenDiffReport
from foundry_goldens.review.revisions import WORKING_TREE, GitRepository, GoldenLayout

__all__ = [
    "DEFAULT_USAGE_THRESHOLD_PERCENT",
    "GoldenDiffError",
    "GoldenDiffReport",
    "diff_goldens",
    "json_schema",
    "parse_threshold",
    "render_json",
    "render_markdown",
]


def diff_goldens(
    repo: Path,
    base: str | None = None,
    head: str | None = None,
    usage_threshold_percent: float = DEFAULT_USAGE_THRESHOLD_PERCENT,
    golden_dirs: tuple[Path, Path, Path] | None = None,
) -> GoldenDiffReport:
    """Compare the goldens of `base` (default: the merge base with the
    repository's default branch, review/revisions.py) and `head` (default:
    the working tree). Raises GoldenDiffError naming the ref and path when that cannot be done.

    `golden_dirs`: the configured dialogue, snapshot and cassette directories (default: the
    default layout at the repository's root)."""
    repository = GitRepository(repo)
    if golden_dirs is not None:
        repository.layout = layout_in(repository.root, golden_dirs)
    head_revision = repository.resolve(head) if head is not None else WORKING_TREE
    base_revision = (
        repository.resolve(base)
        if base is not None
        else repository.merge_base_with_main(head_revision)
    )
    layout = repository.layout
    base_goldens = load_goldens(repository.read_goldens(base_revision), base_revision, layout)
    head_goldens = load_goldens(repository.read_goldens(head_revision), head_revision, layout)
    return compare_goldens(
        base_goldens, head_goldens, base_revision, head_revision, usage_threshold_percent
    )


def layout_in(root: Path, golden_dirs: tuple[Path, Path, Path]) -> GoldenLayout:
    """The configured directories as git names them, relative to the repository's root."""
    relative = []
    for directory in golden_dirs:
        try:
            relative.append(directory.resolve().relative_to(root.resolve()).as_posix())
        except ValueError:
            raise GoldenDiffError(
                f"{directory} is outside the git repository at {root}; the golden diff reads "
                "the goldens from git (pass --repo DIR, or fix [tool.foundry-goldens])"
            ) from None
    return GoldenLayout(*relative)


def parse_threshold(text: str) -> float:
    """'10%', '10' or '2.5%' -> percent as a float; ValueError for anything else."""
    value = float(text.strip().removesuffix("%"))
    if not value >= 0:  # also rejects NaN
        raise ValueError(f"usage threshold must be a percentage >= 0, got {text!r}")
    return value
