"""The things that flow through the pipeline: documents, chunks and search hits."""

from __future__ import annotations

import hashlib
from bisect import bisect_right
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Section:
    """A stretch of a document's text that starts at `start` under a heading path."""

    start: int
    headings: tuple[str, ...] = ()
    page: int | None = None  # 1-based page number for paged formats (PDF)


@dataclass
class Document:
    """A loaded document. `text` is the stored text every citation offset points into."""

    source: str  # path relative to the corpus root, with forward slashes
    title: str
    text: str
    sections: list[Section] = field(default_factory=list)
    url: str | None = None
    date: str | None = None
    ingested_at: str = ""  # when an ingest stored it (ISO 8601); empty until then
    ingested_at: str = ""  # when an ingest stored it (ISO 8601); empty until then

    @property
    def content_hash(self) -> str:
        h = hashlib.sha256()
        for part in (self.title, self.url or "", self.date or "", self.text):
            h.update(part.encode("utf-8"))
            h.update(b"\0")
        return h.hexdigest()

    def section_at(self, offset: int) -> Section:
        """The section that contains `offset` (sections are sorted by start). A binary search:
        the chunker asks once a section, and a page of headings has tens of thousands."""
        at = bisect_right(self.sections, offset, key=lambda s: s.start)
        return self.sections[at - 1] if at else Section(0)


@dataclass(frozen=True)
class Chunk:
    """A passage of a document, located by character offsets into `Document.text`: the one
    model of a chunk, from the chunker through storage to search hits. Its text is
    `document.text[char_start:char_end]`, never copied (an index may hold millions)."""

    source: str
    char_start: int
    char_end: int
    headings: tuple[str, ...] = ()
    page: int | None = None

    @property
    def chunk_id(self) -> str:
        return f"{self.source}#{self.char_start}-{self.char_end}"
