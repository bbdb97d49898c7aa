"""Extractive answers: the sentences of the top passages that the reader finds most likely
to answer, quoted verbatim with [n] markers, or `no_answer` when it is not confident."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from bot.answer.markers import neutral_brackets
from bot.answer.reader.align import QuestionWords, TokenSource, question_words
from bot.answer.reader.features import Reading, SentenceCache, read
from bot.answer.reader.model import ReaderModel, choose
from bot.answer.reader.short_answer import pick_span
from bot.answer.retrieval import Hit
from bot.embedding import Tokens
from bot.index.store import LoadedIndex
from bot.schema import Citation, ShortAnswer
from bot.text import detect_language

# A refusal in the question's language: the quotes stay in the documents' own.
NO_ANSWER = {
    "fr": "Je ne trouve pas la réponse dans les documents.",
    "en": "I can't find the answer in the documents.",
}
EncodeTokens = Callable[[list[str]], list[Tokens]]  # passages -> their token vectors


@dataclass(frozen=True)
class Composed:
    status: str
    text: str
    citations: list[Citation]
    confidence: float
    short_answer: ShortAnswer | None = None


class Composer:
    """Reads the top passages with the fitted reader (bot/answer/reader) and quotes at most two
    sentences; refuses when the best sentence's probability is below `threshold`."""

    def __init__(
        self,
        index: LoadedIndex,
        model: ReaderModel,
        threshold: float | None = None,
        encode_tokens: EncodeTokens | None = None,
    ):
        self.index = index
        # The candidates' token vectors: stored in the index, or computed with the model.
        self.tokens = TokenSource(index, encode_tokens)
        self.model = model
        self.threshold = threshold if threshold is not None else model.threshold
        self.cache = SentenceCache(index)

    def __call__(
        self, question: str, query_vector: np.ndarray, hits: list[Hit], tokens: Tokens | None = None
    ) -> Composed:
        words = question_words(question, tokens) if tokens is not None else None
        reading = (
            read(question, query_vector, self.index, hits, self.cache, words, self.tokens) if hits else None
        )
        if reading is None or not reading.candidates:
            return Composed("no_answer", NO_ANSWER[detect_language(question)], [], 0.0)
        judgement = self.model.judge(reading.features)
        confidence = round(judgement.confidence, 4)
        chosen = choose(
            judgement, [c.text for c in reading.candidates], self.threshold, self.model.second_ratio
        )
        if not chosen:
            return Composed("no_answer", NO_ANSWER[detect_language(question)], [], confidence)
        citations, parts = [], []
        for n, (rows, start, end) in enumerate(self._merge_adjacent(reading, chosen), start=1):
            first = reading.candidates[rows[0]]
            chunk = first.hit.chunk
            doc = self.index.documents[chunk.source]
            quote = doc.text[start:end]
            citations.append(
                Citation(
                    n=n,
                    title=doc.title,
                    source=doc.source,
                    url=doc.url,
                    page=chunk.page,
                    chunk_id=chunk.chunk_id,
                    char_start=start,
                    char_end=end,
                    quote=quote,
                    score=round(float(max(judgement.shares[r] for r in rows)), 4),
                )
            )
            parts.append(f"{neutral_brackets(_one_line(quote))} [{n}]")  # only our [n] are markers
        short = self._short_answer(question, reading, chosen[0], citations, judgement.confidence, words)
        return Composed("answered", " ".join(parts), citations, confidence, short)

    def _merge_adjacent(self, reading: Reading, chosen: list[int]) -> list[tuple[list[int], int, int]]:
        """Neighbouring sentences of one document are quoted as one passage, in reading order."""
        spans: list[tuple[list[int], int, int]] = []
        for i in sorted(chosen, key=lambda i: reading.candidates[i].row):
            row = reading.candidates[i].row
            start, end = (int(x) for x in self.index.sentence_spans[row])
            if spans:
                previous = reading.candidates[spans[-1][0][-1]].row
                same_doc = self.index.sentence_source[previous] == self.index.sentence_source[row]
                if same_doc and previous + 1 == row:
                    rows, s0, _ = spans[-1]
                    spans[-1] = (rows + [i], s0, end)
                    continue
            spans.append(([i], start, end))
        return spans

    def _short_answer(
        self,
        question: str,
        reading: Reading,
        best: int,
        citations: list[Citation],
        confidence: float,
        words: QuestionWords | None,
    ) -> ShortAnswer | None:
        candidate = reading.candidates[best]
        anchors = self._anchors(words, candidate.row) if words is not None else None
        span = pick_span(reading.kind, question, candidate.text, reading.spans[best], confidence, anchors)
        if span is None:
            return None
        return self._cited_span(reading, best, citations, span.start, span.end)

    def _anchors(self, words: QuestionWords, row: int) -> list[tuple[int, int]]:
        """Where in the sentence each question word found its counterpart (characters)."""
        (tokens,) = self.tokens.tokens([row])
        if len(words.words) == 0 or len(tokens.vectors) == 0:
            return []
        _, shift = self.tokens.aligned_text(row)
        best = (words.vectors @ tokens.vectors.T).argmax(axis=1)
        return [
            (int(a) - shift, int(b) - shift)
            for a, b in tokens.offsets[best]
            if a >= shift  # a table's column header is no place in the row
        ]

    def _cited_span(
        self, reading: Reading, best: int, citations: list[Citation], span_start: int, span_end: int
    ) -> ShortAnswer | None:
        """Characters span_start:span_end of a candidate sentence, as a short answer inside a citation."""
        candidate = reading.candidates[best]
        sentence_start = int(self.index.sentence_spans[candidate.row][0])
        start, end = sentence_start + span_start, sentence_start + span_end
        source = candidate.hit.chunk.source
        citation = next(
            (c for c in citations if c.source == source and c.char_start <= start and end <= c.char_end), None
        )
        if citation is None:
            return None
        text = self.index.documents[source].text[start:end]
        return ShortAnswer(text=text, n=citation.n, char_start=start, char_end=end)


def _one_line(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()
