"""`alliance-bot eval`: answer quality on a question file, retrieval quality on a dataset."""

from __future__ import annotations

import json
import math
import re
import string
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

import numpy as np

from bot.answer.assistant import Assistant
from bot.answer.retrieval import Retriever
from bot.config import Settings
from bot.documents import Document
from bot.embedding import load_embedder
from bot.errors import UserError
from bot.index.stores import open_store
from bot.ingest.pipeline import sync_index
from bot.text import contains_answer

_ARTICLES = re.compile(r"\b(le|la|les|l|un|une|des|du|de|d|the|a|an)\b")
_PUNCTUATION = set(string.punctuation) | set("«»“”’‘–—…")


def normalize_answer(text: str) -> str:
    """SQuAD's normalisation adapted to French: lower case, no punctuation, no articles
    (le, la, les, l', un, une, des, du, de, d'), single spaces."""
    text = text.lower().replace("’", "'")
    text = "".join(" " if c in _PUNCTUATION else c for c in text)
    return " ".join(_ARTICLES.sub(" ", text).split())


def exact_match(prediction: str, golds: list[str]) -> float:
    return float(any(normalize_answer(prediction) == normalize_answer(g) for g in golds))


def token_f1(prediction: str, golds: list[str]) -> float:
    def f1(gold: str) -> float:
        p, g = normalize_answer(prediction).split(), normalize_answer(gold).split()
        common = sum((Counter(p) & Counter(g)).values())
        if not p or not g or not common:
            return float(p == g)
        precision, recall = common / len(p), common / len(g)
        return 2 * precision * recall / (precision + recall)

    return max((f1(g) for g in golds), default=0.0)


def read_jsonl(path: Path, required: str | None = None) -> list[dict]:
    """One JSON object a line (blank lines skipped); a bad line is a `UserError` naming it."""
    rows = []
    with open(path, encoding="utf-8", errors="strict") as f:
        try:
            for number, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except (ValueError, RecursionError) as e:
                    why = getattr(e, "msg", "nesting too deep")
                    fr, en = f"JSON invalide ({why})", f"invalid JSON ({why})"
                    raise _bad_line(path, number, fr, en) from None
                if not isinstance(row, dict) or (required and not isinstance(row.get(required), str)):
                    want = f'{{"{required or "…"}": "…"}}'
                    raise _bad_line(path, number, f"attendu un objet {want}", f"expected an object {want}")
                rows.append(row)
        except UnicodeDecodeError:
            fr, en = f"{path} : pas du texte UTF-8.", f"{path}: not UTF-8 text."
            raise UserError("bad_jsonl", fr, en) from None
    return rows


def _bad_line(path: Path, number: int, fr: str, en: str) -> UserError:
    return UserError("bad_jsonl", f"{path}, ligne {number} : {fr}.", f"{path}, line {number}: {en}.")


def evaluate_questions(path: Path, assistant: Assistant, limit: int | None = None) -> dict:
    """hit@1, hit@5, answer accuracy, answered rate and refusal rate on a `.jsonl` file of
    `{question, answers}`; empty `answers` means the right outcome is `no_answer`."""
    questions = read_jsonl(path, required="question")[:limit]
    hit1 = hit5 = correct = answered = refused = 0
    answerable = [q for q in questions if q.get("answers")]
    latencies, failures, records = [], [], []
    short_given = short_em = short_f1 = 0.0
    for q in questions:
        t = time.perf_counter()
        result = assistant.ask(q["question"], k=5)
        latencies.append((time.perf_counter() - t) * 1000)
        answers = q.get("answers") or []
        is_answered = result.status == "answered"
        good = bool(answers) and is_answered and contains_answer(result.answer, answers)
        records.append({"confidence": result.confidence, "present": bool(answers), "correct": good})
        if not answers:
            refused += result.status == "no_answer"
            if result.status != "no_answer":
                failures.append({"id": q.get("id"), "question": q["question"], "got": result.answer})
            continue
        hit1 += bool(result.passages) and contains_answer(result.passages[0].text, answers)
        hit5 += any(contains_answer(p.text, answers) for p in result.passages[:5])
        answered += is_answered
        correct += good
        if is_answered and result.short_answer is not None:
            short_given += 1
            short_em += exact_match(result.short_answer.text, answers)
            short_f1 += token_f1(result.short_answer.text, answers)
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
        "short_answer_share": round(short_given / answered, 4) if answered else None,
        "short_answer_em": round(short_em / short_given, 4) if short_given else None,
        "short_answer_f1": round(short_f1 / short_given, 4) if short_given else None,
        "latency_ms_p50": round(float(np.percentile(latencies, 50)), 2) if latencies else None,
        "latency_ms_p95": round(float(np.percentile(latencies, 95)), 2) if latencies else None,
        "failures": failures,
        "records": records,
    }


def reliability_table(records: list[dict], bins: int = 10) -> list[dict]:
    """Predicted probability (the reader's confidence) against how often the answer at that
    confidence is right; absent questions count as wrong whatever is quoted."""
    rows = []
    for b in range(bins):
        lo, hi = b / bins, (b + 1) / bins
        last = b == bins - 1
        inside = [r for r in records if lo <= r["confidence"] < hi or (last and r["confidence"] == 1)]
        if inside:
            rows.append(
                {
                    "bin": f"{lo:.1f}–{hi:.1f}",
                    "n": len(inside),
                    "mean_confidence": round(float(np.mean([r["confidence"] for r in inside])), 3),
                    "observed_accuracy": round(float(np.mean([r["correct"] for r in inside])), 3),
                }
            )
    return rows


def threshold_curve(records: list[dict], thresholds: list[float]) -> list[dict]:
    """Answer accuracy (present questions) and refusal rate (absent ones) as the refusal
    threshold moves; `records` must come from a run that answered everything (threshold 0)."""
    present = [r for r in records if r["present"]]
    absent = [r for r in records if not r["present"]]
    return [
        {
            "threshold": t,
            "answer_accuracy": round(
                sum(r["correct"] and r["confidence"] >= t for r in present) / max(len(present), 1), 4
            ),
            "answered": round(sum(r["confidence"] >= t for r in present) / max(len(present), 1), 4),
            "refusal": round(sum(r["confidence"] < t for r in absent) / max(len(absent), 1), 4),
        }
        for t in thresholds
    ]


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
    embedder = load_embedder(settings.embedding)
    with tempfile.TemporaryDirectory(prefix="alliance-eval-") as tmp:
        temp_settings = settings.model_copy(update={"index_dir": Path(tmp)})
        if settings.index.store_url:  # a collection of its own in that database, dropped after
            temp_settings = temp_settings.model_copy(update={"collection": f"eval-{uuid.uuid4().hex[:8]}"})
        t = time.perf_counter()
        summary = sync_index(corpus, temp_settings.index, lambda: embedder, with_sentences=False)
        ingest_seconds = time.perf_counter() - t
        assistant = Assistant(temp_settings.answer, embedder=embedder)
        retriever = Retriever(
            assistant.index, settings.retrieval.fusion, settings.retrieval.dense_weight, depth=300
        )
        measured = measure(retriever, embedder, queries, qrels)
        if settings.index.store_url:
            open_store(temp_settings.index).drop()
    return {
        **measured,
        "documents": len(corpus),
        "chunks": summary.chunks,
        "ingest_passages_per_s": round(summary.embedded_passages / ingest_seconds, 1),
    }


def measure(retriever: Retriever, embedder, queries: list[dict], qrels: dict[str, dict[str, int]]) -> dict:
    """nDCG@10, Recall@100, MRR@10 (documents ranked by their best chunk) and latency."""
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
