"""Markdown loader: front matter, headings, lists, tables, code, inline markup."""

from __future__ import annotations

from pathlib import Path

from bot.ingest.loaders import load_document, load_documents
from bot.ingest.loaders.markdown import strip_inline_markdown
from tests.ingest.loaders.helpers import check_sections

MARKDOWN = """\
---
title: "Historique de l'Alliance"
source: "Article de test"
date: 2020-07-03
url: https://example.org/alliance
---

Un texte d'introduction, **avant** le premier titre.

# L'Alliance Dynamique

Créée en *2014* par le `Groupe La Poste` avec des acteurs de l'[ESS](https://ess.example).
![logo](logo.png)

## Les partenariats

### Coopération économique

- offres complémentaires
- compétences complémentaires

### Innovation sociétale

Inventer ensemble : la R&D sociétale, au-delà du mécénat.

## Reconnaissance

La Fondation pour la Co-construction du bien commun, cérémonie à l'Assemblée Nationale.
"""


def test_markdown_front_matter_headings_and_inline_markup(tmp_path: Path) -> None:
    path = tmp_path / "corpus" / "historique.md"
    path.parent.mkdir()
    path.write_text(MARKDOWN, encoding="utf-8")
    doc = load_document(path, tmp_path)

    assert doc.source == "corpus/historique.md"
    assert doc.title == "Historique de l'Alliance"
    assert doc.date == "2020-07-03"
    assert doc.url == "https://example.org/alliance"
    # Front matter and markup are gone; the text reads as plain French.
    assert "---" not in doc.text and "title:" not in doc.text
    assert "#" not in doc.text and "**" not in doc.text and "`" not in doc.text
    assert "logo" not in doc.text and "https://" not in doc.text
    assert "Créée en 2014 par le Groupe La Poste avec des acteurs de l'ESS." in doc.text
    assert "Un texte d'introduction, avant le premier titre." in doc.text
    assert "- offres complémentaires\n- compétences complémentaires" in doc.text
    # Each heading appears once, on its own line.
    assert doc.text.count("Coopération économique") == 1
    assert "\nCoopération économique\n" in doc.text

    assert [s.headings for s in doc.sections] == [
        (),
        ("L'Alliance Dynamique",),
        ("L'Alliance Dynamique", "Les partenariats"),
        ("L'Alliance Dynamique", "Les partenariats", "Coopération économique"),
        ("L'Alliance Dynamique", "Les partenariats", "Innovation sociétale"),
        ("L'Alliance Dynamique", "Reconnaissance"),
    ]
    assert all(s.page is None for s in doc.sections)
    check_sections(doc)
    offset = doc.text.index("R&D sociétale")
    assert doc.section_at(offset).headings[-1] == "Innovation sociétale"


def test_markdown_title_falls_back_to_h1_then_file_stem(tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text("# Premier titre\n\nTexte.\n", encoding="utf-8")
    (tmp_path / "02_mon-fichier.markdown").write_text("Juste du texte.\n", encoding="utf-8")
    docs, skipped = load_documents([tmp_path])
    assert not skipped
    titles = {d.source.split("/", 1)[1]: d.title for d in docs}
    assert titles == {"a.md": "Premier titre", "02_mon-fichier.markdown": "Mon fichier"}
    first = next(d for d in docs if d.source == f"{tmp_path.name}/a.md")
    assert first.text == "Premier titre\n\nTexte."
    assert first.sections[0].start == 0 and first.sections[0].headings == ("Premier titre",)


def test_markdown_code_blocks_tables_and_setext(tmp_path: Path) -> None:
    path = tmp_path / "x.md"
    path.write_text(
        "Titre\n=====\n\n```\n# pas un titre\n```\n\n| Année | Fait |\n|---|---|\n"
        "| 2014 | création |\n\nSous-titre\n----------\n\nFin.\n",
        encoding="utf-8",
    )
    doc = load_document(path, tmp_path)
    assert doc.title == "Titre"
    assert "# pas un titre" in doc.text  # code is kept verbatim, not read as a heading
    assert "Année | Fait\n2014 | création" in doc.text
    assert [s.headings for s in doc.sections] == [("Titre",), ("Titre", "Sous-titre")]
    check_sections(doc)


def test_strip_inline_markdown() -> None:
    plain = strip_inline_markdown("**gras** et *em* et _aussi_ et ~~non~~")
    assert plain == "gras et em et aussi et non"
    assert strip_inline_markdown("voir [le site](https://x.fr/a_(b)) ici") == "voir le site ici"
    assert strip_inline_markdown("`__init__` et snake_case_name, 5 * 3 * 2") == (
        "__init__ et snake_case_name, 5 * 3 * 2"
    )
    assert strip_inline_markdown("texte ![image](a.png).") == "texte."


def test_markdown_lists_quotes_html_and_breaks(tmp_path: Path) -> None:
    path = tmp_path / "divers.md"
    path.write_text(
        "# Liste\n\n- un\n  - un bis\n- deux\n\n2) second\n3) troisième\n\n"
        "• collé depuis Word\n• deuxième puce\n\n"
        "> Une *citation*\n> sur deux lignes.\n\n"
        '<div class="note">Note <b>HTML</b><script>alert("x")</script></div>\n\n'
        "<!-- commentaire invisible -->\n\n"
        "Ligne un  \nligne deux, R&amp;D &laquo; ok &raquo;, <https://exemple.fr/page>.\n\n"
        "[1]: https://exemple.fr/reference\n",
        encoding="utf-8",
    )
    doc = load_document(path, tmp_path)
    assert doc.text == (
        "Liste\n\n- un\n  - un bis\n- deux\n\n2) second\n3) troisième\n\n"
        "- collé depuis Word\n- deuxième puce\n\n"
        "Une citation sur deux lignes.\n\n"
        "Note HTML\n\n"
        "Ligne un\nligne deux, R&D « ok », https://exemple.fr/page."
    )
    check_sections(doc)


def test_only_web_links_are_kept_from_front_matter(tmp_path: Path) -> None:
    """`javascript:` or `data:` became <a href> on /sources (stored XSS)."""
    for bad in (
        "javascript:alert(document.domain)",
        "data:text/html,<script>alert(1)</script>",
        " JavaScript:alert(1)",
        "vbscript:x",
        "//example.org/x",
    ):
        path = tmp_path / "lien.md"
        path.write_text(f'---\ntitle: "Lien\\e]0;titre\\a"\nurl: "{bad}"\n---\n\nTexte du document.\n')
        doc = load_document(path, tmp_path)
        assert doc.url is None, bad
        assert doc.title == "Lien]0;titre"  # the YAML escapes decoded, the controls dropped
    path.write_text("---\nurl: https://example.org/guide?x=1\n---\n\nTexte.\n")
    assert load_document(path, tmp_path).url == "https://example.org/guide?x=1"
