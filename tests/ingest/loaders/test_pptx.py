"""PowerPoint loader: one section per slide with its number, text, tables, notes, bombs."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from bot.ingest.loaders import MAX_DOCX_XML_BYTES, DocumentError, load_document, load_documents
from tests.ingest.loaders.helpers import skipped_reason


def _presentation(path: Path) -> None:
    from pptx import Presentation
    from pptx.util import Inches

    deck = Presentation()
    deck.core_properties.title = "Bilan de l'Alliance"
    slide = deck.slides.add_slide(deck.slide_layouts[1])  # title and content
    slide.shapes.title.text = "L'Alliance Dynamique"
    body = slide.placeholders[1].text_frame
    body.text = "Lancée en 2014 par le Groupe La Poste."
    item = body.add_paragraph()
    item.text, item.level = "Économie sociale et solidaire", 1
    slide.notes_slide.notes_text_frame.text = "Rappeler la date de lancement."

    slide = deck.slides.add_slide(deck.slide_layouts[5])  # title only
    slide.shapes.title.text = "Chiffres"
    table = slide.shapes.add_table(2, 2, Inches(1), Inches(2), Inches(6), Inches(1)).table
    table.cell(0, 0).text, table.cell(0, 1).text = "Année", "Partenaires"
    table.cell(1, 0).text, table.cell(1, 1).text = "2020", "150"
    box = slide.shapes.add_textbox(Inches(1), Inches(4), Inches(6), Inches(1))
    box.text_frame.text = "Sous le tableau."

    deck.slides.add_slide(deck.slide_layouts[6])  # blank: no section
    slide = deck.slides.add_slide(deck.slide_layouts[6])
    box = slide.shapes.add_textbox(Inches(1), Inches(1), Inches(6), Inches(1))
    box.text_frame.text = "Une diapositive sans titre."
    deck.save(path)


def test_pptx_slides_tables_and_notes(tmp_path: Path) -> None:
    _presentation(tmp_path / "bilan.pptx")
    doc = load_document(tmp_path / "bilan.pptx", tmp_path)

    assert doc.title == "Bilan de l'Alliance"
    assert doc.text.startswith(
        "L'Alliance Dynamique\n\nLancée en 2014 par le Groupe La Poste.\n\n"
        "- Économie sociale et solidaire\n\nNotes : Rappeler la date de lancement.\n\nChiffres\n\n"
    )
    assert "Année | Partenaires\n2020 | 150\n\nSous le tableau." in doc.text
    assert [(s.page, s.headings) for s in doc.sections] == [
        (1, ("L'Alliance Dynamique",)),
        (2, ("Chiffres",)),
        (4, ()),
    ]
    assert doc.text[doc.sections[2].start :] == "Une diapositive sans titre."
    assert doc.section_at(doc.text.index("Rappeler")).page == 1
    assert doc.section_at(doc.text.index("150")).page == 2


def test_corrupt_pptx_is_skipped(tmp_path: Path) -> None:
    (tmp_path / "faux.pptx").write_bytes(b"PK\x03\x04 pas vraiment un zip")
    with pytest.raises(DocumentError, match="PowerPoint illisible"):
        load_document(tmp_path / "faux.pptx", tmp_path)


def test_pptx_whose_xml_unzips_past_the_limit_is_refused_before_parsing(tmp_path: Path) -> None:
    _presentation(tmp_path / "normal.pptx")
    with zipfile.ZipFile(tmp_path / "normal.pptx") as source:
        parts = {info.filename: source.read(info) for info in source.infolist()}
    run = b"<a:p><a:r><a:t>" + b"Alliance Dynamique " * 50 + b"</a:t></a:r></a:p>"
    padding = run * (MAX_DOCX_XML_BYTES // len(run) + 1)
    slide = parts["ppt/slides/slide1.xml"]
    parts["ppt/slides/slide1.xml"] = slide.replace(b"</a:p>", b"</a:p>" + padding, 1)
    with zipfile.ZipFile(tmp_path / "bombe.pptx", "w", zipfile.ZIP_DEFLATED) as bomb:
        for name, content in parts.items():
            bomb.writestr(name, content)
    assert (tmp_path / "bombe.pptx").stat().st_size < 1_000_000

    docs, skipped = load_documents([tmp_path])
    assert [d.source for d in docs] == [f"{tmp_path.name}/normal.pptx"]
    reason = skipped_reason(skipped, "bombe.pptx")
    assert reason.startswith("présentation PowerPoint trop volumineuse une fois décompressé (parties XML")
    assert ".pptx too large once unzipped (XML parts)" in reason
