"""Speed of the assistant in-process: `ask` latency, ingest throughput, no-op re-ingest.

    python bench/assistant_speed.py [--piaf ../shared/bench/piaf_fr] [--rounds 5]

Prints a Markdown table. All figures come from one run, on this machine, after the
model is loaded (loading it is reported on its own line).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from bot.assistant import Assistant
from bot.config import REPO_ROOT, Settings
from bot.embedding import load_embedder
from bot.ingest import ingest, sync_index
from bot.types import Document

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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--piaf", type=Path, default=REPO_ROOT.parent / "shared/bench/piaf_fr")
    parser.add_argument("--rounds", type=int, default=10, help="Passes over the questions.")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(index_dir=Path(tmp) / "index")
        t = time.perf_counter()
        embedder = load_embedder(settings)
        rows.append(("model load (warm cache)", f"{time.perf_counter() - t:.2f} s"))

        first = ingest([settings.documents_dir], settings, lambda: embedder, progress=False)
        rows.append(("ingest default corpus", f"{first.seconds:.2f} s, {first.chunks} chunks"))
        again = [
            ingest([settings.documents_dir], settings, lambda: embedder, progress=False).seconds
            for _ in range(5)
        ]
        rows.append(("re-ingest, nothing changed (median of 5)", f"{np.median(again):.3f} s"))

        assistant = Assistant(settings, embedder=embedder)
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

        if args.piaf.is_dir():
            corpus = [
                Document(str(d["id"]), d["title"], d["text"])
                for d in map(json.loads, open(args.piaf / "corpus.jsonl", encoding="utf-8"))
            ]
            piaf = settings.model_copy(update={"index_dir": Path(tmp) / "piaf"})
            summary = sync_index(corpus, piaf, lambda: embedder, progress=False)
            rows.append((
                f"ingest PIAF ({len(corpus)} passages, {summary.embedded_passages} texts embedded)",
                f"{summary.seconds:.0f} s = {len(corpus) / summary.seconds:.1f} passages/s",
            ))
    print("| measure | value |\n|---|---|")
    for name, value in rows:
        print(f"| {name} | {value} |")


if __name__ == "__main__":
    main()
