"""The torch backend: any sentence-transformers model, offline."""

from __future__ import annotations

import os

import numpy as np
import torch
from sentence_transformers import SentenceTransformer
from transformers.utils import logging as hf_logging

from bot.config import DEFAULT_MODEL, EmbeddingConfig
from bot.embedding import Tokens, token_vectors
from bot.embedding.build.cache import ensure_model
from bot.embedding.build.errors import ModelBuildError
from bot.embedding.threads import usable_cores


class TorchEmbedder:
    """L2-normalised float32 embeddings for queries and passages.

    Models that declare prompts (e5: "query: " / "passage: ") get them through
    `encode_query` / `encode_document`; models without prompts get the plain text.
    """

    backend = "torch"
    query_batch = 16  # concurrent queries sharing a pass (bot.embedding.batching)

    def __init__(self, model: SentenceTransformer, name: str):
        self.model = model
        self.name = name
        self.dimension: int = model.get_embedding_dimension()

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        vectors = self.model.encode_query(
            list(texts),
            batch_size=32,
            normalize_embeddings=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32).reshape(-1, self.dimension)

    def encode_passages(
        self, texts: list[str], batch_size: int = 32, show_progress: bool = False
    ) -> np.ndarray:
        vectors = self.model.encode_document(
            list(texts),
            batch_size=batch_size,
            normalize_embeddings=True,
            show_progress_bar=show_progress,
        )
        return np.asarray(vectors, dtype=np.float32).reshape(-1, self.dimension)

    def encode_with_tokens(self, texts: list[str], query: bool) -> tuple[np.ndarray, list[Tokens]]:
        prompt = self.model.prompts.get("query" if query else "document", "") or ""
        full = [prompt + t for t in texts]
        hidden = self.model.encode(full, output_value="token_embeddings", show_progress_bar=False)
        offsets = self.model.tokenizer(full, return_offsets_mapping=True, truncation=True)["offset_mapping"]
        tokens = []
        for h, spans, text in zip(hidden, offsets, texts, strict=True):
            spans = np.asarray(spans, dtype=np.int32).reshape(-1, 2)[: len(h)]
            tokens.append(token_vectors(h.float().numpy()[: len(spans)], spans, prompt, text))
        pooled = self.encode_queries(texts) if query else self.encode_passages(texts)
        return pooled, tokens


def load_sentence_transformer(config: EmbeddingConfig) -> TorchEmbedder:
    """The packaged multilingual-e5-small (built on first use) or any sentence-transformers
    name or directory."""
    if "OMP_NUM_THREADS" not in os.environ:
        # One forward pass at a time uses every core we are allowed; torch's default
        # counts physical cores, which under-uses small VMs.
        torch.set_num_threads(usable_cores())
    hf_logging.disable_progress_bar()  # "Loading weights" bars would clutter CLI output
    location = str(ensure_model(config.cache)) if config.model == DEFAULT_MODEL else config.model
    try:
        # Files only: no machine here reaches the hub, and a lookup would only add timeouts.
        model = SentenceTransformer(location, device="cpu", local_files_only=True)
    except OSError as e:  # transformers' text is about internet access, not the fix
        first_line = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise ModelBuildError(
            f"cannot load the embedding model {location!r} ({first_line}); offline, "
            f"ALLIANCE_EMBEDDING_MODEL must be a sentence-transformers directory or "
            f"{DEFAULT_MODEL!r}"
        ) from e
    model.eval()
    return TorchEmbedder(model, config.model)
