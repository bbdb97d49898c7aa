"""Okapi BM25 over a sparse term matrix, with the weights precomputed at build time."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
from scipy import sparse

# Lucene/Pyserini defaults, which also suit short passages.
K1 = 0.9
B = 0.4


class BM25:
    def __init__(self, weights: sparse.csc_matrix, vocabulary: dict[str, int]):
        self.weights = weights  # (documents, terms): BM25 weight of each term in each passage
        self.vocabulary = vocabulary
        self.idf = _idf(weights.shape[0], np.diff(weights.indptr).astype(np.float32))

    def term_idf(self, term: str) -> float:
        """Rarity of a term in the index; unknown terms count as the rarest."""
        i = self.vocabulary.get(term)
        return float(self.idf[i]) if i is not None else float(np.log1p(self.weights.shape[0] + 0.5))

    @classmethod
    def build(cls, documents: list[list[str]], k1: float = K1, b: float = B) -> BM25:
        vocabulary: dict[str, int] = {}
        rows, cols, tfs = [], [], []
        lengths = np.zeros(len(documents), dtype=np.float32)
        for row, terms in enumerate(documents):
            lengths[row] = len(terms)
            for term, tf in Counter(terms).items():
                rows.append(row)
                cols.append(vocabulary.setdefault(term, len(vocabulary)))
                tfs.append(tf)
        n = len(documents)
        tf = np.asarray(tfs, dtype=np.float32)
        cols_arr = np.asarray(cols, dtype=np.int64)
        idf = _idf(n, np.bincount(cols_arr, minlength=len(vocabulary)).astype(np.float32))
        avgdl = float(lengths.mean()) if n and lengths.sum() else 1.0
        norm = k1 * (1 - b + b * lengths[np.asarray(rows, dtype=np.int64)] / avgdl)
        weights = idf[cols_arr] * tf * (k1 + 1) / (tf + norm)
        matrix = sparse.csc_matrix(
            (weights, (rows, cols_arr)), shape=(n, len(vocabulary)), dtype=np.float32
        )
        return cls(matrix, vocabulary)

    def scores(self, query_terms: list[str]) -> np.ndarray:
        """BM25 score of every passage; a repeated query term counts again, as in Lucene."""
        counts = Counter(t for t in query_terms if t in self.vocabulary)
        if not counts:
            return np.zeros(self.weights.shape[0], dtype=np.float32)
        ids = np.fromiter((self.vocabulary[t] for t in counts), dtype=np.int64)
        boost = np.fromiter(counts.values(), dtype=np.float32)
        return np.asarray(self.weights[:, ids] @ boost, dtype=np.float32).ravel()

    def save(self, path: Path) -> None:
        sparse.save_npz(path.with_suffix(".npz"), self.weights)
        path.with_suffix(".vocab.json").write_text(json.dumps(self.vocabulary), encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> BM25:
        weights = sparse.load_npz(path.with_suffix(".npz")).tocsc()
        vocabulary = json.loads(path.with_suffix(".vocab.json").read_text(encoding="utf-8"))
        return cls(weights, vocabulary)


def _idf(n: int, df: np.ndarray) -> np.ndarray:
    return np.log1p((n - df + 0.5) / (df + 0.5))
