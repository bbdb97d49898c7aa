"""The torch backend: any sentence-transformers model, offline."""

from __future__ import annotations

import os

# Before sentence_transformers/transformers are imported: no machine here reaches the
# hub, and a lookup would only add timeouts. Set it to 0 to allow downloads again.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
# Before torch loads OpenMP: threads spinning at barriers steal the core a sibling
# needs when another process is busy; on 2 busy cores one query went from 50 ms to 1 s.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from sentence_transformers import SentenceTransformer  # noqa: E402
from transformers.utils import logging as hf_logging  # noqa: E402

from bot.config import DEFAULT_MODEL, Settings  # noqa: E402
from bot.embedding.build.cache import ensure_model  # noqa: E402
from bot.embedding.build.errors import ModelBuildError  # noqa: E402
from bot.embedding.threads import usable_cores  # noqa: E402


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


def load_sentence_transformer(settings: Settings) -> TorchEmbedder:
    """The packaged multilingual-e5-small (built on first use) or any sentence-transformers
    name or directory."""
    if "OMP_NUM_THREADS" not in os.environ:
        # One forward pass at a time uses every core we are allowed; torch's default
        # counts physical cores, which under-uses small VMs.
        torch.set_num_threads(usable_cores())
    hf_logging.disable_progress_bar()  # "Loading weights" bars would clutter CLI output
    if settings.embedding_model == DEFAULT_MODEL:
        location = str(ensure_model(settings.model_cache))
    else:
        location = settings.embedding_model
    try:
        model = SentenceTransformer(location, device="cpu")
    except OSError as e:  # transformers' text is about internet access, not the fix
        first_line = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise ModelBuildError(
            f"cannot load the embedding model {location!r} ({first_line}); offline, "
            f"ALLIANCE_EMBEDDING_MODEL must be a sentence-transformers directory or "
            f"{DEFAULT_MODEL!r}"
        ) from e
    model.eval()
    return TorchEmbedder(model, settings.embedding_model)
