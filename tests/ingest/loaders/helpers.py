"""Helpers shared by the loader tests. Every fixture file is made in tmp_path."""

from __future__ import annotations

from pathlib import Path

from bot.documents import Document
from bot.ingest.loaders import SkippedFile

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


ODT_NS = (
    'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
    'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" '
    'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
    'xmlns:dc="http://purl.org/dc/elements/1.1/" '
    'xmlns:meta="urn:oasis:names:tc:opendocument:xmlns:meta:1.0"'
)


def make_odt(path: Path, body: str, title: str | None = None, prolog: str = "") -> None:
    """A minimal OpenDocument text file, zipped as LibreOffice does: `body` is the XML
    inside <office:text>; `prolog` goes before the root element (a DTD, say)."""
    import zipfile

    content = (
        f'<?xml version="1.0" encoding="UTF-8"?>{prolog}<office:document-content {ODT_NS} '
        f'office:version="1.3"><office:body><office:text>{body}</office:text></office:body>'
        "</office:document-content>"
    )
    meta = (
        f'<?xml version="1.0" encoding="UTF-8"?><office:document-meta {ODT_NS}><office:meta>'
        + (f"<dc:title>{title}</dc:title>" if title else "")
        + "</office:meta></office:document-meta>"
    )
    manifest = (
        '<?xml version="1.0" encoding="UTF-8"?><manifest:manifest '
        'xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0">'
        '<manifest:file-entry manifest:full-path="/" '
        'manifest:media-type="application/vnd.oasis.opendocument.text"/></manifest:manifest>'
    )
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("mimetype", "application/vnd.oasis.opendocument.text", zipfile.ZIP_STORED)
        archive.writestr("content.xml", content)
        archive.writestr("meta.xml", meta)
        archive.writestr("META-INF/manifest.xml", manifest)


# Loads a warm-up file (imports and parsers in place), then the file given, in a child process
# under a 1.5 GB address-space cap; prints the growth of its peak RSS (KB) and the outcome.
_PEAK_SCRIPT = """
import json, resource, sys
from pathlib import Path
from bot.ingest.loaders import DocumentError, load_document
warm, path = Path(sys.argv[1]), Path(sys.argv[2])
load_document(warm, warm.parent)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
resource.setrlimit(resource.RLIMIT_AS, (1_500_000_000, 1_500_000_000))
try:
    outcome = {"text": load_document(path, path.parent).text}
except DocumentError as exc:
    outcome = {"error": str(exc)}
outcome["growth_kb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
print(json.dumps(outcome))
"""


def load_with_peak(warm: Path, path: Path) -> dict:
    """Load `path` in a fresh process (`warm`, a small file of the same format, first): its
    text or error, and `growth_kb`, how much its peak RSS grew while loading it."""
    import json
    import subprocess
    import sys

    from bot.config import REPO_ROOT

    result = subprocess.run(
        [sys.executable, "-c", _PEAK_SCRIPT, str(warm), str(path)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout.splitlines()[-1])
