"""The reader's view of a question: the candidate sentences of the top passages and one
row of features for each. The same code serves answering and fitting (bot/training/reader_fit.py),
so what is fitted is exactly what runs."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from bot.answer.reader.align import (
    ALIGNMENT_FEATURES,
    QuestionWords,
    TokenSource,
    alignment_features,
    best_counterparts,
)
from bot.answer.reader.spans import ANSWER_TYPES, OTHER, Span, find_spans, matches, question_type
from bot.answer.retrieval import Hit
from bot.documents import table_header
from bot.index.store import LoadedIndex
from bot.text import fold, terms, words
from bot.text.stopwords import STOPWORDS

PASSAGES_READ = 3  # the sentences of this many top passages are candidates

# About the question and its evidence as a whole: what abstention rests on.
QUESTION_FEATURES = (
    "q_terms",
    "p1_fused",
    "gap_fused",
    "p1_dense",
    "gap_dense",
    "p1_bm25",
    "evidence_coverage",
    "missing_rarity",
    "rarest_found",
    "max_cos",
    "q_who",
    "q_when",
    "q_number",
    "q_where",
)
# About one sentence: what answer selection rests on.
# Sentence vectors are embedded with the sentence before them, so the sentence after an
# answer looks like it too: the neighbours' cosines let the fit tell them apart.
SENTENCE_FEATURES = (
    "cos",
    "cos_gap",
    "cos_rank",
    "previous_cos",
    "next_cos",
    "coverage",
    "coverage_gap",
    "coverage_rank",
    "coverage_plain",
    "previous_coverage",
    "next_coverage",
    "bigrams",
    "title_coverage",
    "passage_2",
    "passage_3",
    "passage_dense",
    "passage_bm25",
    "passage_fused",
    "words",
    "novelty",
    "type_match",
    "new_span",
    "coverage_x_evidence",
    "cos_x_coverage",
    # How the question's words line up with the sentence's tokens (bot/answer/reader/align.py).
    *ALIGNMENT_FEATURES,
    "align_mean_gap",
    "align_min_gap",
)
FEATURES = QUESTION_FEATURES + SENTENCE_FEATURES

# `Source : ...` lines, front matter left in a text file, and similar bookkeeping.
_METADATA = re.compile(
    r"^\s*(sources?|cr[ée]dits?|r[ée]f[ée]rences?|copyright|©|title|titre|date|auteur|author|"
    r"url|tags?|licen[cs]e)\s*:",
    re.IGNORECASE,
)


# Words that frame a question rather than say what it is about ("Peux-tu me raconter...").
_FRAMING = (
    "peux-tu pouvez-vous pourrais-tu pourriez-vous sais-tu savez-vous connais-tu connaissez-vous "
    "raconte raconter racontez dis dire dites donne donner donnez explique expliquer expliquez cite "
    "citer citez nomme nommer nommez décris décrire décrivez indique indiquer indiquez précise préciser "
    "appelle appelait appelle-t-on nom quel quelle quels quelles comment pourquoi combien quand "
    "tell describe explain name list give which what"
)
_framing_terms: dict[str, frozenset[str]] = {}


def question_terms(question: str, language: str) -> frozenset[str]:
    """The terms that say what the question is about. Stop words of both languages are
    dropped whatever the corpus' language: "When was it founded?" may ask a French corpus."""
    if language not in _framing_terms:
        _framing_terms[language] = frozenset(terms(_FRAMING, language))
    found = frozenset(terms(_content_words(question), language))
    return (found - _framing_terms[language]) or found


def _content_words(text: str) -> str:
    return " ".join(w for w in words(text) if fold(w) not in _ANY_STOPWORD)


_ANY_STOPWORD = frozenset().union(*STOPWORDS.values())


@dataclass(frozen=True)
class Candidate:
    row: int  # row in the index's sentence table
    hit: Hit
    rank: int  # 0-based rank of the passage it comes from
    text: str
    terms: frozenset[str]


@dataclass(frozen=True)
class Reading:
    """Candidates and their features for one question."""

    kind: str  # the answer type asked for (bot.answer.reader.spans)
    candidates: list[Candidate]
    features: np.ndarray  # (len(candidates), len(FEATURES)), float64
    spans: list[list[Span]]  # per candidate, offsets relative to the sentence


