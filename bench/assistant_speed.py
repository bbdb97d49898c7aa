"""Speed of the assistant in-process: `ask` latency, ingest throughput, no-op re-ingest.

    python bench/assistant_speed.py [--backend onnx-int8] [--ingest-backends onnx-int8,torch]

Prints a Markdown table. All figures come from one run, on this machine, after the
model is loaded (loading it is reported on its own line). PIAF's ingest is timed for
each of --ingest-backends twice: texts sorted by length before batching (what ingest
does) and in their given order (what it did before), so the speedup splits into the
model's part and the sorting's part.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

import bot.ingest.pipeline
from bot.answer.assistant import Assistant
from bot.config import REPO_ROOT, Settings
from bot.documents import Document
from bot.embedding import load_embedder
from bot.ingest.pipeline import encode_with_progress, ingest, sync_index

QUESTIONS = [
    "Qui a lancé l'Alliance Dynamique ?",
    "En quelle année l'Alliance Dynamique a-t-elle été créée ?",
    "Quels sont les deux types de partenariats ?",
    "Qui a proposé une analyse de la crise ?",
    "Quelle fondation a reconnu l'Alliance Dynamique ?",
    "Qu'est-ce que l'ODD 17 ?",
    "Quand l'Alliance Dynamique fêtera-t-elle ses 7 ans ?",
    "Quelle est la capitale de l'Australie ?",
    "When was the Alliance Dynamique founded?",
    "D'où la cérémonie du 1er octobre est-elle retransmise ?",
]


def encode_in_given_order(embedder, texts: list[str], progress: bool | None, tokens_from=None):
    """The ingest's encoding before texts were sorted by length: batches of 64 as they come
    (token vectors left out: the index then stores none)."""
    parts = [np.zeros((0, embedder.dimension), np.float32)]
    for i in range(0, len(texts), 64):
        parts.append(embedder.encode_passages(texts[i : i + 64]))
    return np.vstack(parts), [None] * len(texts)


def piaf_ingest(corpus: list[Document], settings: Settings, embedder, sort: bool) -> tuple[float, int]:
    """Seconds to ingest PIAF into a fresh index, and the texts embedded (chunks + sentences)."""
    bot.ingest.pipeline.encode_with_progress = encode_with_progress if sort else encode_in_given_order
    try:
        summary = sync_index(corpus, settings.index, lambda: embedder, progress=False, rebuild=True)
    finally:
        bot.ingest.pipeline.encode_with_progress = encode_with_progress
    return summary.seconds, summary.embedded_passages


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--piaf", type=Path, default=REPO_ROOT.parent / "shared/bench/piaf_fr")
    parser.add_argument("--rounds", type=int, default=10, help="Passes over the questions.")
    parser.add_argument(
        "--backend",
        choices=["torch", "onnx", "onnx-int8"],
        default=None,
        help="Embedding backend for ask (default: the product's default).",
    )
    parser.add_argument(
        "--ingest-backends",
        default="onnx-int8,torch",
        help="Backends whose PIAF ingest is timed, comma-separated ('' for none).",
    )
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(index_dir=Path(tmp) / "index", embedding_backend=args.backend)
        t = time.perf_counter()
        embedder = load_embedder(settings.embedding)
        rows.append(
            (f"model load (warm cache), backend {settings.backend}", f"{time.perf_counter() - t:.2f} s")
        )

        first = ingest([settings.documents_dir], settings.index, lambda: embedder, progress=False)
        rows.append(("ingest default corpus", f"{first.seconds:.2f} s, {first.chunks} chunks"))
        again = [
            ingest([settings.documents_dir], settings.index, lambda: embedder, progress=False).seconds
            for _ in range(5)
        ]
        rows.append(("re-ingest, nothing changed (median of 5)", f"{np.median(again):.3f} s"))

        assistant = Assistant(settings.answer, embedder=embedder)
        for q in QUESTIONS:  # warm-up
            assistant.ask(q)
        latencies, embed, answer_ms = [], [], []
        for _ in range(args.rounds):
            for q in QUESTIONS:
                t = time.perf_counter()
                answer = assistant.ask(q)
                latencies.append((time.perf_counter() - t) * 1000)
                embed.append(answer.timings_ms["embed"])
                answer_ms.append(answer.timings_ms["answer"])
        rows.append((f"ask in-process p50 (n={len(latencies)})", f"{np.percentile(latencies, 50):.1f} ms"))
        rows.append(("ask in-process p95", f"{np.percentile(latencies, 95):.1f} ms"))
        rows.append(("  of which query embedding p50", f"{np.percentile(embed, 50):.1f} ms"))
        rows.append(("  of which the answer (reader) p50", f"{np.percentile(answer_ms, 50):.2f} ms"))

        backends = [b for b in args.ingest_backends.split(",") if b]
        if args.piaf.is_dir() and backends:
            corpus = [
                Document(str(d["id"]), d["title"], d["text"])
                for d in map(json.loads, open(args.piaf / "corpus.jsonl", encoding="utf-8"))
            ]
            for backend in backends:
                piaf = settings.model_copy(
                    update={"index_dir": Path(tmp) / f"piaf-{backend}", "embedding_backend": backend}
                )
                model = embedder if backend == settings.backend else load_embedder(piaf.embedding)
                for sort in (True, False):
                    seconds, texts = piaf_ingest(corpus, piaf, model, sort)
                    rows.append(
                        (
                            f"ingest PIAF, {backend}, {'sorted by length' if sort else 'given order'} "
                            f"({len(corpus)} passages, {texts} texts embedded)",
                            f"{seconds:.0f} s = {len(corpus) / seconds:.1f} passages/s",
                        )
                    )
    print("| measure | value |\n|---|---|")
    for name, value in rows:
        print(f"| {name} | {value} |")


if __name__ == "__main__":
    main()
