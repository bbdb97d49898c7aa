"""Sweep the fusion of dense and BM25 retrieval on a BEIR-style dataset (document level).

    python bench/fusion_sweep.py ../shared/bench/piaf_fr [--chunk-size 800]

Builds one temporary index and embeds the queries once, then scores every fusion on the
first and second half of the queries separately (choose on one half, confirm on the
other) and on all of them. Prints a Markdown table of nDCG@10.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from bot.answer.retrieval import Retriever
from bot.config import Settings
from bot.documents import Document
from bot.embedding import load_embedder
from bot.index.store import LoadedIndex, current_generation
from bot.ingest.pipeline import sync_index
from bot.training.evaluate import ndcg, read_jsonl, read_qrels

FUSIONS = [("dense", None, 1.0), ("bm25", None, 0.0), ("rrf", "rrf", 0.5)] + [
    (f"weighted {w:.1f}", "weighted", w) for w in (0.3, 0.4, 0.5, 0.6, 0.7)
]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("dataset", type=Path)
    parser.add_argument("--chunk-size", type=int, default=Settings().chunk_size)
    parser.add_argument("--limit", type=int)
    args = parser.parse_args()

    corpus = [
        Document(str(d["id"]), d.get("title") or "", d["text"])
        for d in read_jsonl(args.dataset / "corpus.jsonl")
    ]
    qrels = read_qrels(args.dataset / "qrels.tsv")
    queries = [q for q in read_jsonl(args.dataset / "queries.jsonl") if str(q["id"]) in qrels]
    queries = queries[: args.limit]
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(index_dir=Path(tmp), chunk_size=args.chunk_size)
        embedder = load_embedder(settings.embedding)
        t = time.perf_counter()
        summary = sync_index(corpus, settings.index, lambda: embedder, with_sentences=False)
        print(f"indexed {len(corpus)} documents, {summary.chunks} chunks in {time.perf_counter() - t:.0f} s")
        index = LoadedIndex(current_generation(Path(tmp)))
        vectors = embedder.encode_queries([q["text"] for q in queries])
        half = len(queries) // 2
        print("\n| fusion | nDCG@10 first half | nDCG@10 second half | nDCG@10 all |\n|---|---|---|---|")
        for label, fusion, weight in FUSIONS:
            retriever = Retriever(index, fusion or "weighted", weight, depth=100)
            scores = []
            for q, v in zip(queries, vectors, strict=True):
                hits = retriever.search(v, q["text"], k=100)
                ranking = list(dict.fromkeys(h.chunk.source for h in hits))[:10]
                scores.append(ndcg(ranking, qrels[str(q["id"])]))
            print(
                f"| {label} | {np.mean(scores[:half]):.4f} | {np.mean(scores[half:]):.4f} "
                f"| {np.mean(scores):.4f} |"
            )


if __name__ == "__main__":
    main()
