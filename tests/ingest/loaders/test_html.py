"""HTML loader: main text without boilerplate, charset, title."""

from __future__ import annotations

from pathlib import Path

from bot.ingest.loaders import load_document
from tests.ingest.loaders.helpers import check_sections

HTML = """<!DOCTYPE html>
<html lang="fr"><head><meta charset="utf-8"><title>Alliance &amp; ESS</title>
<style>body { color: red; } .secret-css {}</style>
<script>var secretScript = "ne doit pas fuir";</script></head>
<body>
<header><p>Bandeau du site</p></header>
<nav><ul><li>Accueil</li><li>MenuSecret</li></ul></nav>
<main>
  <article>
    <header><h1>L'Alliance   Dynamique</h1></header>
    <p>Initiée par le <b>Groupe La Poste</b>
       en&nbsp;2014.</p>
    <h2>Partenariats</h2>
    <ul><li>coopération économique</li><li>innovation <em>sociétale</em></li></ul>
    <table><tr><th>Année</th><th>Fait</th></tr><tr><td>2008</td><td>début</td></tr></table>
    <div hidden>Texte caché</div>
    <form><label>Courriel</label><input name="q"><button>Envoyer</button></form>
    <h3>Détails</h3><p>Ligne un<br>ligne deux</p>
  </article>
  <aside>Publicité encombrante</aside>
</main>
<footer>Mentions légales</footer>
<noscript>Activez JavaScript</noscript>
</body></html>
"""


def test_html_main_text_without_boilerplate(tmp_path: Path) -> None:
    path = tmp_path / "page.html"
    path.write_text(HTML, encoding="utf-8")
    doc = load_document(path, tmp_path)
    assert doc.title == "Alliance & ESS"
    for leak in (
        "secretScript",
        "secret-css",
        "color",
        "Bandeau",
        "MenuSecret",
        "Accueil",
        "Publicité",
        "Mentions",
        "JavaScript",
        "caché",
        "Courriel",
        "Envoyer",
        "<",
        "&nbsp;",
    ):
        assert leak not in doc.text, leak
    assert "Initiée par le Groupe La Poste en 2014." in doc.text
    assert "- coopération économique\n- innovation sociétale" in doc.text
    assert "Année | Fait\n2008 | début" in doc.text
    assert "Ligne un\nligne deux" in doc.text
    assert [s.headings for s in doc.sections] == [
        ("L'Alliance Dynamique",),
        ("L'Alliance Dynamique", "Partenariats"),
        ("L'Alliance Dynamique", "Partenariats", "Détails"),
    ]
    check_sections(doc)


def test_html_title_from_h1_and_declared_charset(tmp_path: Path) -> None:
    page = (
        '<html><head><meta http-equiv="Content-Type" content="text/html; charset=windows-1252">'
        "</head><body><h1>Été</h1><p>Déjà là, cœur.</p></body></html>"
    )
    path = tmp_path / "old.htm"
    path.write_bytes(page.encode("cp1252"))
    doc = load_document(path, tmp_path)
    assert doc.title == "Été"
    assert doc.text == "Été\n\nDéjà là, cœur."


def test_deeply_nested_html_is_refused_in_under_two_seconds(tmp_path: Path) -> None:
    """200,000 nested <div> (2.2 MB) burned 150 s of CPU before a RecursionError."""
    import time

    import pytest

    from bot.ingest.loaders import DocumentError

    path = tmp_path / "profond.html"
    path.write_text("<html><body>" + "<div>" * 200_000 + "texte" + "</div>" * 200_000 + "</body></html>")
    began = time.perf_counter()
    with pytest.raises(DocumentError, match="imbriqué"):
        load_document(path, tmp_path)
    assert time.perf_counter() - began < 2
    # Unclosed tags nest as deep; a long list of implied-end items, a comment or a script do not.
    path.write_text("<p>x" + "<span>" * 300)
    with pytest.raises(DocumentError, match="imbriqué"):
        load_document(path, tmp_path)
    path.write_text(
        "<main><ul>"
        + "<li>point" * 5000
        + "</ul><!-- <div>"
        + "<div>" * 300
        + " --><script>"
        + "<div>" * 300
        + "</script><p>Fin du texte.</p></main>"
    )
    assert load_document(path, tmp_path).text.endswith("Fin du texte.")


def test_control_characters_made_by_entities_are_dropped(tmp_path: Path) -> None:
    """`&#27;` becomes ESC only once the HTML is parsed, after the byte-level filter."""
    path = tmp_path / "esc.html"
    path.write_text("<title>Titre&#27;]0;pwned&#7;</title><main><p>Texte&#27;[2J propre&#x9b;.</p></main>")
    doc = load_document(path, tmp_path)
    assert "\x1b" not in doc.text + doc.title and "\x07" not in doc.title
    assert doc.text.startswith("Texte[2J propre")
