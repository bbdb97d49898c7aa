"""How search cost grows with the corpus: exact (flat) against approximate (HNSW) dense index.

    python bench/scale.py [--sizes 10000,100000,1000000] [--queries 200] [--workdir DIR]
                          [--postgres [--store-url URL]]

For each size, a synthetic corpus (seeded):
- texts: 40-120 words a chunk drawn from a Zipf law over the few thousand most frequent
  words of the PIAF corpus (`../shared`; a built-in word list otherwise), so BM25 gets
  realistic postings (a few terms in most passages, a long tail of rare ones);
- vectors: random unit vectors of dimension 384 with the structure real embeddings
  have: chunks of one document lean towards the document's direction, documents of
  one topic towards the topic's (cosine about 0.7 between sibling chunks, 0.3 within a
  topic, 0 otherwise); without it every vector is equally far from every other and
  "the 10 nearest" means nothing, for exact and approximate search alike.

The generation is written by the real storage code (`bot.index.store.write_generation`, with
the HNSW plan); the exact variant is the same generation with a flat FAISS file (the
manifest updated, the other files shared). Build time is the write for HNSW and the same
minus the graph plus the flat index for exact. Then, for each variant, a fresh process
(OMP_NUM_THREADS=1, as `serve`) loads it with `LoadedIndex` and runs hybrid searches with
`Retriever` (dense top-100 + BM25 top-100, z-score fusion): resident memory (psutil),
load time, p50/p99 per question. Queries: `--queries` perturbed stored vectors (cosine
about 0.9 to their source, words taken from the source chunk) and as many random vectors
with random words. Recall@10 is the HNSW dense top-10 against the exact one; "hybrid
top-10" is the overlap of the final fused top-10 with the exact variant's. Prints a
Markdown table and the threshold below which exact search stays within budget.

With --postgres, the same documents also go into the PostgreSQL store (bot/index/pg.py; a
throwaway `pgserver` in the work folder unless --store-url): build time (COPY, SQL BM25
lexicon, pgvector HNSW with the same M and ef_construction), the database's size, and a
fresh process searching it through `PgIndex` (the replica's RSS, p50/p99, recall@10 against
the exact FAISS variant). The database server's own memory is not in that RSS.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bot.config import REPO_ROOT  # noqa: E402
from bot.documents import Chunk, Document  # noqa: E402
from bot.index import (
    dense,  # noqa: E402
    store,  # noqa: E402
)
from bot.ingest.pipeline import chunk_terms  # noqa: E402

# ALLIANCE_SHARED: where ../shared is when the checkout is elsewhere (a git worktree).
PIAF = (
    Path(os.environ.get("ALLIANCE_SHARED", REPO_ROOT.parent / "shared"))
    / "bench"
    / "piaf_fr"
    / "corpus.jsonl"
)
DIMENSION = 384
VOCABULARY = 5000
CHUNKS_PER_DOCUMENT = 20
DOCUMENTS_PER_TOPIC = 50
# Shares of the topic, document and chunk directions in a chunk vector (squares sum to 1).
TOPIC, DOCUMENT, OWN = np.sqrt(0.3), np.sqrt(0.4), np.sqrt(0.3)
QUERY_WORDS = 6
# A question's dense search may take this long before the exact index is too slow.
DENSE_BUDGET_MS = 5.0


def vocabulary() -> list[str]:
    """Real French words, most frequent first (the Zipf ranks)."""
    from bot.text import words

    counts: Counter[str] = Counter()
    if PIAF.is_file():
        with open(PIAF, encoding="utf-8") as f:
            for line in f:
                row = json.loads(line)
                text = row["title"] + " " + row["text"]
                counts.update(w for w in words(text) if w.isalpha() and len(w) > 1)
    else:
        fallback = (
            "le la les de des du et en un une est pour dans que qui sur par au avec son ses "
            "programme alliance poste entreprise sociale solidaire économie emploi projet "
            "association territoire réseau partenaire insertion coopérative commune région"
        )
        counts.update({w: 1000 - i for i, w in enumerate(fallback.split())})
    return [w for w, _ in counts.most_common(VOCABULARY)]


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def chunk_vectors(n: int, rng: np.random.Generator) -> np.ndarray:
    documents = -(-n // CHUNKS_PER_DOCUMENT)
    topics = -(-documents // DOCUMENTS_PER_TOPIC)
    topic = unit(rng.standard_normal((topics, DIMENSION), dtype=np.float32))
    document = unit(rng.standard_normal((documents, DIMENSION), dtype=np.float32))
    out = np.empty((n, DIMENSION), np.float32)
    for lo in range(0, n, 100_000):  # in blocks: a million rows at once would double the peak
        rows = np.arange(lo, min(n, lo + 100_000))
        doc = rows // CHUNKS_PER_DOCUMENT
        own = unit(rng.standard_normal((len(rows), DIMENSION), dtype=np.float32))
        out[rows] = unit(TOPIC * topic[doc // DOCUMENTS_PER_TOPIC] + DOCUMENT * document[doc] + OWN * own)
    return out


class Words:
    """The words of every chunk as one int32 array of vocabulary ranks (a Python string per
    word would take several GB at a million chunks)."""

    def __init__(self, n: int, rng: np.random.Generator):
        self.vocabulary = vocabulary()
        zipf = 1.0 / np.arange(1, len(self.vocabulary) + 1)
        lengths = rng.integers(40, 121, size=n)
        self.ranks = rng.choice(len(self.vocabulary), size=int(lengths.sum()), p=zipf / zipf.sum())
        self.ranks = self.ranks.astype(np.int32)
        self.bounds = np.concatenate([[0], np.cumsum(lengths)])

    def __getitem__(self, i: int) -> list[str]:
        return [self.vocabulary[r] for r in self.ranks[self.bounds[i] : self.bounds[i + 1]].tolist()]


def corpus(n: int, seed: int) -> tuple[list[store.IndexedDocument], np.ndarray, Words]:
    """Synthetic documents as an ingest hands them to the storage module (no sentences)."""
    rng = np.random.default_rng(seed)
    chunk_words = Words(n, rng)
    vectors = chunk_vectors(n, rng)
    docs = []
    for d, first in enumerate(range(0, n, CHUNKS_PER_DOCUMENT)):
        source = f"synthetique/doc-{d:07d}.md"
        last = min(n, first + CHUNKS_PER_DOCUMENT)
        texts = [" ".join(chunk_words[i]).capitalize() + "." for i in range(first, last)]
        chunks, at = [], 0
        for text in texts:
            chunks.append(Chunk(source, at, at + len(text)))
            at += len(text) + 2
        text = "\n\n".join(texts)
        stored = Document(source, f"Document {d}", text)
        rows = vectors[first : first + len(chunks)]
        docs.append(store.IndexedDocument(stored, chunks, [v.tobytes() for v in rows]))
    return docs, vectors, chunk_words


def queries(vectors: np.ndarray, chunk_words: Words, count: int, seed: int):
    """`count` perturbed stored vectors with words of their chunk, `count` random ones."""
    rng = np.random.default_rng(seed + 1)
    sources = rng.choice(len(vectors), size=count, replace=False)
    noise = unit(rng.standard_normal((count, DIMENSION), dtype=np.float32))
    near = unit(np.sqrt(0.8) * vectors[sources] + np.sqrt(0.2) * noise)
    far = unit(rng.standard_normal((count, DIMENSION), dtype=np.float32))
    vocab = chunk_words.vocabulary
    texts = [" ".join(rng.choice(chunk_words[s], size=QUERY_WORDS)) for s in sources]
    texts += [" ".join(rng.choice(vocab, size=QUERY_WORDS)) for _ in range(count)]
    return np.vstack([near, far]), texts


class Timed:
    """Times every call of `dense.build` (the graph's share of the write)."""

    def __init__(self):
        self.seconds = 0.0
        self._build = dense.build

    def __call__(self, *args, **kwargs):
        began = time.perf_counter()
        try:
            return self._build(*args, **kwargs)
        finally:
            self.seconds += time.perf_counter() - began


def synthetic_manifest(docs: list[store.IndexedDocument]) -> store.Manifest:
    """A new generation's manifest for the synthetic chunks (one per store written)."""
    return store.Manifest(
        version=store.new_generation_name(),
        model="synthetique",
        dimension=DIMENSION,
        chunk_size=800,
        chunk_overlap=0,
        language="fr",
        documents=len(docs),
        chunks=sum(len(d.chunks) for d in docs),
    )


def write_hnsw(index_dir: Path, docs: list[store.IndexedDocument]) -> tuple[Path, float, float]:
    manifest = synthetic_manifest(docs)
    timer = Timed()
    dense.build = timer
    try:
        began = time.perf_counter()
        index_dir.mkdir(parents=True, exist_ok=True)
        generation = store.write_generation(index_dir, manifest, docs, chunk_terms("fr"), dense_exact_max=0)
        seconds = time.perf_counter() - began
    finally:
        dense.build = timer._build
    return generation, seconds, timer.seconds


def derive_flat(generation: Path) -> tuple[Path, float]:
    """The same generation with an exact index: a copied database with its manifest
    updated, the BM25 files shared, a flat FAISS file."""
    flat = generation.with_name(generation.name + "-flat")
    flat.mkdir()
    (flat / store.LEASE).touch()
    shutil.copyfile(generation / store.SQLITE, flat / store.SQLITE)
    db = sqlite3.connect(flat / store.SQLITE)
    db.execute("UPDATE manifest SET value = ? WHERE key = 'dense'", (json.dumps({"type": "flat"}),))
    db.commit()
    db.close()
    for path in generation.glob(store.BM25_FILE + ".*"):
        os.link(path, flat / path.name)
    graph = dense.load(generation / store.FAISS, {"type": "hnsw", "ef_search": 1})
    began = time.perf_counter()
    dense.write(dense.build(graph.vectors, {"type": "flat"}, DIMENSION), flat / store.FAISS)
    del graph  # after the build: `vectors` points into its memory
    return flat, time.perf_counter() - began


# The measuring process: load, search, report. Run fresh for each variant.
PROBE = r"""
import json, sys, time
import numpy as np, psutil
from pathlib import Path
from bot.index.store import LoadedIndex
from bot.answer.retrieval import Retriever
where, work = sys.argv[1], Path(sys.argv[2])
began = time.perf_counter()
if where.startswith("pg:"):
    from bot.index.pg import PgStore
    url, collection = where[3:].rsplit("#", 1)
    index = PgStore(url, collection).load()
else:
    index = LoadedIndex(Path(where))
load_s = time.perf_counter() - began
rss_loaded = psutil.Process().memory_info().rss
vectors = np.load(work / "queries.npy")
texts = json.loads((work / "queries.json").read_text(encoding="utf-8"))
retriever = Retriever(index)
for i in range(5):
    retriever.search(vectors[i], texts[i], 10)
times, hybrid, dense_ms = [], [], []
for vector, text in zip(vectors, texts):
    t = time.perf_counter()
    hits = retriever.search(vector, text, 10)
    times.append((time.perf_counter() - t) * 1000)
    hybrid.append([h.row for h in hits])
for vector in vectors[:50]:
    t = time.perf_counter()
    index.dense.search(vector, 100)
    dense_ms.append((time.perf_counter() - t) * 1000)
found = [index.dense.search(v, 10) for v in vectors]
np.save(work / "top10.npy", np.vstack([f[1] for f in found]))
np.save(work / "scores10.npy", np.vstack([f[0] for f in found]))
print(json.dumps({
    "load_s": load_s, "rss_loaded": rss_loaded, "rss": psutil.Process().memory_info().rss,
    "p50": float(np.percentile(times, 50)), "p99": float(np.percentile(times, 99)),
    "dense_p50": float(np.percentile(dense_ms, 50)), "hybrid": hybrid,
}))
"""


def write_postgres(url: str, docs: list[store.IndexedDocument], n: int) -> tuple[str, float]:
    """The same documents as a PostgreSQL generation (HNSW plan); returns its probe address."""
    from bot.index.pg import PgStore

    collection = f"scale{n}"
    target = PgStore(url, collection)
    manifest = synthetic_manifest(docs)
    began = time.perf_counter()
    with target.lock(60):
        target.write_generation(manifest, docs, chunk_terms("fr"), dense_exact_max=0)
    return f"pg:{url}#{collection}", time.perf_counter() - began


def postgres_size(url: str, name: str) -> tuple[int, int]:
    """The generation's tables with their indexes and TOAST, and its HNSW index alone."""
    import psycopg

    with psycopg.connect(url) as conn:
        total, graph = conn.execute(
            "SELECT sum(pg_total_relation_size(c.oid)), "
            "sum(pg_relation_size(c.oid)) FILTER (WHERE c.relkind = 'i' AND am.amname = 'hnsw') "
            "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "LEFT JOIN pg_am am ON am.oid = c.relam WHERE n.nspname = %s AND c.relkind IN ('r', 'i')",
            (name,),
        ).fetchone()
    return int(total or 0), int(graph or 0)


def probe(generation: Path | str, work: Path) -> tuple[dict, np.ndarray, np.ndarray]:
    env = os.environ | {"OMP_NUM_THREADS": "1"}
    out = subprocess.run(
        [sys.executable, "-c", PROBE, str(generation), str(work)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO_ROOT,
    )
    return json.loads(out.stdout), np.load(work / "top10.npy"), np.load(work / "scores10.npy")


def disk_size(generation: Path) -> tuple[int, int]:
    total = sum(p.stat().st_size for p in generation.iterdir() if p.is_file())
    return total, (generation / store.FAISS).stat().st_size


def overlap(found, truth, k: int = 10) -> float:
    """Mean share of each true top-k found in the other list's top-k."""
    pairs = zip(found, truth, strict=True)
    return float(np.mean([len(set(x[:k]) & set(y[:k])) / max(1, min(k, len(y))) for x, y in pairs]))


def run_size(n: int, count: int, workdir: Path, seed: int, pg_url: str | None = None) -> list[dict]:
    work = workdir / f"n{n}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    began = time.perf_counter()
    docs, vectors, chunk_words = corpus(n, seed)
    qv, qt = queries(vectors, chunk_words, count, seed)
    np.save(work / "queries.npy", qv)
    (work / "queries.json").write_text(json.dumps(qt, ensure_ascii=False), encoding="utf-8")
    del chunk_words, vectors
    print(f"n={n}: corpus generated in {time.perf_counter() - began:.0f} s", file=sys.stderr, flush=True)
    generation, write_s, graph_s = write_hnsw(work / "index", docs)
    if pg_url is not None:
        pg_where, pg_write_s = write_postgres(pg_url, docs, n)
        print(f"n={n}: PostgreSQL generation written in {pg_write_s:.0f} s", file=sys.stderr, flush=True)
    del docs
    print(
        f"n={n}: HNSW generation written in {write_s:.0f} s (graph {graph_s:.0f} s)",
        file=sys.stderr,
        flush=True,
    )
    flat, flat_s = derive_flat(generation)
    rows = []
    results = {}
    for kind, gen, build_s in (
        ("exact (flat)", flat, write_s - graph_s + flat_s),
        ("HNSW", generation, write_s),
    ):
        measured, top10, scores10 = probe(gen, work)
        results[kind] = (measured, top10, scores10)
        total, faiss_size = disk_size(gen)
        rows.append(
            {
                "n": n,
                "kind": kind,
                "build_s": build_s,
                "disk": total,
                "faiss": faiss_size,
                **{k: v for k, v in measured.items() if k != "hybrid"},
            }
        )
        print(f"n={n} {kind}: {json.dumps(rows[-1])}", file=sys.stderr, flush=True)
    exact, exact_top, exact_scores = results["exact (flat)"]
    approx, approx_top, approx_scores = results["HNSW"]
    rows[-1]["recall_near"] = overlap(approx_top[:count], exact_top[:count])
    rows[-1]["recall_random"] = overlap(approx_top[count:], exact_top[count:])
    rows[-1]["hybrid_agreement"] = overlap(approx["hybrid"], exact["hybrid"])
    # Random queries sit near nothing: how far below the exact top-10 is what HNSW found?
    rows[-1]["random_cosine_ratio"] = float(approx_scores[count:].sum() / exact_scores[count:].sum())
    rows[-1]["random_gap"] = float(np.mean(exact_scores[count:, 0] - exact_scores[count:, 9]))
    if pg_url is not None:
        measured, top10, _ = probe(pg_where, work)
        from bot.index.pg import PgStore

        name = PgStore(pg_url, f"scale{n}").current()
        total, graph_size = postgres_size(pg_url, name)
        rows.append(
            {
                "n": n,
                "kind": "PostgreSQL HNSW",
                "build_s": pg_write_s,
                "disk": total,
                "faiss": graph_size,
                **{k: v for k, v in measured.items() if k != "hybrid"},
                "recall_near": overlap(top10[:count], exact_top[:count]),
                "recall_random": overlap(top10[count:], exact_top[count:]),
                "hybrid_agreement": overlap(measured["hybrid"], exact["hybrid"]),
                "random_cosine_ratio": float("nan"),
            }
        )
        print(f"n={n} postgresql: {json.dumps(rows[-1])}", file=sys.stderr, flush=True)
    if not os.environ.get("SCALE_KEEP"):
        shutil.rmtree(work, ignore_errors=True)
    return rows


def table(rows: list[dict]) -> str:
    lines = [
        "| chunks | dense index | build | disk (FAISS) | RSS loaded / after queries | load | "
        "dense top-100 p50 | hybrid p50 | hybrid p99 | recall@10 near / random (cosine ratio) | "
        "hybrid top-10 vs exact |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    gb = 1024**3
    for r in rows:
        recall = (
            f"{r['recall_near']:.3f} / {r['recall_random']:.3f} ({r['random_cosine_ratio']:.3f})"
            if "recall_near" in r
            else "1 (exact)"
        )
        agreement = f"{r['hybrid_agreement']:.3f}" if "hybrid_agreement" in r else "-"
        lines.append(
            f"| {r['n']:,} | {r['kind']} | {r['build_s']:.1f} s | {r['disk'] / gb:.2f} GB "
            f"({r['faiss'] / gb:.2f}) | {r['rss_loaded'] / gb:.2f} / {r['rss'] / gb:.2f} GB | "
            f"{r['load_s']:.1f} s | {r['dense_p50']:.2f} ms | {r['p50']:.1f} ms | {r['p99']:.1f} ms | "
            f"{recall} | {agreement} |"
        )
    return "\n".join(lines)


def threshold(rows: list[dict]) -> int:
    """Largest corpus the exact index searches within DENSE_BUDGET_MS, its cost being linear
    in the number of chunks (fitted on the largest measured size)."""
    exact = max((r for r in rows if r["kind"].startswith("exact")), key=lambda r: r["n"])
    per_chunk = exact["dense_p50"] / exact["n"]
    return int(DENSE_BUDGET_MS / per_chunk // 10_000 * 10_000)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--queries", type=int, default=200, help="Perturbed queries (as many random).")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--postgres", action="store_true", help="Also measure the PostgreSQL store.")
    parser.add_argument("--store-url", default=None, help="Its database (default: a throwaway pgserver).")
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="alliance-scale-"))
    pg_url, server = args.store_url, None
    if args.postgres and pg_url is None:
        import pgserver

        workdir.mkdir(parents=True, exist_ok=True)
        server = pgserver.get_server(workdir / "pgdata", cleanup_mode="stop")
        pg_url = server.get_uri()
    rows = []
    for n in (int(s) for s in args.sizes.split(",")):
        rows += run_size(n, args.queries, workdir, args.seed, pg_url if args.postgres else None)
        print(table(rows), file=sys.stderr, flush=True)
    print(
        f"Dense index: HNSW M={dense.HNSW_M}, efConstruction={dense.HNSW_EF_CONSTRUCTION}, "
        f"efSearch={dense.HNSW_EF_SEARCH}; OMP_NUM_THREADS=1 for searching; machine shared.\n"
    )
    print(table(rows))
    print(f"\nLoad average at the end: {os.getloadavg()}")
    if server is not None:
        server.cleanup()
    for r in rows:
        if "random_gap" in r:
            print(
                f"\n{r['n']:,} chunks, random queries: exact cosine of rank 1 minus rank 10 = "
                f"{r['random_gap']:.3f} on average (near-ties).",
                end="",
            )
    print(
        f"\n\nExact search within {DENSE_BUDGET_MS:.0f} ms per question up to about "
        f"{threshold(rows):,} chunks (default ALLIANCE_DENSE_EXACT_MAX = {dense.DEFAULT_EXACT_MAX:,})."
    )


if __name__ == "__main__":
    main()
