"""The dense index of a generation: exact below the threshold, HNSW above, recorded in the
manifest, loaded back with its vectors; older manifests mean flat. Real FAISS, real
storage code, real BM25 (synthetic vectors: no model needed)."""

from __future__ import annotations

import json
import sqlite3

import numpy as np
import pytest

from bot.answer.retrieval import Retriever
from bot.documents import Chunk, Document
from bot.index import dense, store
from bot.index.bm25 import BM25
from bot.ingest.pipeline import chunk_terms

WORDS = (
    "verger pommier coopérative salarié récolte cidre marché bénévole atelier réseau "
    "insertion commune jardin semence compost"
).split()


def synthetic_docs(n_docs: int, per_doc: int, dimension: int = 32, seed: int = 0):
    rng = np.random.default_rng(seed)
    vectors = rng.standard_normal((n_docs * per_doc, dimension)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    docs = []
    for d in range(n_docs):
        source = f"doc-{d:03d}.md"
        texts = [" ".join(rng.choice(WORDS, size=12)) + "." for _ in range(per_doc)]
        chunks, at = [], 0
        for text in texts:
            chunks.append(Chunk(source, at, at + len(text), ("Titre",)))
            at += len(text) + 1
        stored = Document(source, f"Document {d}", " ".join(texts))
        rows = vectors[d * per_doc : (d + 1) * per_doc]
        docs.append(store.IndexedDocument(stored, chunks, [v.tobytes() for v in rows]))
    return docs, vectors


def publish(index_dir, docs, dimension=32, **kwargs):
    index_dir.mkdir(parents=True, exist_ok=True)
    manifest = store.Manifest(
        version=store.new_generation_name(),
        model="test",
        dimension=dimension,
        chunk_size=800,
        chunk_overlap=0,
        language="fr",
    )
    return store.write_generation(index_dir, manifest, docs, chunk_terms("fr"), **kwargs)


@pytest.mark.parametrize(("exact_max", "kind"), [(10_000, "flat"), (100, "hnsw")])
def test_threshold_picks_the_index_and_the_manifest_records_it(tmp_path, exact_max, kind):
    docs, vectors = synthetic_docs(30, 10)  # 300 chunks
    generation = publish(tmp_path / "index", docs, dense_exact_max=exact_max)
    loaded = store.LoadedIndex(generation)
    assert loaded.manifest.dense["type"] == kind and loaded.dense.kind == kind
    if kind == "hnsw":
        assert loaded.manifest.dense == dense.plan(300, exact_max)
        assert loaded.dense.index.hnsw.efSearch == dense.HNSW_EF_SEARCH
    # The stored vectors, in row order, for re-scoring.
    assert np.array_equal(loaded.vectors, vectors)
    # Each stored vector finds itself first, and the scores are cosines.
    scores, rows = loaded.dense.search(vectors[:20], 5)
    assert list(rows[:, 0]) == list(range(20))
    assert np.allclose(scores[:, 0], 1.0, atol=1e-5)


def test_hnsw_top10_agrees_with_exact(tmp_path):
    docs, vectors = synthetic_docs(100, 20)  # 2,000 chunks
    exact = store.LoadedIndex(publish(tmp_path / "exact", docs))
    approx = store.LoadedIndex(publish(tmp_path / "approx", docs, dense_exact_max=0))
    assert (exact.dense.kind, approx.dense.kind) == ("flat", "hnsw")
    rng = np.random.default_rng(1)
    queries = vectors[rng.choice(len(vectors), 50, replace=False)] + 0.3 * rng.standard_normal((50, 32))
    queries = (queries / np.linalg.norm(queries, axis=1, keepdims=True)).astype(np.float32)
    _, truth = exact.dense.search(queries, 10)
    _, found = approx.dense.search(queries, 10)
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(found, truth, strict=True)])
    assert recall >= 0.95
    # The hybrid search runs the same on both.
    hits = Retriever(approx).search(queries[0], "verger pommier", 5)
    assert len(hits) == 5
    assert hits[0].dense_score == pytest.approx(float(queries[0] @ vectors[hits[0].row]), abs=1e-5)


def test_manifest_without_dense_field_is_flat(tmp_path):
    docs, vectors = synthetic_docs(3, 4)
    generation = publish(tmp_path / "index", docs)
    db = sqlite3.connect(generation / store.SQLITE)
    db.execute("DELETE FROM manifest WHERE key = 'dense'")  # as written before the field existed
    db.commit()
    db.close()
    loaded = store.LoadedIndex(generation)
    assert loaded.manifest.dense == {} and loaded.dense.kind == "flat"
    assert np.array_equal(loaded.vectors, vectors)


def test_manifest_that_disagrees_with_the_file_is_a_corrupt_generation(tmp_path):
    docs, _ = synthetic_docs(3, 4)
    generation = publish(tmp_path / "index", docs)
    db = sqlite3.connect(generation / store.SQLITE)
    db.execute(
        "UPDATE manifest SET value = ? WHERE key = 'dense'", (json.dumps(dense.plan(12, exact_max=0)),)
    )
    db.commit()
    db.close()
    with pytest.raises(store.IndexUnavailable, match="corrompue"):
        store.LoadedIndex(generation)


def test_bm25_matches_the_okapi_formula():
    documents = [["verger", "pommier", "verger"], ["cidre"], [], ["pommier", "cidre", "marché", "cidre"]]
    bm25 = BM25.build(documents, k1=0.9, b=0.4)
    assert bm25.weights.dtype == np.float32 and bm25.weights.indices.dtype == np.int32
    n, avgdl = 4, 8 / 4
    for row, terms in enumerate(documents):
        for term in set(terms):
            df = sum(term in d for d in documents)
            idf = np.log1p((n - df + 0.5) / (df + 0.5))
            tf = terms.count(term)
            expected = idf * tf * 1.9 / (tf + 0.9 * (1 - 0.4 + 0.4 * len(terms) / avgdl))
            assert bm25.weights[row, bm25.vocabulary[term]] == pytest.approx(expected, rel=1e-5)
    assert bm25.weights.nnz == sum(len(set(d)) for d in documents)
    assert list(bm25.scores(["cidre"]) > 0) == [False, True, False, True]
