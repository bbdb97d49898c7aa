"""Extractive answers: the sentences of the top passages that answer the question, quoted
verbatim with [n] markers, or `no_answer` when the evidence is too weak."""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from bot.index import LoadedIndex
from bot.markers import neutral_brackets
from bot.retrieval import Hit
from bot.schema import Citation
from bot.text import terms

NO_ANSWER = "Je ne trouve pas la réponse dans les documents."

# Sentence score = cosine(question, sentence in context) + COVERAGE_WEIGHT * share of the
# question's (idf-weighted) terms found in the sentence. Both weights and the refusal
# threshold were chosen with `alliance-bot eval` on the Alliance questions plus off-topic ones.
COVERAGE_WEIGHT = 0.3
# A "when" question prefers sentences with a date, a "how many" one a number.
TYPE_BONUS = 0.03
# A second sentence is quoted when it scores almost as well, or a bit less well but
# follows or precedes the best one (answers often span two sentences).
SECOND_SENTENCE_MARGIN = 0.02
NEIGHBOUR_MARGIN = 0.07
PASSAGES_READ = 3

_ASKS_DATE = re.compile(
    r"\b(quand|quelle ann[ée]e|quelle date|depuis quand|en quelle|when|what year)\b", re.I
)
_ASKS_NUMBER = re.compile(r"\b(combien|how (many|much))\b", re.I)
_DATE = re.compile(
    r"\b(1[89]\d\d|20\d\d|janvier|février|mars|avril|mai|juin|juillet|août|septembre|"
    r"octobre|novembre|décembre)\b", re.I
)
_NUMBER = re.compile(r"\d")


@dataclass(frozen=True)
class Evidence:
    sentence: int  # row in the index's sentence table
    hit: Hit
    score: float
    coverage: float
    cosine: float


@dataclass(frozen=True)
class Composed:
    status: str
    text: str
    citations: list[Citation]
    confidence: float


class Composer:
    def __init__(self, index: LoadedIndex, threshold: float):
        self.index = index
        self.threshold = threshold

    def __call__(self, question: str, query_vector: np.ndarray, hits: list[Hit]) -> Composed:
        ranked = self.rank_sentences(question, query_vector, hits[:PASSAGES_READ])
        if not ranked or ranked[0].score < self.threshold:
            confidence = ranked[0].score if ranked else 0.0
            return Composed("no_answer", NO_ANSWER, [], confidence)
        best = ranked[0]
        chosen = [best] + [
            e for e in ranked[1:3]
            if e.score >= best.score - SECOND_SENTENCE_MARGIN
            or (abs(e.sentence - best.sentence) == 1 and e.score >= best.score - NEIGHBOUR_MARGIN)
        ][:1]
        citations, parts = [], []
        for n, span in enumerate(self._merge_adjacent(chosen), start=1):
            evidence, start, end = span
            chunk = evidence.hit.chunk
            doc = self.index.documents[chunk.source]
            quote = doc.text[start:end]
            citations.append(
                Citation(
                    n=n, title=doc.title, source=doc.source, url=doc.url, page=chunk.page,
                    chunk_id=chunk.chunk_id, char_start=start, char_end=end, quote=quote,
                    score=round(evidence.score, 4),
                )
            )
            parts.append(f"{neutral_brackets(_one_line(quote))} [{n}]")  # only our [n] are markers
        return Composed("answered", " ".join(parts), citations, ranked[0].score)

    def rank_sentences(self, question: str, query_vector: np.ndarray, hits: list[Hit]) -> list[Evidence]:
        index = self.index
        question_terms = set(terms(question, index.manifest.language))
        weights = {t: index.bm25.term_idf(t) for t in question_terms}
        total = sum(weights.values()) or 1.0
        seen: set[int] = set()
        expected = _DATE if _ASKS_DATE.search(question) else (
            _NUMBER if _ASKS_NUMBER.search(question) else None
        )
        evidence = []
        for hit in hits:
            rows = [r for r in index.chunk_sentences[hit.chunk.row] if r not in seen]
            seen.update(rows)
            if not rows:
                continue
            if index.sentence_vectors is not None:
                cosines = index.sentence_vectors[rows] @ query_vector.ravel()
            else:
                cosines = np.full(len(rows), hit.dense_score)
            for row, cosine in zip(rows, cosines, strict=True):
                start, end = index.sentence_spans[row]
                text = index.documents[index.sentence_source[row]].text[start:end]
                if _cannot_answer(text):
                    continue
                found = set(terms(text, index.manifest.language)) & question_terms
                coverage = sum(weights[t] for t in found) / total
                score = float(cosine) + COVERAGE_WEIGHT * coverage
                if expected is not None and expected.search(text):
                    score += TYPE_BONUS
                evidence.append(Evidence(row, hit, score, coverage, float(cosine)))
        evidence.sort(key=lambda e: -e.score)
        return evidence

    def _merge_adjacent(self, chosen: list[Evidence]) -> list[tuple[Evidence, int, int]]:
        """Quote neighbouring sentences as one passage, in reading order."""
        spans = []
        for e in sorted(chosen, key=lambda e: e.sentence):
            start, end = (int(x) for x in self.index.sentence_spans[e.sentence])
            if spans and spans[-1][0].sentence + 1 == e.sentence and (
                self.index.sentence_source[spans[-1][0].sentence] == self.index.sentence_source[e.sentence]
            ):
                first, s0, _ = spans[-1]
                spans[-1] = (first, s0, end)
            else:
                spans.append((e, start, end))
        return spans


def _cannot_answer(text: str) -> bool:
    """Titles, headings and questions are not answers."""
    words = len(text.split())
    return (
        words < 5
        or text.rstrip("»\"” ").endswith("?")
        or (words < 12 and not re.search(r"[.!…»)\"”]$", text))
    )


def _one_line(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()