def is_metadata(text: str, title: str, headings: tuple[str, ...]) -> bool:
    """Never an answer: titles, headings, `Source :` lines, questions."""
    stripped = text.strip()
    words = len(stripped.split())
    return (
        bool(_METADATA.match(stripped))
        or stripped == title.strip()
        or stripped in headings
        or stripped.lstrip("#").strip() in headings
        or stripped.rstrip('»"” ').endswith("?")
        or words < 3
        or (words < 12 and not re.search(r"[.!…»)\"”]$", stripped))
    )


def _neighbour_cosines(
    index: LoadedIndex, rows: list[int], step: int, query_vector: np.ndarray, own: np.ndarray
) -> np.ndarray:
    """Cosine of the sentence before (step -1) or after (+1) in the same document; a
    sentence without one gets its own."""
    out = own.copy()
    n = len(index.sentence_source)
    for i, row in enumerate(rows):
        other = row + step
        if 0 <= other < n and index.sentence_source[other] == index.sentence_source[row]:
            out[i] = float(index.sentence_vectors[other] @ query_vector.ravel())
    return out


def _bigrams(sequence: list[str]) -> frozenset[tuple[str, str]]:
    """Consecutive content terms: "densité spectrale" matches as a phrase, not two words."""
    return frozenset(zip(sequence, sequence[1:], strict=False))


class SentenceCache:
    """Per loaded index: the terms and spans of a sentence never change, so they are
    computed once (the reader then costs about a millisecond a question)."""

    def __init__(self, index: LoadedIndex):
        self.index = index
        self._terms: dict[int, frozenset[str]] = {}
        self._spans: dict[int, list[Span]] = {}
        self._bigrams: dict[int, frozenset[tuple[str, str]]] = {}
        self._titles: dict[str, frozenset[str]] = {}

    def terms(self, row: int, text: str) -> frozenset[str]:
        found = self._terms.get(row)
        if found is None:
            found = self._terms[row] = frozenset(terms(text, self.index.manifest.language))
        return found

    def bigrams(self, row: int, text: str) -> frozenset[tuple[str, str]]:
        found = self._bigrams.get(row)
        if found is None:
            found = self._bigrams[row] = _bigrams(terms(text, self.index.manifest.language))
        return found

    def spans(self, row: int, text: str) -> list[Span]:
        found = self._spans.get(row)
        if found is None:
            found = self._spans[row] = find_spans(text)
        return found

    def title_terms(self, source: str) -> frozenset[str]:
        found = self._titles.get(source)
        if found is None:
            title = self.index.documents[source].title
            found = self._titles[source] = frozenset(terms(title, self.index.manifest.language))
        return found


