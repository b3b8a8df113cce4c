"""Reading the golden files of one revision: a git commit (via git) or the working tree (on disk).

Only this module runs git. It hands back raw bytes per path; parsing is `goldens.py`'s job.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

from foundry_goldens.cassettes import format as cassette_format
from foundry_goldens.config import DEFAULTS
from foundry_goldens.review.errors import GoldenDiffError


@dataclass(frozen=True)
class GoldenLayout:
    """Where each kind of golden file lives, relative to the repository root as git names it."""

    dialogues: str
    snapshots: str
    cassettes: str

    @property
    def dirs(self) -> dict[str, tuple[str, ...]]:
        """{directory: file suffixes}. A cassette is JSON, or YAML when an older version of
        foundry-goldens wrote it (in an old base revision, say)."""
        return {
            self.dialogues: (".yaml",),
            self.snapshots: (".json",),
            self.cassettes: (cassette_format.SUFFIX, cassette_format.LEGACY_SUFFIX),
        }

    def paths_of(self, name: str, files: Collection[str] = ()) -> tuple[str, str, str]:
        """The dialogue's script, snapshot and cassette paths; the cassette's is the one in
        `files` (JSON first), else where a JSON one would be."""
        cassettes = [f"{self.cassettes}/{name}{suffix}" for suffix in self.dirs[self.cassettes]]
        return (
            f"{self.dialogues}/{name}.yaml",
            f"{self.snapshots}/{name}.json",
            next((path for path in cassettes if path in files), cassettes[0]),
        )


# [tool.foundry-goldens]'s default layout (foundry_goldens/config.py) at the repository root.
DEFAULT_LAYOUT = GoldenLayout(DEFAULTS["dialogues"], DEFAULTS["snapshots"], DEFAULTS["cassettes"])

# The remote whose default branch (its HEAD, as `git clone` records it) is the base when no
# --base is given; without one, these are tried in order. A repository whose default branch
# is `master` (or anything else) must not need --base just because `main` is missing.
DEFAULT_REMOTE = "origin"
FALLBACK_BRANCHES = ("main", "origin/main", "master", "origin/master")


@dataclass(frozen=True)
class Revision:
    """A side of the comparison. `commit is None` means the working tree (files on disk)."""

    ref: str | None  # as the user gave it (or the branch a merge base was taken with)
    commit: str | None
    label: str  # for messages: "origin/main", "the working tree", "the merge base of main and HEAD"

    @property
    def is_working_tree(self) -> bool:
        return self.commit is None


WORKING_TREE = Revision(ref=None, commit=None, label="the working tree")


class GitRepository:
    """A git repository on disk, found from any directory inside it."""

    def __init__(self, directory: Path, layout: GoldenLayout = DEFAULT_LAYOUT) -> None:
        self.layout = layout
        if not directory.is_dir():
            raise GoldenDiffError(f"{directory}: no such directory (pass --repo DIR)")
        completed = _run_git(directory, "rev-parse", "--show-toplevel")
        if completed.returncode != 0:
            raise GoldenDiffError(
                f"{directory} is not inside a git repository "
                f"({_stderr(completed)}); pass --repo DIR"
            )
        self.root = Path(completed.stdout.decode().strip())

    def git(self, *args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
        return _run_git(self.root, *args, stdin=stdin)

    def resolve(self, ref: str) -> Revision:
        """The commit `ref` names, or GoldenDiffError naming the ref."""
        if ref.startswith("-"):
            raise GoldenDiffError(f"bad git revision {ref!r}: a revision cannot start with '-'")
        completed = self.git(
            "rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}"
        )
        if completed.returncode != 0:
            raise GoldenDiffError(
                f"bad git revision {ref!r}: it names no commit in {self.root} "
                "(check the spelling; in CI, fetch with fetch-depth: 0)"
            )
        return Revision(ref=ref, commit=completed.stdout.decode().strip(), label=ref)

    def default_branch(self) -> str:
        """The branch the default base is taken with: the remote's default branch
        (`origin/HEAD`, e.g. `origin/master`) when git knows it, else the first of
        FALLBACK_BRANCHES that exists; GoldenDiffError naming --base otherwise."""
        symbolic = self.git(
            "symbolic-ref", "--quiet", "--short", f"refs/remotes/{DEFAULT_REMOTE}/HEAD"
        )
        candidates = [symbolic.stdout.decode().strip()] if symbolic.returncode == 0 else []
        for branch in (*candidates, *FALLBACK_BRANCHES):
            if (
                branch
                and not self.git(
                    "rev-parse", "--verify", "--quiet", f"{branch}^{{commit}}"
                ).returncode
            ):
                return branch
        raise GoldenDiffError(
            f"no default branch to compare with in {self.root}: {DEFAULT_REMOTE}/HEAD is not "
            f"set and there is no branch {', '.join(FALLBACK_BRANCHES[:-1])} or "
            f"{FALLBACK_BRANCHES[-1]}; pass --base REF (the branch your changes will merge "
            f"into), or set it with `git remote set-head {DEFAULT_REMOTE} --auto`"
        )

    def merge_base_with_default_branch(self, head: Revision) -> Revision:
        """The merge base of the default branch (default_branch()) with `head` (HEAD for the
        working tree)."""
        head_commit = head.commit or self.resolve("HEAD").commit
        if head_commit is None:
            raise GoldenDiffError("HEAD does not name a commit (a repository without commits?)")
        branch = self.default_branch()
        completed = self.git("merge-base", branch, head_commit)
        if completed.returncode != 0:
            raise GoldenDiffError(
                f"{branch} and {head.label} have no merge base ({_stderr(completed)}); "
                "pass --base REF"
            )
        return Revision(
            ref=branch,
            commit=completed.stdout.decode().strip(),
            label=f"the merge base of {branch} and {head.ref or 'HEAD'}",
        )

    # The older name, kept for its callers; the default branch need not be `main`.
    merge_base_with_main = merge_base_with_default_branch

    def read_goldens(self, revision: Revision) -> dict[str, bytes]:
        """Every golden file of `revision`, as {repo-relative posix path: content}."""
        if revision.is_working_tree:
            return self._read_working_tree()
        return self._read_commit(revision)

    def _read_working_tree(self) -> dict[str, bytes]:
        files: dict[str, bytes] = {}
        for directory, suffixes in self.layout.dirs.items():
            folder = self.root / directory
            if not folder.is_dir():
                continue
            for path in sorted(folder.iterdir()):
                if path.suffix in suffixes and path.is_file():
                    files[f"{directory}/{path.name}"] = path.read_bytes()
        return files

    def _read_commit(self, revision: Revision) -> dict[str, bytes]:
        if revision.commit is None:
            raise GoldenDiffError(f"{revision.label}: no commit to read goldens from")
        listing = self.git(
            "ls-tree", "-z", revision.commit, "--", *(f"{d}/" for d in self.layout.dirs)
        )
        if listing.returncode != 0:
            raise GoldenDiffError(
                f"cannot list the goldens at {revision.label}: {_stderr(listing)}"
            )
        blobs: dict[str, str] = {}  # path -> blob id
        for entry in listing.stdout.decode().split("\0"):
            if not entry:
                continue
            meta, path = entry.split("\t", 1)
            _mode, kind, blob_id = meta.split()
            directory, _, name = path.rpartition("/")
            if kind == "blob" and name.endswith(self.layout.dirs.get(directory, ("\0",))):
                blobs[path] = blob_id
        if not blobs:
            return {}
        # One `git cat-file --batch` for all blobs instead of one `git show` per file.
        completed = self.git(
            "cat-file", "--batch", stdin="".join(f"{b}\n" for b in blobs.values()).encode()
        )
        if completed.returncode != 0:
            raise GoldenDiffError(
                f"cannot read the goldens at {revision.label}: {_stderr(completed)}"
            )
        out = completed.stdout
        files: dict[str, bytes] = {}
        position = 0
        for path in blobs:
            header_end = out.index(b"\n", position)
            header = out[position:header_end].decode().split()
            if len(header) != 3:
                raise GoldenDiffError(f"cannot read {path} at {revision.label}: git says {header}")
            size = int(header[2])
            files[path] = out[header_end + 1 : header_end + 1 + size]
            position = header_end + 1 + size + 1
        return files


def _run_git(
    cwd: Path, *args: str, stdin: bytes | None = None
) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"}
    try:
        return subprocess.run(
            ["git", "-C", str(cwd), *args], input=stdin, capture_output=True, env=env, check=False
        )
    except FileNotFoundError as error:
        raise GoldenDiffError("git is not installed or not on PATH") from error


def _stderr(completed: subprocess.CompletedProcess[bytes]) -> str:
    """git's last stderr line, which says what went wrong."""
    lines = completed.stderr.decode(errors="replace").strip().splitlines()
    return lines[-1] if lines else f"git exited with {completed.returncode}"
