"""Sentence- and heading-aware chunking with character offsets into the stored text."""

from __future__ import annotations

from dataclasses import dataclass

from bot.documents import Chunk, Document
from bot.text import sentence_spans


@dataclass(frozen=True)
class Chunker:
    """Groups whole sentences into chunks of about `size` characters.

    A chunk never crosses a heading (or a PDF page), never cuts a sentence (a sentence
    longer than `size` is a chunk of its own), and starts with the last `overlap`
    sentences of the previous chunk in the same section.
    """

    size: int = 800
    overlap: int = 1

    def __call__(self, doc: Document) -> list[Chunk]:
        chunks: list[Chunk] = []
        bounds = [s.start for s in doc.sections if s.start > 0] + [len(doc.text)]
        start = 0
        for stop in bounds:
            chunks.extend(self._chunk_section(doc, start, stop))
            start = stop
        return chunks

    def _chunk_section(self, doc: Document, start: int, stop: int) -> list[Chunk]:
        section = doc.section_at(start)
        sentences = sentence_spans(doc.text, start, stop)
        if (
            len(sentences) == 1
            and section.headings
            and (doc.text[slice(*sentences[0])] == section.headings[-1])
        ):
            return []  # a heading straight followed by a sub-heading: nothing to retrieve
        chunks: list[Chunk] = []
        first = 0
        while first < len(sentences):
            last = first
            while last + 1 < len(sentences) and sentences[last + 1][1] - sentences[first][0] <= self.size:
                last += 1
            a, b = sentences[first][0], sentences[last][1]
            chunks.append(Chunk(doc.source, a, b, section.headings, section.page))
            if last + 1 >= len(sentences):
                break
            first = max(first + 1, last + 1 - self.overlap)
        return chunks


def embedding_text(doc_title: str, chunk: Chunk, doc_text: str) -> str:
    """What the model sees: the title and heading path give a passage its context."""
    context = " > ".join(dict.fromkeys(h for h in (doc_title, *chunk.headings) if h))
    text = doc_text[chunk.char_start : chunk.char_end]
    return f"{context}\n{text}" if context else text
