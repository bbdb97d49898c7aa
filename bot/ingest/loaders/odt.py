"""OpenDocument text (.odt): headings by outline level, paragraphs, lists and tables.

The file is a zip of XML parts: its sizes are checked first (as for .docx), then
`content.xml` and `meta.xml` are parsed by lxml with entities, DTDs and network access
off, so a billion-laughs part or an external entity reads nothing. No attribute sizes
anything: a run of spaces (`text:s text:c`) is clamped to what is left under the text
limit, repeated rows and columns (`table:number-*-repeated`) are read once, malformed
numbers fall back to a default, and the text read so far is counted as it grows.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

from bot.documents import Document
from bot.ingest.loaders.common import (
    CORRUPT_ODT,
    MAX_TEXT_CHARS,
    Block,
    DocumentError,
    assemble,
    attribute_int,
    first_heading,
    prettify_stem,
    squash,
    text_too_long,
)
from bot.ingest.loaders.docx import check_unzipped_size

_TEXT = "urn:oasis:names:tc:opendocument:xmlns:text:1.0"
_TABLE = "urn:oasis:names:tc:opendocument:xmlns:table:1.0"
_OFFICE = "urn:oasis:names:tc:opendocument:xmlns:office:1.0"
_DC = "http://purl.org/dc/elements/1.1/"


def _t(name: str) -> str:
    return f"{{{_TEXT}}}{name}"


# Containers whose content is read in order; anything else at block level is left out
# (tables of contents and indexes repeat the headings, tracked changes are not the text).
_CONTAINERS = {_t("section"), f"{{{_OFFICE}}}text", _t("list-header")}
_INLINE_SKIP = {_t("note"), _t("tracked-changes"), _t("bookmark-ref")}


def _parse(archive: zipfile.ZipFile, name: str):
    from lxml import etree

    parser = etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False, remove_comments=True
    )
    return etree.fromstring(archive.read(name), parser)


def _table(name: str) -> str:
    return f"{{{_TABLE}}}{name}"


# What holds a table's rows: headers and groups of rows nest, cells never hold the table's own rows.
_ROW_GROUPS = {_table(n) for n in ("table-header-rows", "table-rows", "table-row-group")}


def _clean(text: str) -> str:
    return "\n".join(squash(line) for line in text.split("\n")).strip("\n")


class _OdtText:
    """Reads the body into blocks, counting what it reads: past the text limit it stops (the
    document will be refused), and a space run never gets more than what is left."""

    def __init__(self) -> None:
        self.blocks: list[Block] = []
        self.title_style: str | None = None
        self.left = MAX_TEXT_CHARS  # characters of blocks still allowed before the limit
        self.spaces_left = MAX_TEXT_CHARS  # spaces that runs (`text:s`) may still expand to

    def add(self, block: Block) -> None:
        self.left -= len(block.text)
        if self.left < 0:
            raise DocumentError(text_too_long(None))
        self.blocks.append(block)

    def inline(self, element) -> str:
        """The text of a paragraph: spans and links read, `text:s` spaces and tabs expanded,
        notes left out (their text is not part of the sentence)."""
        parts = [element.text or ""]
        for child in element:
            tag = child.tag
            if tag == _t("s"):
                # `c="2000000000"` in a 400-byte file allocated 2 GB: a run gets at most what is
                # left under the limit, and all runs together no more than the limit (squash
                # folds a run to one space anyway).
                count = attribute_int(child.get(_t("c")), 1, 1, MAX_TEXT_CHARS)
                count = min(count, max(min(self.left, self.spaces_left), 1))
                self.spaces_left -= count
                parts.append(" " * count)
            elif tag == _t("tab"):
                parts.append(" ")
            elif tag == _t("line-break"):
                parts.append("\n")
            elif tag not in _INLINE_SKIP and isinstance(tag, str):
                parts.append(self.inline(child))
            parts.append(child.tail or "")
        return "".join(parts)

    def walk(self, element, depth: int = 0) -> None:
        for child in element:
            tag = child.tag
            if tag == _t("h"):
                text = squash(self.inline(child).replace("\n", " "))
                if text:
                    level = attribute_int(child.get(_t("outline-level")), 1, 1, 6)
                    self.add(Block(text, "heading", level))
            elif tag == _t("p"):
                text = _clean(self.inline(child))
                style = (child.get(_t("style-name")) or "").lower()
                if text and style == "title":
                    self.title_style = self.title_style or squash(text)
                if text:
                    self.add(Block(text))
            elif tag == _t("list"):
                self.list(child, depth)
            elif tag == _table("table"):
                self.table(child)
            elif tag in _CONTAINERS:
                self.walk(child, depth)

    def list(self, element, depth: int) -> None:
        first = True
        for item in element.iterchildren(_t("list-item")):
            for child in item:
                if child.tag in (_t("p"), _t("h")):
                    text = _clean(self.inline(child))
                    if text:
                        self.add(Block("  " * depth + "- " + text, "li", starts_group=first))
                        first = False
                elif child.tag == _t("list"):
                    self.list(child, depth + 1)

    def table(self, element) -> None:
        """One line a row, cells joined by « | ». A row or cell marked as repeated
        (`number-rows-repeated`, `number-columns-repeated`) is read once, and a table nested
        in a cell is part of that cell's text, not rows of the outer table."""
        first = True
        for row in _rows(element):
            cells = []
            for cell in row.iterchildren(_table("table-cell")):  # a covered (merged) cell repeats
                text = squash(" ".join(self.inline(p) for p in _paragraphs(cell)).replace("\n", " "))
                if text:
                    cells.append(text)
            if cells:
                self.add(Block(" | ".join(cells), "row", starts_group=first))
                first = False


def _paragraphs(element):
    """The paragraphs and headings inside a cell (lists and nested tables included), each
    once: the paragraphs of a note are the note's, not the cell's."""
    for child in element.iterchildren():
        if child.tag in (_t("p"), _t("h")):
            yield child
        elif child.tag not in _INLINE_SKIP and isinstance(child.tag, str):
            yield from _paragraphs(child)


def _rows(element):
    """The rows of a table, in order, through its header rows and groups of rows."""
    for child in element.iterchildren():
        if child.tag == _table("table-row"):
            yield child
        elif child.tag in _ROW_GROUPS:
            yield from _rows(child)


def load_odt(data: bytes, path: Path) -> Document:
    check_unzipped_size(data, CORRUPT_ODT, "document OpenDocument trop volumineux", ".odt")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            content = _parse(archive, "content.xml")
            names = set(archive.namelist())
            meta = _parse(archive, "meta.xml") if "meta.xml" in names else None
    except DocumentError:
        raise
    except Exception as exc:  # a missing part, bad XML, a bad zip entry
        raise DocumentError(CORRUPT_ODT) from exc

    walker = _OdtText()
    try:
        for body in content.iter(f"{{{_OFFICE}}}text"):
            walker.walk(body)
            break
    except DocumentError:
        raise
    except Exception as exc:  # markup no reader expects must read as a corrupt file, not a crash
        raise DocumentError(CORRUPT_ODT) from exc
    text, sections = assemble(walker.blocks)
    title = ""
    if meta is not None:
        node = next(meta.iter(f"{{{_DC}}}title"), None)
        title = squash(node.text or "") if node is not None else ""
    title = title or walker.title_style or first_heading(walker.blocks) or ""
    return Document(source=path.name, title=title or prettify_stem(path), text=text, sections=sections)