def read(
    question: str,
    query_vector: np.ndarray,
    index: LoadedIndex,
    hits: list[Hit],
    cache: SentenceCache | None = None,
    words: QuestionWords | None = None,
    tokens: TokenSource | None = None,
    withheld=None,
) -> Reading:
    """The candidates and their features. Without `words` and `tokens` (a question embedded
    without its token vectors), the alignment features are zero. `withheld` (a predicate on a
    sentence's text, for fitting only) reads the passages as if those sentences were not there."""
    language = index.manifest.language
    cache = cache or SentenceCache(index)
    kind = question_type(question)
    q_terms = question_terms(question, language)
    q_bigrams = _bigrams(terms(_content_words(question), language))
    # Sums over sorted terms: a set's order changes from run to run, and so would the
    # last bits of a float sum (and, through the fit, the shipped coefficients).
    idf = {t: index.bm25.term_idf(t) for t in sorted(q_terms)}
    total = sum(idf.values()) or 1.0
    rarest_possible = math.log1p(index.bm25.passages + 0.5)

    candidates: list[Candidate] = []
    evidence_terms: set[str] = set()
    seen: set[int] = set()
    for rank, hit in enumerate(hits[:PASSAGES_READ]):
        doc = index.documents[hit.chunk.source]
        evidence_terms.update(cache.title_terms(doc.source))
        for row in index.chunk_sentences[hit.row]:
            if row in seen:
                continue
            seen.add(row)
            start, end = (int(x) for x in index.sentence_spans[row])
            text = doc.text[start:end]
            if withheld is not None and withheld(text):
                continue
            sentence_terms = cache.terms(row, text)
            evidence_terms.update(sentence_terms)
            # A table row is an answer with its column headers, though it has no verb or full stop.
            is_row = table_header(doc.text, start) is not None
            if is_row or not is_metadata(text, doc.title, hit.chunk.headings):
                candidates.append(Candidate(row, hit, rank, text, sentence_terms))
    if not candidates:
        return Reading(kind, [], np.zeros((0, len(FEATURES))), [])

    def coverage(found: frozenset[str] | set[str]) -> float:
        return sum(idf[t] for t in sorted(found & q_terms)) / total

    missing = [idf[t] for t in q_terms - evidence_terms]
    rarest = max(q_terms, key=lambda t: (idf[t], t)) if q_terms else None
    dense = sorted((h.dense_score for h in hits), reverse=True)
    question_level = {
        "q_terms": math.log1p(len(q_terms)),
        "p1_fused": hits[0].score,
        "gap_fused": hits[0].score - hits[1].score if len(hits) > 1 else 1.0,
        "p1_dense": dense[0],
        "gap_dense": dense[0] - dense[1] if len(dense) > 1 else 0.1,
        "p1_bm25": hits[0].bm25_score / total,
        "evidence_coverage": coverage(evidence_terms),
        "missing_rarity": max(missing) / rarest_possible if missing else 0.0,
        "rarest_found": float(rarest is None or rarest in evidence_terms),
        **{f"q_{k}": float(kind == k) for k in ANSWER_TYPES},
    }

    rows = [c.row for c in candidates]
    if index.sentence_vectors is not None:
        cosines = index.sentence_vectors[rows] @ query_vector.ravel()
        neighbour_cos = np.column_stack(
            [
                _neighbour_cosines(index, rows, -1, query_vector, cosines),
                _neighbour_cosines(index, rows, 1, query_vector, cosines),
            ]
        )
    else:
        cosines = np.array([c.hit.dense_score for c in candidates])
        neighbour_cos = np.column_stack([cosines, cosines])
    coverages = np.array([coverage(c.terms) for c in candidates])
    max_cos, max_cov = float(cosines.max()), float(coverages.max())
    cos_rank = np.argsort(np.argsort(-cosines, kind="stable"), kind="stable")
    cov_rank = np.argsort(np.argsort(-coverages, kind="stable"), kind="stable")
    coverage_of = {c.row: float(v) for c, v in zip(candidates, coverages, strict=True)}
    question_level["max_cos"] = max_cos
    question_fold = fold(question)
    if words is not None and tokens is not None:
        best = [best_counterparts(words, t) for t in tokens.get(rows)]
    else:
        best = [np.zeros(0, np.float32) for _ in rows]
    aligned = [alignment_features(b) for b in best]
    top_mean = max(a["align_mean"] for a in aligned)
    top_min = max(a["align_min"] for a in aligned)

    matrix = np.zeros((len(candidates), len(FEATURES)))
    all_spans: list[list[Span]] = []
    for i, c in enumerate(candidates):
        spans = cache.spans(c.row, c.text) if kind != OTHER else []
        new = [s for s in spans if fold(c.text[s.start : s.end]) not in question_fold]
        all_spans.append(spans)
        cos, cov = float(cosines[i]), float(coverages[i])
        values = question_level | {
            "cos": cos,
            "cos_gap": cos - max_cos,
            "coverage": cov,
            "coverage_gap": cov - max_cov,
            "cos_rank": math.log1p(int(cos_rank[i])),
            "coverage_rank": math.log1p(int(cov_rank[i])),
            "coverage_plain": len(c.terms & q_terms) / (len(q_terms) or 1),
            "bigrams": len(q_bigrams & cache.bigrams(c.row, c.text)) / (len(q_bigrams) or 1),
            "previous_coverage": coverage_of.get(c.row - 1, 0.0),
            "next_coverage": coverage_of.get(c.row + 1, 0.0),
            "previous_cos": float(neighbour_cos[i, 0]),
            "next_cos": float(neighbour_cos[i, 1]),
            "title_coverage": coverage(cache.title_terms(c.hit.chunk.source)),
            "passage_2": float(c.rank == 1),
            "passage_3": float(c.rank >= 2),
            "passage_dense": c.hit.dense_score,
            "passage_bm25": c.hit.bm25_score / total,
            "passage_fused": c.hit.score,
            "words": math.log1p(len(c.text.split())),
            "novelty": len(c.terms - q_terms) / (len(c.terms) or 1),
            "type_match": float(any(matches(kind, s.kind) for s in new)),
            "new_span": float(bool(new)),
            "coverage_x_evidence": cov * question_level["evidence_coverage"],
            "cos_x_coverage": cos * cov,
            **aligned[i],
            "align_mean_gap": aligned[i]["align_mean"] - top_mean,
            "align_min_gap": aligned[i]["align_min"] - top_min,
        }
        matrix[i] = [values[name] for name in FEATURES]
    return Reading(kind, candidates, matrix, all_spans)
