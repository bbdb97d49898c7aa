"""Hybrid retrieval: dense and BM25 candidates from either index store (bot/index/stores.py),
fused into one ranking."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from bot.documents import Chunk
from bot.index.store import LoadedIndex
from bot.text import terms

Fusion = Literal["weighted", "rrf"]
RRF_K = 60


@dataclass(frozen=True)
class Hit:
    chunk: Chunk
    row: int  # in the index's chunk, FAISS and BM25 matrices
    score: float
    dense_rank: int | None
    dense_score: float
    bm25_rank: int | None
    bm25_score: float


@dataclass(frozen=True)
class Retriever:
    """Searches one loaded index.

    `weighted` fusion (the default, chosen on PIAF: see README) mixes the standardised
    scores (z-scores over the candidates) of both retrievers; `rrf` is reciprocal-rank
    fusion.
    """

    index: LoadedIndex
    fusion: Fusion = "weighted"
    dense_weight: float = 0.5
    depth: int = 100  # candidates taken from each retriever

    def search(self, query_vector: np.ndarray, query: str, k: int) -> list[Hit]:
        n = len(self.index.chunks)
        if n == 0:
            return []
        depth = min(self.depth, n)
        _, dense_ids = self.index.dense.search(query_vector, depth)
        dense_ids = dense_ids[0][dense_ids[0] >= 0]
        dense_rank = {int(c): r + 1 for r, c in enumerate(dense_ids)}

        lexical = self.index.bm25.search(terms(query, self.index.manifest.language))
        top = lexical.top(depth)
        bm25_rank = {int(c): r + 1 for r, c in enumerate(top)}

        candidates = np.array(sorted(set(dense_rank) | set(bm25_rank)), dtype=np.int64)
        dense = self.index.dense.rescore(candidates, query_vector)
        bm25 = lexical.at(candidates)
        if self.fusion == "rrf":
            fused = np.array([_rrf(dense_rank.get(int(c))) + _rrf(bm25_rank.get(int(c))) for c in candidates])
        else:
            fused = self.dense_weight * _zscore(dense) + (1 - self.dense_weight) * _zscore(bm25)
        order = np.argsort(-fused, kind="stable")[:k]
        return [
            Hit(
                chunk=self.index.chunks[int(candidates[i])],
                row=int(candidates[i]),
                score=float(fused[i]),
                dense_rank=dense_rank.get(int(candidates[i])),
                dense_score=float(dense[i]),
                bm25_rank=bm25_rank.get(int(candidates[i])),
                bm25_score=float(bm25[i]),
            )
            for i in order
        ]


def _rrf(rank: int | None) -> float:
    return 0.0 if rank is None else 1.0 / (RRF_K + rank)


def _zscore(x: np.ndarray) -> np.ndarray:
    """Scores on one scale whatever the retriever: cosines and BM25 sums differ widely."""
    spread = float(x.std()) if len(x) > 1 else 0.0
    return (x - x.mean()) / spread if spread > 0 else np.zeros_like(x)
