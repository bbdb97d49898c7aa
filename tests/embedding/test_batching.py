"""Micro-batching: concurrent queries share passes and get the vectors they would alone."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from bot.config import Settings
from bot.embedding import load_embedder
from bot.embedding.batching import QueryBatcher

QUESTIONS = [
    "Qui a lancé l'Alliance Dynamique ?",
    "En quelle année ?",
    "Quels sont les deux types de partenariats proposés aux structures de l'économie sociale et solidaire ?",
    "ODD 17",
    "When was the Alliance Dynamique founded?",
    "Qu'est-ce que l'ESS ?",
    "Combien de partenaires compte l'Alliance Dynamique en 2021 ?",
    "Où ?",
] * 3


def concurrently(batcher: QueryBatcher, texts: list[str]) -> np.ndarray:
    out: list = [None] * len(texts)
    start = threading.Barrier(len(texts))

    def ask(i: int) -> None:
        start.wait()
        out[i] = batcher.encode(texts[i])

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(len(texts))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return np.vstack(out)


@pytest.mark.parametrize("backend", ["onnx", "onnx-int8"])
def test_micro_batched_vectors_equal_one_at_a_time(backend, built, e5_cache):
    embedder = load_embedder(Settings(model_cache=e5_cache, embedding_backend=backend).embedding)
    alone = np.vstack([embedder.encode_queries([q]) for q in QUESTIONS])
    batcher = QueryBatcher(embedder.encode_queries, max_batch=embedder.query_batch)
    together = concurrently(batcher, QUESTIONS)
    np.testing.assert_allclose(together, alone, atol=1e-5)
    if backend == "onnx":
        assert batcher.batches < len(QUESTIONS)  # some passes held several queries
    else:
        # Dynamic int8 picks one activation scale per pass: batched, a query's vector would
        # depend on its neighbours (cosine 0.996), so int8 queries run one per pass.
        assert embedder.query_batch == 1 and batcher.batches == len(QUESTIONS)


def test_errors_reach_every_waiting_caller():
    def broken(texts: list[str]) -> np.ndarray:
        raise ValueError("model gone")

    batcher = QueryBatcher(broken)
    with pytest.raises(ValueError, match="model gone"):
        batcher.encode("question")
    with pytest.raises(ValueError, match="model gone"):  # the worker survives
        batcher.encode("another")


def test_an_idle_batcher_does_not_wait():
    calls: list[list[str]] = []

    def record(texts: list[str]) -> np.ndarray:
        calls.append(texts)
        return np.zeros((len(texts), 2), np.float32)

    batcher = QueryBatcher(record, max_wait=5.0)
    for text in ("a", "b"):
        batcher.encode(text)  # would take 5 s each if the batcher waited
    assert calls == [["a"], ["b"]]
