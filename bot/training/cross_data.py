"""Training examples for the cross-encoder reader, from PIAF `train` articles only.

Each question is read against several indexes, with the same retrieval and candidate
sentences as serving (bot.answer.reader.features.read):
  - "all": every train article; the sentences of its gold passage holding an answer are
    positives, every other candidate a negative;
  - "without": the question's fold left out, so every candidate is a near miss (abstention);
  - "alone": its own article alone, and "other": another single article, so that neither
    answering nor refusing depends on how much else is indexed.
Written as one JSON line a group, sorted and rounded: same inputs, same bytes.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import numpy as np

from bot.text import contains_answer

SETTINGS = ("all", "without", "alone", "other")


def answer_span(text: str, answers: list[str]) -> list[int] | None:
    """Character offsets of the first gold answer found in `text` (case-insensitive), or None."""
    for a in answers:
        m = re.search(re.escape(a.strip()), text, flags=re.IGNORECASE)
        if m and a.strip():
            return [m.start(), m.end()]
    return None


def collect_groups(
    piaf: Path, settings, embedder, workdir: Path, limit: int | None, out: Path, log=print
) -> dict:
    """Write the groups to `out` (one JSON line each); returns counts for the provenance."""
    from bot.answer.reader.features import SentenceCache, read
    from bot.answer.retrieval import Retriever
    from bot.training.piaf import TrainSet
    from bot.training.reader_fit import TOP_K

    train = TrainSet(piaf, limit, workdir)
    titles, questions, fold_of, folds = train.titles, train.questions, train.fold_of, train.folds

    def retriever(name: str, keep) -> Retriever:
        index = train.index(name, keep, settings, embedder)
        return Retriever(index, settings.retrieval.fusion, settings.retrieval.dense_weight)

    t = time.perf_counter()
    full = retriever("all", lambda title: True)
    without = {k: retriever(f"without-{k}", lambda title, k=k: fold_of[title] != k) for k in range(folds)}
    alone = {
        title: retriever(f"alone-{i}", lambda other, title=title: other == title)
        for i, title in enumerate(titles)
    }
    log(
        f"{len(titles)} articles, {len(train.docs)} passages, {len(questions)} questions: "
        f"{len(alone) + folds + 1} indexes in {time.perf_counter() - t:.0f} s"
    )
    vectors = embedder.encode_queries([q["question"] for q in questions])
    embedder.save()
    caches = {id(r): SentenceCache(r.index) for r in [full, *without.values(), *alone.values()]}
    next_title = {t: titles[(i + 1) % len(titles)] for i, t in enumerate(titles)}

    written = 0
    tmp = out.with_name(out.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        for q, vector in zip(questions, vectors, strict=True):
            plans = [
                ("all", True, full),
                ("without", False, without[fold_of[q["title"]]]),
                ("alone", True, alone[q["title"]]),
                ("other", False, alone[next_title[q["title"]]]),
            ]
            for setting, present, r in plans:
                hits = r.search(vector, q["question"], TOP_K)
                reading = read(q["question"], vector, r.index, hits, caches[id(r)])
                if not reading.candidates:
                    continue
                gold = f"{q['passage']}.txt"
                candidates = []
                for c, features in zip(reading.candidates, reading.features, strict=True):
                    doc = r.index.documents[c.hit.chunk.source]
                    label = (
                        present and Path(doc.source).name == gold and contains_answer(c.text, q["answers"])
                    )
                    previous = ""
                    if c.row > 0 and r.index.sentence_source[c.row - 1] == doc.source:
                        s, e = (int(x) for x in r.index.sentence_spans[c.row - 1])
                        previous = doc.text[s:e]
                    candidates.append(
                        {
                            "text": c.text,
                            "title": doc.title,
                            "previous": previous,
                            "label": int(label),
                            "span": answer_span(c.text, q["answers"]) if label else None,
                            "features": [round(float(x), 5) for x in features],
                        }
                    )
                f.write(
                    json.dumps(
                        {
                            "id": q["id"],
                            "question": q["question"],
                            "answers": q["answers"],
                            "fold": fold_of[q["title"]],
                            "setting": setting,
                            "present": present,
                            "candidates": candidates,
                        },
                        ensure_ascii=False,
                        sort_keys=True,
                    )
                    + "\n"
                )
                written += 1
    tmp.replace(out)
    log(f"{written} groups written to {out}")
    return {
        "articles": len(titles),
        "passages": len(train.docs),
        "questions": len(questions),
        "folds": folds,
        "groups": written,
    }


def read_groups(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def feature_matrix(group: dict) -> np.ndarray:
    return np.array([c["features"] for c in group["candidates"]], dtype=np.float64)
