"""Word loader: headings, paragraphs, tables, corrupt files."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from bot.ingest.loaders import MAX_DOCX_XML_BYTES, DocumentError, load_document, load_documents
from tests.ingest.loaders.helpers import check_sections, skipped_reason


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


def test_docx_whose_xml_unzips_past_the_limit_is_refused_before_parsing(tmp_path: Path) -> None:
    """A zip bomb: a small .docx whose document.xml expands past MAX_DOCX_XML_BYTES."""
    import docx

    document = docx.Document()
    document.add_paragraph("Un paragraphe ordinaire.")
    document.save(tmp_path / "normal.docx")
    with zipfile.ZipFile(tmp_path / "normal.docx") as source:
        parts = {info.filename: source.read(info) for info in source.infolist()}
    xml = parts["word/document.xml"]
    paragraph = b"<w:p><w:r><w:t>" + b"Alliance Dynamique " * 50 + b"</w:t></w:r></w:p>"
    padding = paragraph * (MAX_DOCX_XML_BYTES // len(paragraph) + 1)  # well-formed, all text
    parts["word/document.xml"] = xml.replace(b"<w:body>", b"<w:body>" + padding, 1)
    with zipfile.ZipFile(tmp_path / "bombe.docx", "w", zipfile.ZIP_DEFLATED) as bomb:
        for name, content in parts.items():
            bomb.writestr(name, content)
    assert (tmp_path / "bombe.docx").stat().st_size < 1_000_000

    docs, skipped = load_documents([tmp_path])
    assert [d.source for d in docs] == [f"{tmp_path.name}/normal.docx"]
    reason = skipped_reason(skipped, "bombe.docx")
    assert reason.startswith("document Word trop volumineux une fois décompressé (parties XML")
    assert ".docx too large once unzipped (XML parts)" in reason
