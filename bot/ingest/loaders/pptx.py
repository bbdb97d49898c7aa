"""PowerPoint (.pptx): one section per slide, its number as the page (python-pptx).

A slide reads as its title (a heading), its text boxes and tables from top to bottom,
then its speaker notes after « Notes : ». The zip is checked like a .docx first. The
attributes read here are read from the XML defensively: python-pptx gives `lvl` as written
(`lvl="2000000000"` indented a list item by 4 GB) and raises on a malformed merge flag or
position; markup it cannot read makes a corrupt file, never a crash.
"""

from __future__ import annotations

import io
from pathlib import Path

from bot.documents import Document
from bot.ingest.loaders.common import (
    CORRUPT_PPTX,
    Block,
    DocumentError,
    assemble,
    attribute_int,
    prettify_stem,
    squash,
)
from bot.ingest.loaders.docx import check_unzipped_size

NOTES = "Notes : "


def _lines(text: str) -> str:
    # python-pptx gives a vertical tab for a line break inside a paragraph
    text = text.replace("\x0b", "\n")
    return "\n".join(squash(line) for line in text.split("\n") if squash(line))


def _shape_blocks(shape, title_id: int | None) -> list[Block]:
    from pptx.enum.shapes import MSO_SHAPE_TYPE

    if shape.shape_id == title_id:
        return []
    if shape.shape_type == MSO_SHAPE_TYPE.GROUP:
        return [b for s in _reading_order(shape.shapes) for b in _shape_blocks(s, title_id)]
    if getattr(shape, "has_table", False) and shape.has_table:
        blocks = []
        for row in shape.table.rows:
            cells, last = [], None
            for cell in row.cells:
                if _spanned(cell):  # covered by a merged cell: its text is the merged one's
                    continue
                if (text := squash(_lines(cell.text).replace("\n", " "))) and text != last:
                    cells.append(text)
                last = text
            if cells:
                blocks.append(Block(" | ".join(cells), "row", starts_group=not blocks))
        return blocks
    if not getattr(shape, "has_text_frame", False) or not shape.has_text_frame:
        return []
    blocks = []
    for paragraph in shape.text_frame.paragraphs:
        text = _lines("".join(run.text for run in paragraph.runs) or paragraph.text)
        if not text:
            continue
        if (level := _level(paragraph)) > 0:
            blocks.append(Block("  " * (level - 1) + "- " + text, "li"))
        else:
            blocks.append(Block(text))
    return blocks


def _level(paragraph) -> int:
    """The outline level of a paragraph, 0 to 8 as the format allows."""
    properties = paragraph._p.pPr
    return attribute_int(properties.get("lvl") if properties is not None else None, 0, 0, 8)


def _spanned(cell) -> bool:
    return any(cell._tc.get(flag) in ("1", "true") for flag in ("hMerge", "vMerge"))


def _reading_order(shapes) -> list:
    """Top to bottom, then left to right (the order of the file is the drawing order)."""
    return sorted(shapes, key=_position)


def _position(shape) -> tuple[int, int]:
    try:
        return (shape.top or 0), (shape.left or 0)
    except Exception:  # a malformed offset: the shape is read, where the file puts it
        return 0, 0


def load_pptx(data: bytes, path: Path) -> Document:
    from pptx import Presentation

    check_unzipped_size(data, CORRUPT_PPTX, "présentation PowerPoint trop volumineuse", ".pptx")
    try:
        presentation = Presentation(io.BytesIO(data))
        slides = list(presentation.slides)
    except Exception as exc:
        raise DocumentError(CORRUPT_PPTX) from exc

    try:
        blocks, first_title = _slides_blocks(slides)
        title = squash(presentation.core_properties.title or "") or first_title
    except DocumentError:
        raise
    except Exception as exc:  # markup python-pptx does not expect: a corrupt file, not a crash
        raise DocumentError(CORRUPT_PPTX) from exc
    text, sections = assemble(blocks)
    return Document(source=path.name, title=title or prettify_stem(path), text=text, sections=sections)


def _slides_blocks(slides) -> tuple[list[Block], str | None]:
    blocks: list[Block] = []
    first_title = None
    for number, slide in enumerate(slides, start=1):
        slide_blocks: list[Block] = []
        title_shape = slide.shapes.title
        title_id = title_shape.shape_id if title_shape is not None else None
        if title_shape is not None and (title := squash(_lines(title_shape.text).replace("\n", " "))):
            slide_blocks.append(Block(title, "heading", 1))
            first_title = first_title or title
        for shape in _reading_order(slide.shapes):
            slide_blocks += _shape_blocks(shape, title_id)
        if slide.has_notes_slide and slide.notes_slide.notes_text_frame is not None:
            notes = _lines(slide.notes_slide.notes_text_frame.text)
            if notes:
                slide_blocks.append(Block(NOTES + notes))
        if slide_blocks:
            slide_blocks[0].page = number
            blocks += slide_blocks
    return blocks, first_title
