"""Check built distributions before they are published (.github/workflows/release.yml).

    python scripts/check_release.py --tag v0.1.0 --repository https://github.com/acme/goldens dist

Refuses (exit 1, naming each problem) unless `dist` holds exactly one wheel and one sdist of
foundry-goldens, both of the version the tag names (`v<version>`), both declaring
`Requires-Python: >=3.11` (so an older Python gets pip's clear refusal rather than a broken
install), both naming `repository` as their `Repository` project URL (a placeholder such as
`OWNER` would send every scaffolded project's install nowhere), and the wheel carrying the
dialogue schema and init's templates. Standard library only: it runs before anything is
installed.
"""

from __future__ import annotations

import argparse
import sys
import tarfile
import zipfile
from email.message import Message
from email.parser import HeaderParser
from pathlib import Path

REQUIRES_PYTHON = ">=3.11"
PLACEHOLDER = "/owner/"  # pyproject.toml's until the repository has a home
# Files a wheel without its package data would lack, yet import fine without.
WHEEL_FILES = (
    "foundry_goldens/goldens/dialogue.schema.json",
    "foundry_goldens/scaffold/templates/goldens/dialogues/greeting.yaml",
    "foundry_goldens/scaffold/templates/integration/.env.example",
)


def wheel_metadata(wheel: Path) -> tuple[Message, list[str]]:
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        (path,) = [n for n in names if n.endswith(".dist-info/METADATA") and n.count("/") == 1]
        text = archive.read(path).decode("utf-8")
    return HeaderParser().parsestr(text), names


def sdist_metadata(sdist: Path) -> Message:
    with tarfile.open(sdist) as archive:
        (member,) = [m for m in archive.getmembers() if m.name.count("/") == 1 and
                     m.name.endswith("/PKG-INFO")]  # fmt: skip
        data = archive.extractfile(member)
        assert data is not None
        text = data.read().decode("utf-8")
    return HeaderParser().parsestr(text)


def _url(url: str) -> str:
    return url.strip().rstrip("/").removesuffix(".git").lower()


def problems(dist: Path, tag: str, repository: str) -> list[str]:
    found: list[str] = []
    wheels = sorted(dist.glob("foundry_goldens-*.whl"))
    sdists = sorted(dist.glob("foundry_goldens-*.tar.gz"))
    if len(wheels) != 1 or len(sdists) != 1:
        return [f"{dist}: expected one wheel and one sdist, found {len(wheels)} and {len(sdists)}"]
    if not tag.startswith("v"):
        found.append(f"tag {tag!r}: a release tag is v<version>, e.g. v0.1.0")
    version = tag.removeprefix("v")
    wheel, names = wheel_metadata(wheels[0])
    sdist = sdist_metadata(sdists[0])
    for what, meta in ((wheels[0].name, wheel), (sdists[0].name, sdist)):
        if meta["Version"] != version:
            found.append(
                f"{what}: version {meta['Version']}, but the tag is {tag}: set __version__ in "
                "foundry_goldens/__init__.py to the tag's version (or tag that version)"
            )
        if meta["Requires-Python"] != REQUIRES_PYTHON:
            found.append(
                f"{what}: Requires-Python is {meta['Requires-Python']!r}, not {REQUIRES_PYTHON!r}"
            )
        urls = dict(
            (label.strip().lower(), url.strip())
            for label, _, url in (entry.partition(",") for entry in meta.get_all("Project-URL", []))
        )
        url = _url(urls.get("repository", ""))
        if url != _url(repository) or PLACEHOLDER in url + "/":
            found.append(
                f"{what}: Repository URL is {urls.get('repository')!r}"
                f"{' (the placeholder)' if PLACEHOLDER in url + '/' else ''}, but the tag was "
                f"pushed to {repository}: set [project.urls] Repository in pyproject.toml to it "
                "(init pins scaffolded projects' install to that URL)"
            )
    for name in WHEEL_FILES:
        if name not in names:
            found.append(f"{wheels[0].name}: {name} is missing (package data)")
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tag", required=True, help="the pushed tag, v<version>")
    parser.add_argument("--repository", required=True, help="https://github.com/<owner>/<repo>")
    parser.add_argument("dist", type=Path, help="the directory python -m build wrote")
    args = parser.parse_args(argv)
    found = problems(args.dist, args.tag, args.repository)
    for problem in found:
        print(f"error: {problem}", file=sys.stderr)
    if not found:
        print(f"ok: {args.tag} is what {args.dist} holds")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
