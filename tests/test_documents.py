"""Loaders: every fixture is created here in tmp_path (no binary fixture is committed)."""

from __future__ import annotations

import logging
import os
import random
from pathlib import Path

import pytest

from bot.documents import (
    MAX_FILE_BYTES,
    SUPPORTED_SUFFIXES,
    DocumentError,
    SkippedFile,
    load_document,
    load_documents,
    strip_inline_markdown,
)
from bot.types import Document

DEJAVU = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")


def check_sections(doc: Document) -> None:
    """Sections are sorted, start at 0, and each heading is where its section starts."""
    assert doc.sections, doc.source
    assert doc.sections[0].start == 0
    starts = [s.start for s in doc.sections]
    assert starts == sorted(starts) and len(set(starts)) == len(starts)
    for section in doc.sections:
        assert 0 <= section.start < len(doc.text)
        if section.headings:
            assert doc.text[section.start :].startswith(section.headings[-1] + "\n") or (
                doc.text[section.start :] == section.headings[-1]
            )


def skipped_reason(skipped: list[SkippedFile], name: str) -> str:
    matches = [s.reason for s in skipped if Path(s.path).name == name]
    assert matches, f"{name} not in skipped list {skipped}"
    return matches[0]


# ----------------------------------------------------------------------- Markdown

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


# --------------------------------------------------------------------------- text


def test_txt_windows_1252_is_detected(tmp_path: Path) -> None:
    content = (
        "Le cœur de l'été\n\n"
        "L'œuvre est très belle, déjà vue à Noël : « une réussite » pour l'équipe.\r\n"
        "Deuxième ligne élégante, où l'on parle de coopération.\r\n"
    )
    path = tmp_path / "latin.txt"
    path.write_bytes(content.encode("cp1252"))
    doc = load_document(path, tmp_path)
    assert doc.title == "Le cœur de l'été"
    assert "« une réussite »" in doc.text
    assert "L'œuvre est très belle, déjà vue à Noël" in doc.text
    assert "\r" not in doc.text
    assert doc.text.endswith("où l'on parle de coopération.")


def test_short_windows_1252_text_is_not_read_as_central_european(tmp_path: Path) -> None:
    # charset-normalizer alone ranks cp1250 first here (œ -> ś, è -> č): French wins ties.
    path = tmp_path / "court.txt"
    path.write_bytes("Titre\n\nL'œuvre est très belle, déjà vue à Noël.\n".encode("cp1252"))
    assert load_document(path, tmp_path).text == "Titre\n\nL'œuvre est très belle, déjà vue à Noël."


def test_txt_utf8_bom_and_long_first_line(tmp_path: Path) -> None:
    long_line = "Une première ligne beaucoup trop longue pour être un titre, " * 3
    path = tmp_path / "notes_de-reunion.txt"
    path.write_bytes(b"\xef\xbb\xbf" + (long_line + "\nsuite à venir\n").encode("utf-8"))
    doc = load_document(path, tmp_path)
    assert not doc.text.startswith("\ufeff")
    assert doc.text.startswith("Une première ligne")
    assert doc.title == "Notes de reunion"
    assert doc.sections[0].start == 0


def test_utf16_with_bom_is_text(tmp_path: Path) -> None:
    path = tmp_path / "u16.txt"
    path.write_bytes("Titre\nCoopération économique.\n".encode("utf-16"))
    doc = load_document(path, tmp_path)
    assert doc.title == "Titre" and "Coopération économique." in doc.text


# --------------------------------------------------------------------------- HTML

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


# ---------------------------------------------------------------------------- PDF


def make_pdf(path: Path, pages: list[str]) -> None:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_title("Rapport Alliance")
    if DEJAVU.exists():
        pdf.add_font("DejaVu", fname=str(DEJAVU))
        pdf.set_font("DejaVu", size=12)
    else:
        pdf.set_font("Helvetica", size=12)
    for text in pages:
        pdf.add_page()
        pdf.multi_cell(0, 8, text)
    pdf.output(str(path))


