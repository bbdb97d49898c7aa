"""PDF: the text of each page (pypdf); every page starts a section carrying its number."""

from __future__ import annotations

import io
import logging
import re
import unicodedata
from pathlib import Path

from bot.documents import Document, Section
from bot.ingest.loaders.common import (
    CONTROL_CHARS,
    CORRUPT_PDF,
    ENCRYPTED_PDF,
    MAX_TEXT_CHARS,
    SCANNED_PDF,
    DocumentError,
    prettify_stem,
    squash,
    text_too_long,
)

log = logging.getLogger("bot.ingest.loaders")

_LIGATURES = str.maketrans({"ﬀ": "ff", "ﬁ": "fi", "ﬂ": "fl", "ﬃ": "ffi", "ﬄ": "ffl", "ﬅ": "st", "ﬆ": "st"})
# Titles that are file names or a word processor's placeholder say nothing.
_USELESS_TITLE = re.compile(r"\.(docx?|pdf|odt|pptx?|indd)$|^(microsoft word|untitled)", re.I)


def _clean_page(text: str) -> str:
    text = unicodedata.normalize("NFC", text.translate(_LIGATURES))
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = CONTROL_CHARS.sub("", text)
    lines = [squash(line) for line in text.split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip("\n")


def _open(data: bytes):
    from pypdf import PdfReader

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            try:
                if not reader.decrypt(""):
                    raise DocumentError(ENCRYPTED_PDF)
            except DocumentError:
                raise
            except Exception as exc:
                raise DocumentError(ENCRYPTED_PDF) from exc
        pages = list(reader.pages)
    except DocumentError:
        raise
    except Exception as exc:
        raise DocumentError(CORRUPT_PDF) from exc
    return reader, pages


def load_pdf(data: bytes, path: Path, max_chars: int = MAX_TEXT_CHARS) -> Document:
    """Pages are extracted one by one; past `max_chars` extraction stops and the file is
    refused, saying at which page (a huge PDF costs no more than its first pages)."""
    reader, pages = _open(data)
    parts: list[str] = []
    sections: list[Section] = []
    offset = 0
    for number, page in enumerate(pages, start=1):
        try:
            page_text = _clean_page(page.extract_text() or "")
        except Exception:
            log.warning("%s : page %d illisible, ignorée", path.name, number, exc_info=True)
            continue
        if not page_text:
            continue
        if parts:
            parts.append("\n\n")
            offset += 2
        sections.append(Section(offset, (), number))
        parts.append(page_text)
        offset += len(page_text)
        if offset > max_chars:
            where = (
                f", atteint à la page {number} sur {len(pages)}",
                f", reached on page {number} of {len(pages)}",
            )
            raise DocumentError(text_too_long(None, *where, limit=max_chars))
    if not parts:
        raise DocumentError(SCANNED_PDF)

    try:
        meta = reader.metadata
        title = squash(meta.title or "") if meta is not None else ""
    except Exception:
        title = ""
    if _USELESS_TITLE.search(title):
        title = ""
    return Document(
        source=path.name, title=title or prettify_stem(path), text="".join(parts), sections=sections
    )
