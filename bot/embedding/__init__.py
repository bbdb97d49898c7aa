"""The embedding model: which backend runs it, and whether two backends' vectors mix.

Imports nothing heavy: the torch backend (`bot.embedding.torch_backend`) and the ONNX Runtime
one (`bot.embedding.onnx_backend`) are imported only when loaded, so the ONNX path never
imports torch, transformers or sentence-transformers.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from bot.config import DEFAULT_MODEL, EmbeddingConfig
from bot.embedding.build.errors import ModelBuildError

# Backends whose vectors can share one index, per model. The rule: interchangeable when
# bench/fidelity.py measures cosine mean >= 0.99 and min >= 0.97 against float32 torch.
# For the packaged model, on 1,253 texts: onnx mean 1.00000, min 1.00000; onnx-int8 mean
# 0.99660, min 0.98844; PIAF nDCG@10 0.857 with torch, 0.856 with int8. So an index built
# with one of them is searched with another.
# Any other model runs with torch only, so its index must have been built with torch.
INTERCHANGEABLE: dict[str, frozenset[str]] = {
    DEFAULT_MODEL: frozenset({"torch", "onnx", "onnx-int8"}),
}


class Embedder(Protocol):
    """L2-normalised float32 embeddings, with the model's query/passage prompts."""

    name: str
    backend: str
    dimension: int
    query_batch: int  # how many concurrent queries may share one pass

    def encode_queries(self, texts: list[str]) -> np.ndarray: ...

    def encode_passages(
        self, texts: list[str], batch_size: int = 32, show_progress: bool = False
    ) -> np.ndarray: ...


def interchangeable(model: str, index_backend: str, query_backend: str) -> bool:
    """Whether vectors of `query_backend` can search an index built with `index_backend`."""
    if index_backend == query_backend:
        return True
    return {index_backend, query_backend} <= INTERCHANGEABLE.get(model, frozenset())


def load_embedder(config: EmbeddingConfig) -> Embedder:
    """The configured model with the configured backend.

    The packaged multilingual-e5-small is built on first use, and its ONNX variants
    exported on first use (the export alone needs torch); any other model is a
    sentence-transformers name or directory, run with torch.
    """
    backend = config.backend
    if backend == "torch":
        from bot.embedding.torch_backend import load_sentence_transformer

        return load_sentence_transformer(config)
    if config.model != DEFAULT_MODEL:
        raise ModelBuildError(
            f"ALLIANCE_EMBEDDING_BACKEND={backend} exists for the packaged model "
            f"{DEFAULT_MODEL!r} only: set ALLIANCE_EMBEDDING_BACKEND=torch for "
            f"{config.model!r}"
        )
    from bot.embedding.build.cache import ensure_model
    from bot.embedding.build.onnx_export import ensure_onnx, variant_path
    from bot.embedding.mapped_onnx import fast_path
    from bot.embedding.onnx_backend import OnnxEmbedder

    model_dir = ensure_model(config.cache)
    marker = ensure_onnx(model_dir)
    graph = fast_path(variant_path(model_dir, marker, backend))  # the same graph, weights mapped
    return OnnxEmbedder(model_dir, graph, config.model, backend)