def test_pdf_pages_become_sections(tmp_path: Path) -> None:
    accents = DEJAVU.exists()
    page1 = "Première page : création en 2014." if accents else "Premiere page : creation en 2014."
    page2 = "Seconde page : ODD 17 et horizon 2030."
    make_pdf(tmp_path / "rapport.pdf", [page1, page2])
    doc = load_document(tmp_path / "rapport.pdf", tmp_path)
    assert doc.title == "Rapport Alliance"
    assert [(s.page, s.headings) for s in doc.sections] == [(1, ()), (2, ())]
    first = doc.text[doc.sections[0].start : doc.sections[1].start]
    second = doc.text[doc.sections[1].start :]
    assert page1 in first and "ODD 17" not in first
    assert second.startswith("Seconde page") and "ODD 17 et horizon 2030." in second
    assert doc.section_at(doc.text.index("horizon 2030")).page == 2
    assert doc.section_at(doc.text.index("2014")).page == 1


def test_corrupt_and_encrypted_pdf_are_skipped(tmp_path: Path) -> None:
    from pypdf import PdfReader, PdfWriter

    (tmp_path / "casse.pdf").write_bytes(b"%PDF-1.4 garbage")
    make_pdf(tmp_path / "clair.pdf", ["Un texte lisible."])
    writer = PdfWriter()
    for page in PdfReader(tmp_path / "clair.pdf").pages:
        writer.add_page(page)
    writer.encrypt("motdepasse", algorithm="RC4-128")
    with open(tmp_path / "secret.pdf", "wb") as fh:
        writer.write(fh)

    with pytest.raises(DocumentError, match="PDF illisible"):
        load_document(tmp_path / "casse.pdf", tmp_path)
    docs, skipped = load_documents([tmp_path])
    assert [d.source for d in docs] == [f"{tmp_path.name}/clair.pdf"]
    assert "corrupt PDF" in skipped_reason(skipped, "casse.pdf")
    assert "mot de passe" in skipped_reason(skipped, "secret.pdf")


# --------------------------------------------------------------------------- DOCX


def test_docx_headings_paragraphs_and_tables(tmp_path: Path) -> None:
    import docx

    document = docx.Document()
    document.add_heading("Alliance Dynamique", level=1)
    document.add_paragraph("Initiée par le Groupe La Poste en 2014.")
    document.add_heading("Partenariats", level=2)
    document.add_paragraph("Coopération économique et innovation sociétale.")
    table = document.add_table(rows=2, cols=2)
    table.cell(0, 0).text, table.cell(0, 1).text = "Année", "Événement"
    table.cell(1, 0).text, table.cell(1, 1).text = "2008", "Début du chemin"
    document.add_heading("Reconnaissance", level=1)
    document.add_paragraph("Promotion 2020 de la Fondation.")
    document.save(tmp_path / "note.docx")

    doc = load_document(tmp_path / "note.docx", tmp_path)
    assert doc.title == "Alliance Dynamique"
    assert doc.text.startswith("Alliance Dynamique\n\nInitiée par le Groupe La Poste en 2014.\n\n")
    assert "Année | Événement\n2008 | Début du chemin" in doc.text
    assert [s.headings for s in doc.sections] == [
        ("Alliance Dynamique",),
        ("Alliance Dynamique", "Partenariats"),
        ("Reconnaissance",),
    ]
    check_sections(doc)
    assert doc.section_at(doc.text.index("Début du chemin")).headings[-1] == "Partenariats"


def test_corrupt_docx_is_skipped(tmp_path: Path) -> None:
    (tmp_path / "faux.docx").write_bytes(b"PK\x03\x04 pas vraiment un zip")
    with pytest.raises(DocumentError, match="Word illisible"):
        load_document(tmp_path / "faux.docx", tmp_path)


# ------------------------------------------------------------------- bad files


