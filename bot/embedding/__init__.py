"""The embedding model: which backend runs it, and whether two backends' vectors mix.

Imports nothing heavy: the torch backend (`bot.embedding.torch_backend`) and the ONNX Runtime
one (`bot.embedding.onnx_backend`) are imported only when loaded, so the ONNX path never
imports torch, transformers or sentence-transformers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
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


@dataclass(frozen=True)
class Tokens:
    """A text's tokens as the model read them: unit-norm last hidden states (before pooling)
    and each token's characters in the text (the prompt and special tokens left out). The
    reader aligns a question's words with a sentence's tokens on them."""

    vectors: np.ndarray  # (n, dimension) float32, rows of norm 1
    offsets: np.ndarray  # (n, 2) int32, start and end in the text

    def words_only(self, text: str) -> Tokens:
        """Without the tokens that hold no letter or digit: punctuation matches every question."""
        keep = np.array([any(ch.isalnum() for ch in text[a:b]) for a, b in self.offsets], dtype=bool)
        return Tokens(self.vectors[keep], self.offsets[keep]) if len(keep) else self

    def int8(self) -> bytes:
        """The vectors in int8 (x 127), as an index stores them."""
        return np.clip(np.round(self.vectors * 127.0), -127, 127).astype(np.int8).tobytes()

    def offsets_bytes(self) -> bytes:
        return self.offsets.astype(np.int32).tobytes()

    def slice_from(self, start: int) -> Tokens:
        """The tokens at or after character `start`, their offsets made relative to it."""
        keep = self.offsets[:, 0] >= start
        return Tokens(self.vectors[keep], (self.offsets[keep] - start).astype(np.int32))


def token_vectors(hidden: np.ndarray, spans: np.ndarray, prompt: str, text: str) -> Tokens:
    """The text's own tokens (not the prompt's, not <s> or </s>), unit-norm, with offsets
    into `text`. A word's first piece covers the space before it ("▁Qui"): it starts after."""
    spans = spans - len(prompt)
    keep = (spans[:, 1] > spans[:, 0]) & (spans[:, 1] > 0)
    vectors, spans = hidden[keep].astype(np.float32), spans[keep]
    for row in range(len(spans)):
        start, end = max(0, int(spans[row, 0])), int(spans[row, 1])
        while start < end - 1 and text[start].isspace():
            start += 1
        spans[row, 0] = start
    vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    return Tokens(vectors, spans)


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

    def encode_with_tokens(self, texts: list[str], query: bool) -> tuple[np.ndarray, list[Tokens]]:
        """The pooled vectors and, from the same forward pass, each text's token vectors."""
        ...


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
    return embedder_loader(config)()


def embedder_loader(config: EmbeddingConfig) -> Callable[[], Embedder]:
    """`load_embedder` in two steps: the ONNX backend's modules imported now, the model loaded
    when the result is called. Imports hold the GIL and ONNX Runtime builds its session
    without it, so a caller that loads the model in a thread imports first, then does its own
    imports while the thread loads (`alliance-bot ask`, bot/cli)."""
    backend = config.backend
    if backend == "torch":

        def load_torch() -> Embedder:
            from bot.embedding.torch_backend import load_sentence_transformer

            return load_sentence_transformer(config)

        return load_torch
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

    def load_onnx() -> Embedder:
        model_dir = ensure_model(config.cache)
        marker = ensure_onnx(model_dir)
        exported = variant_path(model_dir, marker, backend)
        graph = fast_path(exported)  # the same graph, optimized once, its weights mapped
        return OnnxEmbedder(model_dir, graph, config.model, backend, optimized=graph != exported)

    return load_onnx
