"""PDF loader: pages as sections, corrupt and encrypted files."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.ingest.loaders import DocumentError, load_document, load_documents
from bot.ingest.loaders.pdf import load_pdf
from tests.ingest.loaders.helpers import DEJAVU, make_pdf, skipped_reason


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


def test_pdf_extraction_stops_past_the_text_cap_and_names_the_page(tmp_path: Path) -> None:
    pages = [f"Page {n} : " + "texte du rapport annuel. " * 20 for n in range(1, 5)]
    make_pdf(tmp_path / "long.pdf", pages)
    data = (tmp_path / "long.pdf").read_bytes()
    whole = load_pdf(data, tmp_path / "long.pdf")
    first_two = whole.sections[2].start - 2  # the text of pages 1 and 2
    assert len(load_pdf(data, tmp_path / "long.pdf", max_chars=len(whole.text)).text) == len(whole.text)
    with pytest.raises(DocumentError) as caught:
        load_pdf(data, tmp_path / "long.pdf", max_chars=first_two - 1)
    reason = str(caught.value)
    assert "atteint à la page 2 sur 4" in reason and "reached on page 2 of 4" in reason
    assert f"{first_two - 1:,} characters" in reason
