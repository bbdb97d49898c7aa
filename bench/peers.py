"""This product beside what a user would pick instead, in one run on the same texts.

    python bench/peers.py [--queries 300] [--passages N] [--peer-python PATH]

The same multilingual-e5-small (the converted directory in the model cache, loaded by
each peer as a local sentence-transformers path, with e5's "query: "/"passage: "
prompts) and the same PIAF passages and questions, through:
- this product: `alliance-bot ingest` (chunks + the reader's sentences, BM25) and
  `Assistant.ask` (embedding, hybrid search, extractive answer), default backend;
- LangChain: `HuggingFaceEmbeddings` + `FAISS.from_texts` / `similarity_search`;
- txtai: `Embeddings(path=..., backend="faiss")` / `search`.
Each runs in its own subprocess (peak memory is its own). Per-query latency is the
median over the questions, one at a time; ingest speed is PIAF passages per second;
nDCG@10 is at document level with bot.training.evaluate's ndcg. The peers need the `[peers]`
extra (`pip install -e '.[peers]'`), never a default dependency; a peer that is not
installed is reported as such. --peer-python runs the peers with another interpreter
(a virtualenv holding the extra). Prints a Markdown table with ratios to this product.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.config import REPO_ROOT  # noqa: E402
from bot.training.evaluate import ndcg, read_jsonl, read_qrels  # noqa: E402

SYSTEMS = {
    "product": "Alliance Bot `ask` (this product)",
    "langchain": "LangChain FAISS + HuggingFaceEmbeddings",
    "txtai": "txtai Embeddings (faiss)",
}


def load(piaf: Path, n_queries: int, n_passages: int = 0) -> tuple[list[dict], list[dict], dict]:
    """PIAF, or its first n_passages and the questions whose answers are among them."""
    corpus = read_jsonl(piaf / "corpus.jsonl")[: n_passages or None]
    ids = {str(d["id"]) for d in corpus}
    qrels = read_qrels(piaf / "qrels.tsv")
    queries = [
        q
        for q in read_jsonl(piaf / "queries.jsonl")
        if str(q["id"]) in qrels and set(qrels[str(q["id"])]) <= ids
    ]
    step = max(1, len(queries) // n_queries)
    return corpus, queries[::step][:n_queries], qrels


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def model_dir() -> str:
    from bot.config import Settings
    from bot.embedding.build.cache import ensure_model

    return str(ensure_model(Settings().model_cache))


def run_product(corpus: list[dict], tmp: Path):
    from bot.answer.assistant import Assistant
    from bot.answer.retrieval import Retriever
    from bot.config import Settings
    from bot.documents import Document
    from bot.embedding import load_embedder
    from bot.ingest.pipeline import sync_index

    settings = Settings(index_dir=tmp / "index")
    embedder = load_embedder(settings.embedding)
    docs = [Document(str(d["id"]), d.get("title") or "", d["text"]) for d in corpus]
    t = time.perf_counter()
    sync_index(docs, settings.index, lambda: embedder, progress=False)
    ingest_s = time.perf_counter() - t
    assistant = Assistant(settings.answer, embedder=embedder)
    deep = Retriever(assistant.index, settings.fusion, settings.dense_weight, depth=300)

    def ask(text: str) -> list[str]:
        assistant.ask(text)  # what a user waits for: embedding, hybrid search, answer
        return []

    def rank(text: str) -> list[str]:  # for nDCG: the whole ranking, not the 5 passages shown
        hits = deep.search(embedder.encode_queries([text])[0], text, 300)
        return list(dict.fromkeys(h.chunk.source for h in hits))

    return ingest_s, ask, rank


def run_langchain(corpus: list[dict], tmp: Path):
    from langchain_community.vectorstores import FAISS
    from langchain_huggingface import HuggingFaceEmbeddings

    embeddings = HuggingFaceEmbeddings(
        model_name=model_dir(),
        model_kwargs={"device": "cpu"},
        encode_kwargs={"normalize_embeddings": True, "prompt": "passage: "},
        query_encode_kwargs={"normalize_embeddings": True, "prompt": "query: "},
    )
    t = time.perf_counter()
    store = FAISS.from_texts(
        [f"{d.get('title') or ''}\n{d['text']}" for d in corpus],
        embeddings,
        metadatas=[{"id": str(d["id"])} for d in corpus],
    )
    ingest_s = time.perf_counter() - t

    def ask(text: str) -> list[str]:
        return [doc.metadata["id"] for doc in store.similarity_search(text, k=10)]

    return ingest_s, ask, ask


def run_txtai(corpus: list[dict], tmp: Path):
    from txtai import Embeddings

    embeddings = Embeddings(
        path=model_dir(),
        backend="faiss",
        content=False,
        instructions={"query": "query: ", "data": "passage: "},
    )
    t = time.perf_counter()
    embeddings.index([(str(d["id"]), f"{d.get('title') or ''}\n{d['text']}", None) for d in corpus])
    ingest_s = time.perf_counter() - t

    def ask(text: str) -> list[str]:
        return [str(uid) for uid, _ in embeddings.search(text, 10)]

    return ingest_s, ask, ask


def worker(name: str, piaf: Path, n_queries: int, n_passages: int) -> dict:
    corpus, queries, qrels = load(piaf, n_queries, n_passages)
    runner = {"product": run_product, "langchain": run_langchain, "txtai": run_txtai}[name]
    with tempfile.TemporaryDirectory(prefix="alliance-peers-") as tmp:
        try:
            ingest_s, ask, rank = runner(corpus, Path(tmp))
        except ImportError as e:
            return {"missing": e.name}
        for q in queries[:5]:  # warm-up
            ask(q["text"])
        latencies, scores = [], []
        for q in queries:
            t = time.perf_counter()
            ranking = ask(q["text"])
            latencies.append((time.perf_counter() - t) * 1000)
            scores.append(ndcg((ranking or rank(q["text"]))[:10], qrels[str(q["id"])]))
    return {
        "query_ms": statistics.median(latencies),
        "passages_per_s": len(corpus) / ingest_s,
        "ndcg": statistics.fmean(scores),
        "peak_mb": peak_mb(),
        "n": len(queries),
        "passages": len(corpus),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--piaf", type=Path, default=REPO_ROOT.parent / "shared/bench/piaf_fr")
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--passages", type=int, default=0, help="Only the first N passages (0: all).")
    parser.add_argument(
        "--peer-python", default=sys.executable, help="Interpreter with the [peers] extra installed."
    )
    parser.add_argument("--worker", choices=list(SYSTEMS), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.piaf, args.queries, args.passages)))
        return

    results = {}
    for name in SYSTEMS:
        python = sys.executable if name == "product" else args.peer_python
        done = subprocess.run(
            [
                python,
                __file__,
                "--worker",
                name,
                "--piaf",
                str(args.piaf),
                "--queries",
                str(args.queries),
                "--passages",
                str(args.passages),
            ],
            capture_output=True,
            text=True,
            check=False,
            cwd=REPO_ROOT,
        )
        if done.returncode != 0:
            sys.exit(f"{name} failed:\n{done.stderr[-3000:]}")
        results[name] = json.loads(done.stdout.splitlines()[-1])
    ours = results["product"]
    print(
        f"PIAF: {ours['passages']} passages, {ours['n']} questions, one at a time; same "
        "multilingual-e5-small for all. Ratios are peer / this product (latency and "
        "memory: > 1 means the peer is slower or bigger).\n"
    )
    print(
        "| system | query ms (median) | ratio | ingest passages/s | ratio | peak RSS MB | ratio | "
        "PIAF nDCG@10 | difference |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for name, label in SYSTEMS.items():
        r = results[name]
        if "missing" in r:
            print(f"| {label} | not installed ({r['missing']}): pip install -e '.[peers]' | | | | | | | |")
            continue
        print(
            f"| {label} | {r['query_ms']:.1f} | {r['query_ms'] / ours['query_ms']:.1f}x | "
            f"{r['passages_per_s']:.1f} | {r['passages_per_s'] / ours['passages_per_s']:.2f}x | "
            f"{r['peak_mb']:.0f} | {r['peak_mb'] / ours['peak_mb']:.1f}x | {r['ndcg']:.3f} | "
            f"{r['ndcg'] - ours['ndcg']:+.3f} |"
        )
    print(
        "\nThis product's ingest embeds each passage's chunks and its sentences (for the "
        "extractive reader) and builds BM25; the peers embed each passage once."
    )


if __name__ == "__main__":
    main()
