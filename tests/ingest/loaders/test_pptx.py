"""PowerPoint loader: one section per slide with its number, text, tables, notes, bombs."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

import pytest

from bot.ingest.loaders import MAX_DOCX_XML_BYTES, DocumentError, load_document, load_documents
from bot.ingest.loaders.common import CORRUPT_PPTX
from tests.ingest.loaders.helpers import load_with_peak, skipped_reason


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


def _patched(source: Path, target: Path, slide: int, patch) -> None:
    """A copy of `source` whose slide `slide`'s XML goes through `patch` (bytes to bytes)."""
    with zipfile.ZipFile(source) as archive:
        parts = {info.filename: archive.read(info) for info in archive.infolist()}
    name = f"ppt/slides/slide{slide}.xml"
    parts[name] = patch(parts[name])
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for part, data in parts.items():
            archive.writestr(part, data)


def test_a_huge_outline_level_allocates_nothing(tmp_path: Path) -> None:
    """python-pptx gives `lvl` as written: `lvl="2000000000"` indented a list item by 4 GB
    (two minutes, then « texte trop long »). The format allows levels 0 to 8."""
    _presentation(tmp_path / "bilan.pptx")
    _patched(
        tmp_path / "bilan.pptx",
        tmp_path / "niveau.pptx",
        1,
        lambda b: b.replace(b'lvl="1"', b'lvl="2000000000"'),
    )

    outcome = load_with_peak(tmp_path / "bilan.pptx", tmp_path / "niveau.pptx")
    assert "\n\n" + "  " * 7 + "- Économie sociale et solidaire\n\n" in outcome.get("text", ""), outcome.get(
        "error"
    )
    assert outcome["growth_kb"] < 50_000


@pytest.mark.parametrize(
    ("slide", "patch"),
    [
        (1, lambda b: b.replace(b'lvl="1"', b'lvl="zz"')),
        (2, lambda b: b.replace(b"<a:tc>", b'<a:tc hMerge="zz">', 1)),
        (2, lambda b: b.replace(b"<a:tc>", b'<a:tc vMerge="2">', 1)),
        (2, lambda b: re.sub(rb'<a:off x="\d+"', b'<a:off x="abc"', b, count=1)),
    ],
    ids=["level", "hMerge", "vMerge", "offset"],
)
def test_malformed_attributes_read_as_defaults(tmp_path: Path, slide: int, patch) -> None:
    """A malformed level, merge flag or position raised from python-pptx: unexpected error."""
    _presentation(tmp_path / "bilan.pptx")
    _patched(tmp_path / "bilan.pptx", tmp_path / "bizarre.pptx", slide, patch)
    docs, skipped = load_documents([tmp_path / "bizarre.pptx"])
    assert not skipped
    assert "Économie sociale et solidaire" in docs[0].text and "2020 | 150" in docs[0].text


def test_markup_python_pptx_cannot_read_is_a_corrupt_file(tmp_path: Path) -> None:
    _presentation(tmp_path / "bilan.pptx")
    _patched(
        tmp_path / "bilan.pptx",
        tmp_path / "forme.pptx",
        2,
        lambda b: b.replace(b'<p:cNvPr id="', b'<p:cNvPr id="x'),
    )
    docs, skipped = load_documents([tmp_path / "forme.pptx"])
    assert not docs and skipped_reason(skipped, "forme.pptx") == CORRUPT_PPTX
