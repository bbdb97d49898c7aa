"""Retrieval quality and latency of the same index in both stores (bot/index/stores.py).

    python bench/store_quality.py ../shared/bench/piaf_fr [--limit N] [--store-url URL]

Embeds a BEIR-style folder once into a generation folder (as `alliance-bot eval` does), copies
it into PostgreSQL (`alliance-bot index copy`'s code: the same vectors, BM25 recounted with the
same analyzer), then measures nDCG@10, Recall@100, MRR@10 and the search latency on each
store with the same queries. Without --store-url, a throwaway PostgreSQL from `pgserver`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bot.answer.retrieval import Retriever  # noqa: E402
from bot.config import Settings  # noqa: E402
from bot.documents import Document  # noqa: E402
from bot.embedding import load_embedder  # noqa: E402
from bot.index.pg import PgStore  # noqa: E402
from bot.index.stores import FolderStore  # noqa: E402
from bot.ingest.pipeline import copy_index, sync_index  # noqa: E402
from bot.training.evaluate import measure, read_jsonl, read_qrels  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--store-url", default=None)
    args = parser.parse_args()
    settings = Settings()
    corpus = [
        Document(source=str(d["id"]), title=d.get("title") or "", text=d["text"])
        for d in read_jsonl(args.folder / "corpus.jsonl")
    ]
    qrels = read_qrels(args.folder / "qrels.tsv")
    queries = [q for q in read_jsonl(args.folder / "queries.jsonl") if str(q["id"]) in qrels][: args.limit]
    embedder = load_embedder(settings.embedding)
    server = None
    url = args.store_url
    with tempfile.TemporaryDirectory(prefix="alliance-stores-") as tmp:
        if url is None:
            import pgserver

            server = pgserver.get_server(Path(tmp) / "pg", cleanup_mode="stop")
            url = server.get_uri()
        config = settings.model_copy(update={"index_dir": Path(tmp) / "index"}).index
        summary = sync_index(corpus, config, lambda: embedder, with_sentences=False)
        folder = FolderStore(config.index_dir)
        database = PgStore(url, f"quality-{os.getpid()}")
        copy_index(folder, database)
        rows = []
        for name, target in (
            ("folder (FAISS + BM25)", folder),
            ("postgresql (pgvector + SQL BM25)", database),
        ):
            retriever = Retriever(
                target.load(), settings.retrieval.fusion, settings.retrieval.dense_weight, depth=300
            )
            measure(retriever, embedder, queries[:5], qrels)  # warm caches and connections
            rows.append(
                {"store": name, "chunks": summary.chunks, **measure(retriever, embedder, queries, qrels)}
            )
        if server is not None:
            server.cleanup()
    print(f"{args.folder.name}: {len(queries)} questions, {summary.chunks} chunks, load {os.getloadavg()}\n")
    print("| store | nDCG@10 | Recall@100 | MRR@10 | search p50 | p95 |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['store']} | {r['ndcg@10']:.4f} | {r['recall@100']:.4f} | {r['mrr@10']:.4f} | "
            f"{r['latency_ms_p50']:.1f} ms | {r['latency_ms_p95']:.1f} ms |"
        )
    print("\n" + json.dumps(rows))


if __name__ == "__main__":
    main()
