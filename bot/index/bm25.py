"""Okapi BM25 over a sparse term matrix, with the weights precomputed at build time.

Searching reads the matrix as numpy arrays (`Columns`): scipy.sparse takes 0.3 s to import,
more than the rest of `alliance-bot ask`'s search; only building the matrix uses it.
"""

from __future__ import annotations

import json
from array import array
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# Lucene/Pyserini defaults, which also suit short passages.
K1 = 0.9
B = 0.4


@dataclass(frozen=True)
class Columns:
    """A (documents, terms) matrix in compressed sparse columns, scipy's `csc` layout."""

    data: np.ndarray
    indices: np.ndarray  # the row (document) of each value, column after column
    indptr: np.ndarray  # column j's values are data[indptr[j]:indptr[j + 1]]
    shape: tuple[int, int]

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    @property
    def nnz(self) -> int:
        return len(self.data)

    def __getitem__(self, cell: tuple[int, int]) -> float:
        row, col = cell
        rows = self.indices[self.indptr[col] : self.indptr[col + 1]]
        at = np.flatnonzero(rows == row)
        return float(self.data[self.indptr[col] + at[0]]) if len(at) else 0.0

    def weighted_rows(self, cols: np.ndarray, boost: np.ndarray) -> np.ndarray:
        """matrix[:, cols] @ boost, column after column in float32, as scipy computes it."""
        out = np.zeros(self.shape[0], dtype=np.float32)
        for col, weight in zip(cols.tolist(), boost, strict=True):
            start, end = self.indptr[col], self.indptr[col + 1]
            out[self.indices[start:end]] += self.data[start:end] * weight  # rows unique in a column
        return out

    @classmethod
    def of(cls, matrix) -> Columns:
        """From a scipy sparse matrix (the builder's)."""
        csc = matrix.tocsc()
        return cls(csc.data, csc.indices, csc.indptr, tuple(csc.shape))

    def save(self, path: Path) -> None:
        """The file `scipy.sparse.save_npz` writes, so either reads the other's."""
        np.savez_compressed(
            path,
            indices=self.indices,
            indptr=self.indptr,
            format=np.bytes_(b"csc"),
            shape=np.array(self.shape),
            data=self.data,
        )

    @classmethod
    def load(cls, path: Path) -> Columns:
        with np.load(path, allow_pickle=False) as f:
            if f["format"].item() not in (b"csc", "csc"):  # not written by this module: convert it
                from scipy import sparse

                return cls.of(sparse.load_npz(path))
            return cls(f["data"], f["indices"], f["indptr"], tuple(int(x) for x in f["shape"]))


@dataclass(frozen=True)
class Lexical:
    """One question's BM25 scores over a loaded index: the best rows, and any row's score."""

    scores: np.ndarray  # every passage's score

    def top(self, depth: int) -> np.ndarray:
        return top_positive(self.scores, depth)

    def at(self, rows: np.ndarray) -> np.ndarray:
        return self.scores[rows]


def top_positive(scores: np.ndarray, depth: int) -> np.ndarray:
    """Rows of the `depth` best positive scores, best first, ties by row: the same as a
    stable sort of all of them, without sorting a million scores for each question."""
    positive = np.flatnonzero(scores > 0)
    if len(positive) > depth:
        threshold = np.partition(scores[positive], len(positive) - depth)[len(positive) - depth]
        positive = positive[scores[positive] >= threshold]  # keeps ties at the threshold
    return positive[np.argsort(-scores[positive], kind="stable")[:depth]]


class BM25:
    def __init__(self, weights: Columns, vocabulary: dict[str, int]):
        self.weights = weights  # (documents, terms): BM25 weight of each term in each passage
        self.vocabulary = vocabulary
        self.idf = _idf(weights.shape[0], np.diff(weights.indptr).astype(np.float32))

    def term_idf(self, term: str) -> float:
        """Rarity of a term in the index; unknown terms count as the rarest."""
        i = self.vocabulary.get(term)
        return float(self.idf[i]) if i is not None else float(np.log1p(self.weights.shape[0] + 0.5))

    @property
    def passages(self) -> int:
        return self.weights.shape[0]

    def search(self, query_terms: list[str]) -> Lexical:
        return Lexical(self.scores(query_terms))

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
        return self.weights.weighted_rows(ids, boost)

    def save(self, path: Path) -> None:
        self.weights.save(path.with_suffix(".npz"))
        path.with_suffix(".vocab.json").write_text(json.dumps(self.vocabulary), encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> BM25:
        weights = Columns.load(path.with_suffix(".npz"))
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
        from scipy import sparse  # building only: searching needs numpy alone

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
        return BM25(Columns.of(tf), self.vocabulary)
