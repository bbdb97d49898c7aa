"""The shape of stored text (`bot.shape`): list items and table rows found again, every
character kept in order; the /sources renderer and the CLI built on it."""

from __future__ import annotations

import re
from html import unescape

import pytest

from bot.api.sources import _render
from bot.cli import _quote
from bot.ingest.loaders.markdown import load_markdown
from bot.shape import shape

MARKDOWN = """# Titre

Repères chronologiques

- 2008 : début du chemin.
- 2014 : création, à l'initiative du Groupe La Poste.
  1. premier sous-point
  2. second sous-point
- 2020 : la 6ème Convention.

| Année | Événement |
|---|---|
| 2014 | Création |
| 2021 | 7 ans |

Un paragraphe avec A | B dans une phrase.\\
Une ligne après un saut forcé.
"""


@pytest.fixture
def stored(tmp_path) -> str:
    path = tmp_path / "doc.md"
    path.write_text(MARKDOWN, encoding="utf-8")
    return load_markdown(path.read_bytes(), path).text  # the text as the index stores it


def runs(blocks):
    for b in blocks:
        if b.kind in ("text", "gap"):
            yield from b.runs
        elif b.kind == "list":
            for item in b.items:
                yield from item.runs
        else:
            for row in b.rows:
                for cell in row:
                    yield from cell


def test_every_character_once_in_order(stored: str) -> None:
    for text in (stored, stored[17:160], "- a", "a | b\nc | d\n", "\n\nx\n", "", "a\n- b\nc | d\ne | f"):
        assert "".join(text[r.start : r.end] for r in runs(shape(text))) == text


def test_lists_and_tables_are_found(stored: str) -> None:
    blocks = [b for b in shape(stored) if b.kind != "gap"]
    assert [b.kind for b in blocks] == ["text", "text", "list", "table", "text"]
    items = blocks[2].items
    assert [(i.depth, i.ordered) for i in items] == [(0, False), (0, False), (1, True), (1, True), (0, False)]
    bodies = [stored[i.runs[1].start : i.runs[1].end] for i in items]
    assert bodies[0] == "2008 : début du chemin." and bodies[2] == "premier sous-point"
    assert [r.hidden for r in items[0].runs] == [True, False, True]  # bullet and break hidden
    assert not items[2].runs[0].hidden  # « 1. » is shown: it says something
    cells = [[stored[c[0].start : c[0].end] for c in row] for row in blocks[3].rows]
    assert cells == [["Année", "Événement"], ["2014", "Création"], ["2021", "7 ans"]]
    # One line with « | » is a sentence, and a forced line break stays in its paragraph.
    assert "\n" in stored[blocks[4].runs[0].start : blocks[4].runs[0].end]


def marks(html: str) -> str:
    return "".join(unescape(m) for m in re.findall(r"<mark[^>]*>(.*?)</mark>", html, re.S))


def test_sources_page_marks_exactly_the_span_across_list_items(stored: str) -> None:
    start = stored.index("chemin")
    end = stored.index("sous-point") + 4  # ends inside a nested item
    html = _render(stored, {"Titre"}, (start, end))
    assert marks(html) == stored[start:end]
    assert html.count('id="quote"') == 1
    assert "<ul>" in html and html.count("<li") == 5 and "<table" in html and "<h2>Titre</h2>" in html
    # The whole page text, hidden spans included, is the stored text.
    assert unescape(re.sub(r"<[^>]+>", "", html)) == stored
    # The first mark shown is the one scrolled to, not one inside a hidden span.
    assert re.search(r'<span hidden>[^<]*<mark id="quote"', html) is None


def test_sources_page_span_across_table_cells(stored: str) -> None:
    start, end = stored.index("2014 | Cr"), stored.index("7 ans") + 1
    assert marks(_render(stored, set(), (start, end))) == stored[start:end]


def test_cli_prints_one_list_item_a_line(stored: str) -> None:
    quote = stored[stored.index("Repères") : stored.index("Année | ")].strip()
    printed = _quote(quote).splitlines()
    assert printed[0].strip() == "« Repères chronologiques"
    assert [line.strip() for line in printed[1:3]] == [
        "- 2008 : début du chemin.",
        "- 2014 : création, à l'initiative du Groupe La Poste.",
    ]
    assert printed[3].strip() == "1. premier sous-point" and printed[3].startswith("        ")
    assert printed[-1].strip().endswith("Convention. »")
    long = _quote("- " + "mot " * 60).splitlines()
    assert len(long) > 1 and all(line.startswith("        ") for line in long[1:])  # under its text
