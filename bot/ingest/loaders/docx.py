"""Word (.docx): paragraphs, headings by style, lists and tables (python-docx).

The zip is checked before python-docx opens it: a few hundred KB can unzip to gigabytes
of XML (a zip bomb), so the declared sizes of its parts must stay within the limits.
Table rows are read from the XML, not python-docx's grid: it yields a cell once per
column it spans (`w:gridSpan="2000000000"` is 2 billion cells) and follows a vertical
merge up row by row, so no attribute sizes anything here.
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
    attribute_int,
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


def _table_rows(table) -> list[Block]:
    """One block a row, its cells joined by « | »: a cell spanning several columns once, a
    cell continuing a vertical merge with the text of the cell it continues."""
    from docx.oxml.ns import qn
    from docx.table import _Cell

    blocks: list[Block] = []
    above: dict[int, str] = {}  # grid column where a cell of the previous row starts -> its text
    for tr in table._tbl.tr_lst:
        before = tr.find(f"{qn('w:trPr')}/{qn('w:gridBefore')}")
        column = attribute_int(before.get(qn("w:val")) if before is not None else None, 0, 0, 10_000)
        here: dict[int, str] = {}
        cells = []
        for tc in tr.tc_lst:
            span = tc.find(f"{qn('w:tcPr')}/{qn('w:gridSpan')}")
            merge = tc.find(f"{qn('w:tcPr')}/{qn('w:vMerge')}")
            if merge is not None and merge.get(qn("w:val"), "continue") == "continue":
                text = above.get(column, "")
            else:
                text = squash(_Cell(tc, table).text.replace("\n", " "))
            here[column] = text
            cells.append(text)
            column += attribute_int(span.get(qn("w:val")) if span is not None else None, 1, 1, 10_000)
        above = here
        if any(cells):
            blocks.append(Block(" | ".join(c for c in cells if c), "row"))
    return blocks


def load_docx(data: bytes, path: Path) -> Document:
    import docx

    check_unzipped_size(data)
    try:
        document = docx.Document(io.BytesIO(data))
        blocks, title_style = _blocks(document)
        title = squash(document.core_properties.title or "") or title_style or first_heading(blocks)
    except DocumentError:
        raise
    except Exception as exc:  # markup python-docx does not expect: a corrupt file, not a crash
        raise DocumentError(CORRUPT_DOCX) from exc
    text, sections = assemble(blocks)
    return Document(source=path.name, title=title or prettify_stem(path), text=text, sections=sections)


def _blocks(document) -> tuple[list[Block], str | None]:
    from docx.table import Table

    blocks: list[Block] = []
    title_style = None
    for item in document.iter_inner_content():
        if isinstance(item, Table):
            blocks += _table_rows(item)
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
    return blocks, title_style
