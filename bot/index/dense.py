"""The dense index of a generation: exact inner-product search for small corpora, HNSW
graph search past a size threshold.

A generation records which one it holds in its manifest (`Manifest.dense`, a small dict:
`{"type": "flat"}` or `{"type": "hnsw", "M": .., "ef_construction": .., "ef_search": ..}`);
an empty dict (generations written before this field existed) means flat. Both keep the
full float32 vectors, which retrieval uses to re-score the fused candidates exactly.

Why HNSW and these numbers: `bench/scale.py` (README, "Scaling out"). Exact search reads
every vector for each question (1.43 GB, 132 ms at a million 384-d chunks); the graph
answers in 0.3 ms with recall@10 0.96 for 0.25 GB more, at the price of a slower build
(12 min at a million chunks on 2 shared cores).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from bot.config import DEFAULT_EXACT_MAX

if TYPE_CHECKING:
    import faiss  # imported where used: settings read this module's defaults without it

# Graph parameters: recall@10 0.96 against exact at a million chunks (bench/scale.py).
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 80
HNSW_EF_SEARCH = 128


def plan(n: int, exact_max: int = DEFAULT_EXACT_MAX) -> dict:
    """The index a generation of `n` chunks gets, as recorded in its manifest."""
    if n <= exact_max:
        return {"type": "flat"}
    return {"type": "hnsw", "M": HNSW_M, "ef_construction": HNSW_EF_CONSTRUCTION, "ef_search": HNSW_EF_SEARCH}


def build(vectors: np.ndarray, spec: dict, dimension: int) -> faiss.Index:
    """A FAISS index over `vectors` (rows normalised, so inner product = cosine)."""
    import faiss

    kind = spec.get("type", "flat")
    if kind == "flat":
        index = faiss.IndexFlatIP(dimension)
    elif kind == "hnsw":
        index = faiss.IndexHNSWFlat(dimension, int(spec["M"]), faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = int(spec["ef_construction"])
        index.hnsw.efSearch = int(spec["ef_search"])
    else:
        raise ValueError(f"unknown dense index type {kind!r}")
    if len(vectors):
        index.add(np.ascontiguousarray(vectors, dtype=np.float32))
    return index


@dataclass
class DenseIndex:
    """A loaded dense index: `search` for candidates, `vectors` to re-score them.

    `vectors` is a view of FAISS's own memory (no second copy of the largest thing in the
    index): keep the DenseIndex alive as long as you use it."""

    index: faiss.Index
    spec: dict

    def __post_init__(self) -> None:
        import faiss

        kind = self.spec.get("type", "flat")
        if kind == "hnsw":
            if not isinstance(self.index, faiss.IndexHNSW):
                raise ValueError("manifest says hnsw, file holds another index")
            self.index.hnsw.efSearch = int(self.spec["ef_search"])
            # The graph keeps its vectors in a flat index: keep a reference to it, the
            # numpy view below points into its memory.
            self._storage = faiss.downcast_index(self.index.storage)
        elif kind == "flat":
            if not isinstance(self.index, faiss.IndexFlat):
                raise ValueError("manifest says flat, file holds another index")
            self._storage = self.index
        else:
            raise ValueError(f"unknown dense index type {kind!r}")
        n, d = self.index.ntotal, self.index.d
        if n:
            flat = faiss.rev_swig_ptr(self._storage.get_xb(), n * d)
            self.vectors = np.asarray(flat).reshape(n, d)
        else:
            self.vectors = np.zeros((0, d), dtype=np.float32)

    @property
    def kind(self) -> str:
        return self.spec.get("type", "flat")

    @property
    def ntotal(self) -> int:
        return self.index.ntotal

    @property
    def d(self) -> int:
        return self.index.d

    def rescore(self, rows: np.ndarray, query: np.ndarray) -> np.ndarray:
        """Exact inner products of the query with these rows' stored vectors."""
        return self.vectors[rows] @ query.ravel()

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Scores and rows of the `k` nearest stored vectors of each query (-1 when fewer)."""
        queries = np.ascontiguousarray(queries, dtype=np.float32).reshape(-1, self.d)
        return self.index.search(queries, k)


def write(index: faiss.Index, path: Path) -> None:
    import faiss

    faiss.write_index(index, str(path))


def load(path: Path, spec: dict) -> DenseIndex:
    import faiss

    return DenseIndex(faiss.read_index(str(path)), dict(spec) or {"type": "flat"})
