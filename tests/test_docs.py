"""README is a landing page and docs/ holds the rest: every relative link in them resolves
(files and #anchors), every docs page is reachable from README and docs/index.md, and README
stays short enough to be read to the end."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.config import REPO_ROOT

DOCS = REPO_ROOT / "docs"
README = REPO_ROOT / "README.md"
README_MAX_LINES = 250

FENCE = re.compile(r"^(```|~~~).*?^\1", re.M | re.S)
INLINE_CODE = re.compile(r"`[^`\n]*`")
LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.M)


def pages() -> list[Path]:
    return [README, *sorted(DOCS.glob("*.md"))]


def prose(text: str) -> str:
    """The text outside code: a link shown in a code block is an example, not a link."""
    return INLINE_CODE.sub("", FENCE.sub("", text))


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading).lower()  # a link keeps its text
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    found, seen = set(), {}
    for heading in HEADING.findall(FENCE.sub("", page.read_text(encoding="utf-8"))):
        base = slug(heading)
        n = seen.get(base, 0)
        found.add(base if n == 0 else f"{base}-{n}")
        seen[base] = n + 1
    return found


def relative_links(page: Path) -> list[str]:
    return [
        target
        for target in LINK.findall(prose(page.read_text(encoding="utf-8")))
        if not re.match(r"[a-z][a-z0-9+.-]*:", target, re.I)  # http:, https:, mailto:
    ]


def broken_links(page: Path) -> list[str]:
    """Each relative link of `page` whose file or #anchor does not exist, with the reason."""
    broken = []
    for target in relative_links(page):
        path_part, _, anchor = target.partition("#")
        file = (page.parent / path_part).resolve() if path_part else page
        if not file.exists():
            broken.append(f"{target}: no such file")
        elif anchor and file.suffix == ".md" and anchor not in anchors(file):
            broken.append(f"{target}: no heading #{anchor} in {file.name}")
    return broken


@pytest.mark.parametrize("page", pages(), ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_every_relative_link_resolves(page):
    assert broken_links(page) == []


def test_the_checker_sees_a_missing_file_and_a_missing_anchor(tmp_path):
    (tmp_path / "other.md").write_text("# Other\n\n## A section: with punctuation\n", encoding="utf-8")
    page = tmp_path / "page.md"
    page.write_text(
        "# Page\n[ok](other.md#a-section-with-punctuation) [self](#page) [web](https://x.org/)\n"
        "[gone](missing.md) [bad](other.md#nowhere) ![img](nothing.png) `[code](skipped.md)`\n"
        "```\n[in a fence](skipped-too.md)\n```\n",
        encoding="utf-8",
    )
    assert broken_links(page) == [
        "missing.md: no such file",
        "other.md#nowhere: no heading #nowhere in other.md",
        "nothing.png: no such file",
    ]


def test_every_docs_page_is_linked_from_readme_and_the_index():
    index = DOCS / "index.md"
    assert index.is_file()
    from_readme = {(REPO_ROOT / t.partition("#")[0]).resolve() for t in relative_links(README)}
    from_index = {(DOCS / t.partition("#")[0]).resolve() for t in relative_links(index)}
    for page in sorted(DOCS.glob("*.md")):
        if page != index:
            assert page.resolve() in from_index, f"docs/index.md does not link {page.name}"
    for name in ("operations", "configuration", "how-it-works", "answers", "measured", "scaling-out"):
        page = (DOCS / f"{name}.md").resolve()
        assert page in from_readme and page in from_index, f"{name}.md must be linked from both"
    assert index.resolve() in from_readme


def test_readme_is_a_landing_page():
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) < README_MAX_LINES, f"README has {len(lines)} lines: move detail into docs/"
