"""Word (.docx): paragraphs, headings by style, lists and tables (python-docx).

The zip is checked before python-docx opens it: a few hundred KB can unzip to gigabytes
of XML (a zip bomb), so the declared sizes of its parts must stay within the limits.
"""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path

from bot.documents import Document
from bot.ingest.loaders.common import (
    CORRUPT_DOCX,
    MAX_DOCX_UNZIPPED_BYTES,
    MAX_DOCX_XML_BYTES,
    Block,
    DocumentError,
    assemble,
    docx_too_large,
    first_heading,
    prettify_stem,
    squash,
)

_HEADING_STYLE = re.compile(r"^(?:heading|titre|überschrift|título|titolo)\s*(\d)$", re.I)


def check_unzipped_size(
    data: bytes,
    corrupt: str = CORRUPT_DOCX,
    kind: str = "document Word trop volumineux",
    suffix: str = ".docx",
) -> None:
    """Refuse an office file (.docx, .odt, .pptx: all zips of XML parts) whose parts,
    unzipped, would pass the limits. zipfile never yields more than an entry's declared
    size (a lying entry fails its CRC), so the declared sizes bound what the parser reads."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            entries = archive.infolist()
    except (zipfile.BadZipFile, ValueError, OSError) as exc:
        raise DocumentError(corrupt) from exc
    xml = [e for e in entries if e.filename.lower().endswith((".xml", ".rels"))]
    xml_total = sum(e.file_size for e in xml)
    if xml_total > MAX_DOCX_XML_BYTES:
        raise DocumentError(docx_too_large(True, xml_total, MAX_DOCX_XML_BYTES, kind, suffix))
    total = sum(e.file_size for e in entries)
    if total > MAX_DOCX_UNZIPPED_BYTES:
        raise DocumentError(docx_too_large(False, total, MAX_DOCX_UNZIPPED_BYTES, kind, suffix))


def load_docx(data: bytes, path: Path) -> Document:
    import docx
    from docx.table import Table

    check_unzipped_size(data)
    try:
        document = docx.Document(io.BytesIO(data))
    except Exception as exc:
        raise DocumentError(CORRUPT_DOCX) from exc

    blocks: list[Block] = []
    title_style = None
    for item in document.iter_inner_content():
        if isinstance(item, Table):
            for row in item.rows:
                cells, last = [], None
                for cell in row.cells:
                    if cell._tc is last:  # a merged cell repeats
                        continue
                    last = cell._tc
                    cells.append(squash(cell.text.replace("\n", " ")))
                if any(cells):
                    blocks.append(Block(" | ".join(c for c in cells if c), "row"))
            continue
        text = "\n".join(squash(line) for line in item.text.split("\n")).strip("\n")
        if not text:
            continue
        style = (item.style.name if item.style is not None else "") or ""
        if m := _HEADING_STYLE.match(style.strip()):
            blocks.append(Block(squash(text), "heading", max(1, min(int(m.group(1)), 6))))
        elif style.lower() in ("title", "titre"):
            title_style = title_style or squash(text)
            blocks.append(Block(text))
        elif style.lower().startswith(("list", "liste")):
            blocks.append(Block("- " + text, "li"))
        else:
            blocks.append(Block(text))

    text, sections = assemble(blocks)
    title = squash(document.core_properties.title or "") or title_style or first_heading(blocks)
    return Document(source=path.name, title=title or prettify_stem(path), text=text, sections=sections)
