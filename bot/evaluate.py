"""`alliance-bot eval`: answer quality on a question file, retrieval quality on a dataset."""

from __future__ import annotations

import json
import math
import tempfile
import time
from pathlib import Path

import numpy as np

from bot.assistant import Assistant
from bot.config import Settings
from bot.embedding import load_embedder
from bot.ingest import sync_index
from bot.retrieval import Retriever
from bot.text import fold
from bot.types import Document


def contains_answer(text: str, answers: list[str]) -> bool:
    """Case-, accent- and spacing-insensitive containment."""
    haystack = " ".join(fold(text).split())
    return any(" ".join(fold(a).split()) in haystack for a in answers)


def read_jsonl(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def evaluate_questions(path: Path, assistant: Assistant, limit: int | None = None) -> dict:
    """hit@1, hit@5, answer accuracy, answered rate and refusal rate on a `.jsonl` file of
    `{question, answers}`; empty `answers` means the right outcome is `no_answer`."""
    questions = read_jsonl(path)[:limit]
    hit1 = hit5 = correct = answered = refused = 0
    answerable = [q for q in questions if q.get("answers")]
    latencies, failures = [], []
    for q in questions:
        t = time.perf_counter()
        result = assistant.ask(q["question"], k=5)
        latencies.append((time.perf_counter() - t) * 1000)
        answers = q.get("answers") or []
        if not answers:
            refused += result.status == "no_answer"
            if result.status != "no_answer":
                failures.append({"id": q.get("id"), "question": q["question"], "got": result.answer})
            continue
        hit1 += bool(result.passages) and contains_answer(result.passages[0].text, answers)
        hit5 += any(contains_answer(p.text, answers) for p in result.passages[:5])
        is_answered = result.status == "answered"
        answered += is_answered
        good = is_answered and contains_answer(result.answer, answers)
        correct += good
        if not good:
            failures.append({"id": q.get("id"), "question": q["question"], "got": result.answer})
    n_ans = len(answerable) or 1
    n_off = (len(questions) - len(answerable)) or 1
    return {
        "n": len(questions),
        "hit@1": round(hit1 / n_ans, 4),
        "hit@5": round(hit5 / n_ans, 4),
        "answer_accuracy": round(correct / n_ans, 4),
        "answered_rate": round(answered / n_ans, 4),
        "refusal_rate": round(refused / n_off, 4) if len(questions) > len(answerable) else None,
        "latency_ms_p50": round(float(np.percentile(latencies, 50)), 2) if latencies else None,
        "latency_ms_p95": round(float(np.percentile(latencies, 95)), 2) if latencies else None,
        "failures": failures,
    }


def evaluate_dataset(folder: Path, settings: Settings, limit: int | None = None) -> dict:
    """nDCG@10, Recall@100 and MRR@10 at document level (a document scores by its best
    chunk) on a BEIR-style folder, in a temporary index built with the current settings."""
    corpus = [
        Document(source=str(d["id"]), title=d.get("title") or "", text=d["text"])
        for d in read_jsonl(folder / "corpus.jsonl")
    ]
    queries = read_jsonl(folder / "queries.jsonl")
    qrels = read_qrels(folder / "qrels.tsv")
    queries = [q for q in queries if str(q["id"]) in qrels][:limit]
    embedder = load_embedder(settings)
    with tempfile.TemporaryDirectory(prefix="alliance-eval-") as tmp:
        temp_settings = settings.model_copy(update={"index_dir": Path(tmp)})
        t = time.perf_counter()
        summary = sync_index(corpus, temp_settings, lambda: embedder, with_sentences=False)
        ingest_seconds = time.perf_counter() - t
        assistant = Assistant(temp_settings, embedder=embedder)
        retriever = Retriever(
            assistant.index, settings.fusion, settings.dense_weight, depth=300
        )
        ndcgs, recall, mrr, latencies = [], [], [], []
        for q in queries:
            t = time.perf_counter()
            vector = embedder.encode_queries([q["text"]])[0]
            hits = retriever.search(vector, q["text"], k=300)
            latencies.append((time.perf_counter() - t) * 1000)
            ranking = list(dict.fromkeys(h.chunk.source for h in hits))
            relevant = qrels[str(q["id"])]
            ndcgs.append(ndcg(ranking[:10], relevant))
            recall.append(len(set(ranking[:100]) & set(relevant)) / len(relevant))
            mrr.append(next((1 / (i + 1) for i, d in enumerate(ranking[:10]) if d in relevant), 0.0))
    return {
        "n": len(queries),
        "ndcg@10": round(float(np.mean(ndcgs)), 4),
        "recall@100": round(float(np.mean(recall)), 4),
        "mrr@10": round(float(np.mean(mrr)), 4),
        "latency_ms_p50": round(float(np.percentile(latencies, 50)), 2),
        "latency_ms_p95": round(float(np.percentile(latencies, 95)), 2),
        "documents": len(corpus),
        "chunks": summary.chunks,
        "ingest_passages_per_s": round(summary.embedded_passages / ingest_seconds, 1),
    }


def read_qrels(path: Path) -> dict[str, dict[str, int]]:
    qrels: dict[str, dict[str, int]] = {}
    with open(path, encoding="utf-8") as f:
        next(f)  # header
        for line in f:
            qid, doc, score = line.rstrip("\n").split("\t")
            if int(score) > 0:
                qrels.setdefault(qid, {})[doc] = int(score)
    return qrels


def ndcg(ranking: list[str], relevant: dict[str, int]) -> float:
    dcg = sum(relevant.get(d, 0) / math.log2(i + 2) for i, d in enumerate(ranking))
    ideal = sorted(relevant.values(), reverse=True)[:10]
    idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
    return dcg / idcg if idcg else 0.0
