"""Okapi BM25 over a sparse term matrix, with the weights precomputed at build time."""

from __future__ import annotations

import json
from array import array
from collections import Counter
from collections.abc import Iterable
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
    def build(cls, documents: Iterable[list[str]], k1: float = K1, b: float = B) -> BM25:
        builder = BM25Builder()
        for terms in documents:
            builder.add(terms)
        return builder.build(k1, b)

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


class BM25Builder:
    """Collects passages one at a time as term ids in a flat int32 array (4 bytes a token:
    a million passages of 80 words fit in a few hundred MB, where lists of strings took
    several GB), then builds the weight matrix with scipy's C routines."""

    def __init__(self) -> None:
        self.vocabulary: dict[str, int] = {}
        self._ids = array("i")
        self._lengths = array("i")

    def add(self, terms: list[str]) -> None:
        setdefault, vocabulary = self.vocabulary.setdefault, self.vocabulary
        self._ids.extend([setdefault(t, len(vocabulary)) for t in terms])
        self._lengths.append(len(terms))

    def build(self, k1: float = K1, b: float = B) -> BM25:
        n, v = len(self._lengths), len(self.vocabulary)
        counts = np.frombuffer(self._lengths, dtype=np.int32)
        lengths = counts.astype(np.float32)
        index_type = np.int32 if len(self._ids) < 2**31 else np.int64
        indptr = np.zeros(n + 1, dtype=index_type)
        np.cumsum(counts, out=indptr[1:])
        ids = np.frombuffer(self._ids, dtype=np.int32).astype(index_type, copy=False)
        # One entry per token; summing duplicates turns them into term frequencies.
        tf = sparse.csr_matrix((np.ones(len(ids), np.float32), ids, indptr), shape=(n, v))
        tf.sum_duplicates()
        rows = np.repeat(np.arange(n, dtype=np.int32), np.diff(tf.indptr))
        idf = _idf(n, np.bincount(tf.indices, minlength=v).astype(np.float32))
        avgdl = float(lengths.mean()) if n and lengths.sum() else 1.0
        norm = k1 * (1 - b + b * lengths[rows] / avgdl)
        tf.data = idf[tf.indices] * tf.data * (k1 + 1) / (tf.data + norm)
        del rows, norm
        return BM25(tf.tocsc(), self.vocabulary)
