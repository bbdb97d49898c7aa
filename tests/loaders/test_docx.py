"""Word loader: headings, paragraphs, tables, corrupt files."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.loaders import DocumentError, load_document
from tests.loaders.helpers import check_sections


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
