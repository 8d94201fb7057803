"""Every relative link in the repository's Markdown resolves: the file exists, and so does
the heading an anchor names.

The docs live in the repository and point at each other, at the chart, the examples and
the code; a renamed file or heading breaks a link silently, so the unit tier reads every
`*.md` of the checkout (its hidden and build folders aside) and follows each link whose
target is not a URL. Links inside code (fenced blocks, `inline code`) are not links.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote

import pytest
from testkit.paths import REPO_ROOT

# Folders that are not the project's documentation: tool output, caches, virtualenvs.
SKIPPED_DIRS = frozenset({"build", "dist", "node_modules", "__pycache__"})
FENCE = re.compile(r"^\s*(```|~~~)")
INLINE_CODE = re.compile(r"`+[^`]*`+")
# [text](target) and ![alt](target), target up to the first space or ")";
# a title ("...") after the target is allowed and ignored.
INLINE_LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE_DEFINITION = re.compile(r"^\s{0,3}\[[^\]]+\]:\s+<?(\S+?)>?(?:\s+.*)?$")
HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
HTML_ANCHOR = re.compile(r"""<a\s+(?:name|id)=["']([^"']+)["']""")
EXTERNAL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")  # http:, https:, mailto:, ...


def markdown_files(root: Path) -> list[Path]:
    """The checkout's Markdown files. Hidden folders (.venv, .tools, .cluster, .git, ...) are
    pruned before they are entered: .tools holds root filesystems, /proc mounts included."""
    found = []
    for folder, subfolders, files in os.walk(root):
        subfolders[:] = [
            name
            for name in subfolders
            if not name.startswith(".")
            and name not in SKIPPED_DIRS
            and not name.endswith(".egg-info")
        ]
        found.extend(Path(folder) / name for name in files if name.endswith(".md"))
    return sorted(found)


def prose_lines(text: str) -> Iterator[tuple[int, str]]:
    """Numbered lines outside fenced code blocks, with inline code removed."""
    fenced = False
    for number, line in enumerate(text.splitlines(), start=1):
        if FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            yield number, INLINE_CODE.sub("", line)


def github_slug(heading: str) -> str:
    """The anchor GitHub gives a heading: lowercase, punctuation dropped, spaces to '-'."""
    text = INLINE_CODE.sub(lambda code: code.group(0).strip("`"), heading)
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)  # a link's text only
    text = re.sub(r"<[^>]+>", "", text).strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(text: str) -> set[str]:
    """Every anchor a Markdown file offers: its headings' slugs (GitHub numbers repeats
    -1, -2, ...) and explicit <a name=...> / id=... anchors."""
    seen: dict[str, int] = {}
    found: set[str] = set()
    for _, line in prose_lines(text):
        found.update(HTML_ANCHOR.findall(line))
        heading = HEADING.match(line)
        if not heading:
            continue
        slug = github_slug(heading.group(2))
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        found.add(slug if count == 0 else f"{slug}-{count}")
    return found


def relative_links(text: str) -> Iterator[tuple[int, str]]:
    """(line, target) of every link that is not a URL."""
    for number, line in prose_lines(text):
        targets = INLINE_LINK.findall(line)
        definition = REFERENCE_DEFINITION.match(line)
        if definition:
            targets.append(definition.group(1))
        for target in targets:
            if not EXTERNAL.match(target):
                yield number, target


def broken_links(path: Path, root: Path) -> list[str]:
    """What is wrong with each relative link of `path`, as 'file:line: target: why'."""
    problems = []
    text = path.read_text(encoding="utf-8")
    where = path.relative_to(root)
    for number, target in relative_links(text):
        file_part, _, anchor = target.partition("#")
        destination = (path.parent / unquote(file_part)).resolve() if file_part else path
        if not destination.exists():
            problems.append(f"{where}:{number}: {target}: no such file")
            continue
        if root.resolve() not in (destination, *destination.parents):
            problems.append(f"{where}:{number}: {target}: outside the repository")
            continue
        if anchor and destination.suffix == ".md":
            offered = anchors(destination.read_text(encoding="utf-8"))
            if unquote(anchor).lower() not in offered:
                problems.append(f"{where}:{number}: {target}: no heading #{anchor}")
    return problems


def test_the_repository_has_its_docs() -> None:
    names = {path.relative_to(REPO_ROOT).as_posix() for path in markdown_files(REPO_ROOT)}
    assert {"README.md", "docs/api.md", "docs/development.md"} <= names


@pytest.mark.parametrize(
    "path",
    markdown_files(REPO_ROOT),
    ids=lambda path: path.relative_to(REPO_ROOT).as_posix(),
)
def test_every_relative_link_resolves(path: Path) -> None:
    assert broken_links(path, REPO_ROOT) == []


def test_the_checker_finds_what_is_broken(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "api.md").write_text(
        "# The API\n\n## What is refused where\n\n## spec.source\n\n## Status\n\n## Status\n"
    )
    (tmp_path / "README.md").write_text(
        "\n".join(
            [
                "[ok](docs/api.md) [ok](docs/api.md#what-is-refused-where)",
                "[ok](docs/api.md#specsource) [ok](docs/api.md#status-1) [ok](#a-readme)",
                "[ok](https://example.com/missing.md) `[code](missing.md)`",
                "```",
                "[in a fence](missing.md)",
                "```",
                "[gone](docs/missing.md) [no heading](docs/api.md#nowhere)",
                "[ref]: docs/also-missing.md",
                "# A README",
            ]
        )
    )
    assert broken_links(tmp_path / "README.md", tmp_path) == [
        "README.md:7: docs/missing.md: no such file",
        "README.md:7: docs/api.md#nowhere: no heading #nowhere",
        "README.md:8: docs/also-missing.md: no such file",
    ]
