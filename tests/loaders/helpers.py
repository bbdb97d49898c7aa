"""Helpers shared by the loader tests. Every fixture file is made in tmp_path."""

from __future__ import annotations

from pathlib import Path

from bot.loaders import SkippedFile
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