def test_load_documents_skips_bad_files_and_keeps_good_ones(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    corpus = tmp_path / "docs"
    (corpus / "sub").mkdir(parents=True)
    (corpus / ".cache").mkdir()
    (corpus / "a.md").write_text("# A\n\nPremier.\n", encoding="utf-8")
    (corpus / "sub" / "b.txt").write_text("B\n\nSecond.\n", encoding="utf-8")
    (corpus / "vide.txt").write_bytes(b"")
    (corpus / "blancs.md").write_text("  \n\n\t\n", encoding="utf-8")
    rng = random.Random(7)
    (corpus / "binaire.txt").write_bytes(
        bytes(rng.randrange(256) for _ in range(4000)) + b"\x00" * 100
    )
    (corpus / "image.xyz").write_bytes(b"something")
    (corpus / "casse.pdf").write_bytes(b"%PDF-1.4 garbage")
    (corpus / ".cache" / "c.md").write_text("# Caché\n", encoding="utf-8")
    (corpus / ".hidden.md").write_text("# Caché\n", encoding="utf-8")
    (corpus / "z.html").write_text("<html><body><p>Dernier.</p></body></html>", encoding="utf-8")

    with caplog.at_level(logging.WARNING, logger="bot.documents"):
        docs, skipped = load_documents([corpus, tmp_path / "absent.md"])

    # Sources are named from the folder given.
    assert [d.source for d in docs] == [f"{corpus.name}/{n}" for n in ("a.md", "sub/b.txt", "z.html")]
    assert "vide" in skipped_reason(skipped, "vide.txt")
    assert "vide" in skipped_reason(skipped, "blancs.md")
    assert "binaire" in skipped_reason(skipped, "binaire.txt")
    assert "non pris en charge (.xyz)" in skipped_reason(skipped, "image.xyz")
    assert "corrompu" in skipped_reason(skipped, "casse.pdf")
    assert skipped_reason(skipped, "absent.md") == "introuvable — not found"
    assert not any("Caché" in d.text or "hidden" in d.source for d in docs)
    assert len(skipped) == 6
    # Every skip is logged with the file's name and the reason.
    for item in skipped:
        assert any(
            Path(item.path).name in r.getMessage() and item.reason in r.getMessage()
            for r in caplog.records
        ), item
    # Paths are shown as found under the directory given.
    assert skipped_reason(skipped, "vide.txt") and any(
        s.path == (corpus / "vide.txt").as_posix() for s in skipped
    )


def test_load_documents_single_file_and_duplicates(tmp_path: Path) -> None:
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    (tmp_path / "one" / "a.md").write_text("# Un\n", encoding="utf-8")
    (tmp_path / "two" / "a.md").write_text("# Deux\n", encoding="utf-8")
    docs, skipped = load_documents([tmp_path / "one" / "a.md", tmp_path / "one", tmp_path / "two"])
    # The same file given twice is loaded once; files of the same name in two folders are two.
    assert [(d.source, d.title) for d in docs] == [("a.md", "Un"), ("two/a.md", "Deux")]
    assert not skipped


def test_source_outside_root_is_the_file_name(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("Bonjour\n", encoding="utf-8")
    doc = load_document(tmp_path / "a.txt", tmp_path / "ailleurs")
    assert doc.source == "a.txt"


def test_oversized_file_is_skipped(tmp_path: Path) -> None:
    path = tmp_path / "gros.txt"
    with open(path, "wb") as fh:
        fh.seek(MAX_FILE_BYTES)
        fh.write(b"x")
    with pytest.raises(DocumentError, match="trop volumineux"):
        load_document(path, tmp_path)


def test_binary_without_nul_bytes_is_skipped(tmp_path: Path) -> None:
    path = tmp_path / "bruit.md"
    path.write_bytes(os.urandom(3000).replace(b"\x00", b"\x01"))
    with pytest.raises(DocumentError, match="binaire"):
        load_document(path, tmp_path)


def test_supported_suffixes() -> None:
    assert SUPPORTED_SUFFIXES == {".md", ".markdown", ".txt", ".html", ".htm", ".pdf", ".docx"}


def test_default_corpus_loads_cleanly() -> None:
    from bot.config import REPO_ROOT

    docs, skipped = load_documents([REPO_ROOT / "documents"])
    assert not skipped
    assert 4 <= len(docs) <= 8
    for doc in docs:
        assert doc.source.startswith("documents/") and doc.source.endswith(".md")
        assert doc.title and doc.title != Path(doc.source).stem
        assert "#" not in doc.text and "**" not in doc.text and "---" not in doc.text
        assert doc.text.rstrip().splitlines()[-1].startswith("Source : ")
        check_sections(doc)
