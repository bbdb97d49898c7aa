"""Word loader: headings, paragraphs, tables, corrupt files."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from bot.ingest.loaders import MAX_DOCX_XML_BYTES, DocumentError, load_document, load_documents
from tests.ingest.loaders.helpers import check_sections, load_with_peak, skipped_reason


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


def make_docx(path: Path, body: str) -> None:
    """A .docx made by python-docx whose body starts with the WordprocessingML `body`."""
    import docx

    document = docx.Document()
    document.add_paragraph("Fin du document.")
    document.save(path)
    with zipfile.ZipFile(path) as source:
        parts = {info.filename: source.read(info) for info in source.infolist()}
    parts["word/document.xml"] = parts["word/document.xml"].replace(
        b"<w:body>", b"<w:body>" + body.encode(), 1
    )
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as target:
        for name, data in parts.items():
            target.writestr(name, data)


def cell(text: str, properties: str = "") -> str:
    return f"<w:tc><w:tcPr>{properties}</w:tcPr><w:p><w:r><w:t>{text}</w:t></w:r></w:p></w:tc>"


def test_a_huge_grid_span_allocates_nothing(tmp_path: Path) -> None:
    """python-docx yields a cell once per grid column it spans: `w:gridSpan="2000000000"` in
    a 2 KB file took a minute and gigabytes before a MemoryError."""
    spanned = cell("Année", '<w:gridSpan w:val="2000000000"/>') + cell("Fait")
    make_docx(tmp_path / "grille.docx", f"<w:tbl><w:tr>{spanned}</w:tr><w:tr>{cell('2008')}</w:tr></w:tbl>")
    make_docx(tmp_path / "normal.docx", "")
    assert (tmp_path / "grille.docx").stat().st_size < 40_000

    outcome = load_with_peak(tmp_path / "normal.docx", tmp_path / "grille.docx")
    assert outcome.get("text") == "Année | Fait\n2008\n\nFin du document.", outcome.get("error")
    assert outcome["growth_kb"] < 50_000


def test_malformed_spans_and_merges_read_as_defaults(tmp_path: Path) -> None:
    """A span of "abc" or a merge continuing nothing gave a traceback (unexpected error)."""
    rows = [
        cell("Année", '<w:gridSpan w:val="abc"/>') + cell("Fait", '<w:vMerge w:val="continue"/>'),
        cell("2008", '<w:gridSpan w:val="-4"/>') + cell("Début"),
    ]
    body = "<w:tbl>" + "".join(f"<w:tr>{r}</w:tr>" for r in rows) + "</w:tbl>"
    make_docx(tmp_path / "bizarre.docx", body)
    docs, skipped = load_documents([tmp_path / "bizarre.docx"])
    assert not skipped and docs[0].text == "Année\n2008 | Début\n\nFin du document."


def test_a_long_vertical_merge_reads_in_one_pass(tmp_path: Path) -> None:
    """Each continued cell was looked up row by row back to where its merge starts: 1,500
    rows took a quadratic walk and overflowed the stack (unexpected error)."""
    rows = [cell("Lieu", '<w:vMerge w:val="restart"/>') + cell("Année 0")]
    rows += [cell("", "<w:vMerge/>") + cell(f"Année {i}") for i in range(1, 1_500)]
    body = "<w:tbl>" + "".join(f"<w:tr>{r}</w:tr>" for r in rows) + "</w:tbl>"
    make_docx(tmp_path / "fusion.docx", body)
    docs, skipped = load_documents([tmp_path / "fusion.docx"])
    assert not skipped
    lines = docs[0].text.split("\n")
    assert lines[0] == "Lieu | Année 0" and lines[1_499] == "Lieu | Année 1499"
