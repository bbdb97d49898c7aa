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


CELL_SEPARATOR = " | "  # how the loaders join the cells of a table row on one line


def table_header(text: str, start: int) -> str | None:
    """For a table row starting at `start` (a line of cells), the first row of its table
    (its column headers); None for the first row itself and for text that is no row."""
    if start > 0 and text[start - 1] != "\n":
        return None  # a row starts a line; without this a long paragraph is read to its end
    end = text.find("\n", start)
    if CELL_SEPARATOR not in text[start : end if end >= 0 else len(text)]:
        return None
    first = start
    while first > 0 and text[first - 1] == "\n":
        previous = text.rfind("\n", 0, first - 1) + 1
        line = text[previous : first - 1]
        if CELL_SEPARATOR not in line:
            break
        first = previous
    if first == start:
        return None
    return text[first : text.find("\n", first)]


def table_headers(text: str, spans: list[tuple[int, int]]) -> list[str | None]:
    """`table_header` of every span, from one pass over the text's lines (an ingest reads
    tables of thousands of rows: looking back from each row would be quadratic)."""
    header_at: dict[int, str | None] = {}  # line start -> its table's first row
    first: str | None = None
    at = 0
    for line in text.split("\n"):
        if CELL_SEPARATOR in line:
            header_at[at] = first  # None for the first row itself
            first = line if first is None else first
        else:
            first = None
        at += len(line) + 1
    return [header_at.get(start) for start, _ in spans]


_UNKNOWN = object()


def sentence_reading(
    title: str, text: str, spans: list[tuple[int, int]], i: int, header=_UNKNOWN
) -> tuple[str, int]:
    """What sentence i is embedded with, and where in it the tokens it is aligned on start.

    A sentence is read after its document's title and the sentence before it ("Il débute en
    2008" needs both), and aligned on its own tokens; a table row is read after its column
    headers, and aligned on both ("Montant" is what « combien coûtent » finds).
    """
    a, b = spans[i]
    if header is _UNKNOWN:
        header = table_header(text, a)
    before = header if header is not None else (text[spans[i - 1][0] : spans[i - 1][1]] if i else "")
    context = f"{title}\n{before + ' ' if before else ''}{text[a:b]}"
    own = len(title) + 1 if header is not None else len(context) - (b - a)
    return context, own
