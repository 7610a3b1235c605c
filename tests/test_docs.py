"""The README stays a short guide, and every link in it and in docs/ leads somewhere: the file exists and so
does the heading a #anchor names (GitHub's heading slugs)."""
from __future__ import annotations

import re
from pathlib import Path

from tests.conftest import ROOT

README_LIMIT = 15 * 1024
LINK = re.compile(r"\]\(([^)\s]+)\)")
CODE = re.compile(r"```.*?```", re.DOTALL)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*_]", "", heading.strip().lower())
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    text = CODE.sub("", path.read_text(encoding="utf-8"))
    return {slug(line.lstrip("#")) for line in text.splitlines() if re.match(r"#{1,6} ", line)}


def broken_links(path: Path) -> list[str]:
    wrong = []
    for target in LINK.findall(CODE.sub("", path.read_text(encoding="utf-8"))):
        if re.match(r"[a-z]+:", target):  # https:, mailto:
            continue
        name, _, anchor = target.partition("#")
        linked = (path.parent / name).resolve() if name else path
        if not linked.exists():
            wrong.append(f"{target}: no such file")
        elif anchor and linked.suffix == ".md" and anchor not in anchors(linked):
            wrong.append(f"{target}: no such heading")
    return wrong


def test_readme_is_short() -> None:
    assert len((ROOT / "README.md").read_bytes()) <= README_LIMIT


def test_every_link_leads_somewhere() -> None:
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    assert len(pages) > 8
    found = {str(page.relative_to(ROOT)): broken_links(page) for page in pages}
    assert {page: wrong for page, wrong in found.items() if wrong} == {}


def test_the_link_check_finds_broken_links(tmp_path: Path) -> None:
    (tmp_path / "other.md").write_text("# Title\n\n## Where the `cpu` recipe stands (2026-12-07)\n")
    page = tmp_path / "page.md"
    page.write_text("[a](other.md) [b](other.md#where-the-cpu-recipe-stands-2026-12-07) [c](missing.md) "
                    "[d](other.md#nowhere) [e](https://example.org) [f](#here)\n\n## Here\n")
    assert broken_links(page) == ["missing.md: no such file", "other.md#nowhere: no such heading"]
