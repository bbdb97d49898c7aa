"""OpenDocument text (.odt): headings by outline level, paragraphs, lists and tables.

The file is a zip of XML parts: its sizes are checked first (as for .docx), then
`content.xml` and `meta.xml` are parsed by lxml with entities, DTDs and network access
off, so a billion-laughs part or an external entity reads nothing.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

from bot.documents import Document
from bot.ingest.loaders.common import (
    CORRUPT_ODT,
    Block,
    DocumentError,
    assemble,
    first_heading,
    prettify_stem,
    squash,
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


def _inline(element) -> str:
    """The text of a paragraph: spans and links read, `text:s` spaces and tabs expanded,
    notes left out (their text is not part of the sentence)."""
    parts = [element.text or ""]
    for child in element:
        tag = child.tag
        if tag == _t("s"):
            parts.append(" " * int(child.get(_t("c"), "1") or 1))
        elif tag == _t("tab"):
            parts.append(" ")
        elif tag == _t("line-break"):
            parts.append("\n")
        elif tag not in _INLINE_SKIP and isinstance(tag, str):
            parts.append(_inline(child))
        parts.append(child.tail or "")
    return "".join(parts)


def _clean(text: str) -> str:
    return "\n".join(squash(line) for line in text.split("\n")).strip("\n")


class _OdtText:
    def __init__(self) -> None:
        self.blocks: list[Block] = []
        self.title_style: str | None = None

    def walk(self, element, depth: int = 0) -> None:
        for child in element:
            tag = child.tag
            if tag == _t("h"):
                text = squash(_inline(child).replace("\n", " "))
                if text:
                    level = int(child.get(_t("outline-level"), "1") or 1)
                    self.blocks.append(Block(text, "heading", max(1, min(level, 6))))
            elif tag == _t("p"):
                text = _clean(_inline(child))
                style = (child.get(_t("style-name")) or "").lower()
                if text and style == "title":
                    self.title_style = self.title_style or squash(text)
                if text:
                    self.blocks.append(Block(text))
            elif tag == _t("list"):
                self.list(child, depth)
            elif tag == f"{{{_TABLE}}}table":
                self.table(child)
            elif tag in _CONTAINERS:
                self.walk(child, depth)

    def list(self, element, depth: int) -> None:
        first = True
        for item in element.iter(_t("list-item")):
            if item.getparent() is not element:
                continue
            for child in item:
                if child.tag in (_t("p"), _t("h")):
                    text = _clean(_inline(child))
                    if text:
                        self.blocks.append(Block("  " * depth + "- " + text, "li", starts_group=first))
                        first = False
                elif child.tag == _t("list"):
                    self.list(child, depth + 1)

    def table(self, element) -> None:
        first = True
        for row in element.iter(f"{{{_TABLE}}}table-row"):
            cells = []
            for cell in row:
                if cell.tag != f"{{{_TABLE}}}table-cell":  # a covered (merged) cell repeats
                    continue
                text = squash(" ".join(_inline(p) for p in cell.iter(_t("p"), _t("h"))).replace("\n", " "))
                if text:
                    cells.append(text)
            if cells:
                self.blocks.append(Block(" | ".join(cells), "row", starts_group=first))
                first = False


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
    for body in content.iter(f"{{{_OFFICE}}}text"):
        walker.walk(body)
        break
    text, sections = assemble(walker.blocks)
    title = ""
    if meta is not None:
        node = next(meta.iter(f"{{{_DC}}}title"), None)
        title = squash(node.text or "") if node is not None else ""
    title = title or walker.title_style or first_heading(walker.blocks) or ""
    return Document(source=path.name, title=title or prettify_stem(path), text=text, sections=sections)
