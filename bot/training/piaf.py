"""PIAF `train` articles for the readers' fits: the articles, their questions, their folds,
and indexes built from any subset of them (vectors reused from the embedder's cache)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

FOLDS = 5


def _hash(text: str) -> int:
    return int(hashlib.sha256(text.encode()).hexdigest()[:8], 16)


def _jsonl(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def load_train(piaf: Path, limit: int | None) -> tuple[list[str], dict, list[dict]]:
    """Train article titles (stable hash order), their passages and their questions."""
    with open(piaf / "split.tsv", encoding="utf-8") as f:
        next(f)
        split = dict(line.rstrip("\n").split("\t") for line in f if line.strip())
    titles = sorted((t for t, s in split.items() if s == "train"), key=lambda t: (_hash(t), t))
    if limit:
        titles = titles[:limit]
    wanted = set(titles)
    corpus = {d["id"]: d for d in _jsonl(piaf / "corpus.jsonl") if (d.get("title") or d["id"]) in wanted}
    queries = {q["id"]: q["text"] for q in _jsonl(piaf / "queries.jsonl")}
    answers = {a["id"]: a["answers"] for a in _jsonl(piaf / "answers.jsonl")}
    gold: dict[str, str] = {}
    with open(piaf / "qrels.tsv", encoding="utf-8") as f:
        next(f)
        for line in f:
            q, d, s = line.rstrip("\n").split("\t")
            if int(s) > 0:
                gold[q] = d
    questions = [
        {
            "id": q,
            "question": queries[q],
            "answers": answers[q],
            "passage": gold[q],
            "title": corpus[gold[q]].get("title") or gold[q],
        }
        for q in sorted(queries)
        if q in gold and gold[q] in corpus and answers.get(q)
    ]
    return titles, corpus, questions


def write_documents(corpus: dict, folder: Path) -> None:
    """The passages as text files, exactly as ../shared/eval/answer_set.py writes them, so
    that the fit reads the same texts as the answer-level benchmark."""
    folder.mkdir(parents=True, exist_ok=True)
    for d in corpus.values():
        with open(folder / f"{d['id']}.txt", "w", encoding="utf-8") as f:
            f.write(((d.get("title") or "") + "\n\n" + d["text"]).strip() + "\n")


class TrainSet:
    """The train articles written as text files under `workdir`, dealt into folds."""

    def __init__(self, piaf: Path, limit: int | None, workdir: Path):
        from bot.ingest.loaders import load_documents

        self.titles, self.corpus, self.questions = load_train(piaf, limit)
        self.folds = min(FOLDS, len(self.titles))
        self.fold_of = {t: i % self.folds for i, t in enumerate(self.titles)}
        self.workdir = workdir
        write_documents(self.corpus, workdir / "docs")
        self.docs, _ = load_documents([workdir / "docs"])
        self._title_of = {f"{pid}.txt": d.get("title") or pid for pid, d in self.corpus.items()}

    def index(self, name: str, keep, settings, embedder):
        """An index of the articles whose title `keep` accepts, loaded."""
        from bot.index.store import load_current
        from bot.ingest.pipeline import sync_index

        index_settings = settings.model_copy(update={"index_dir": self.workdir / f"index-{name}"})
        chosen = [d for d in self.docs if keep(self._title_of[Path(d.source).name])]
        sync_index(chosen, index_settings.index, lambda: embedder, progress=False)
        embedder.save()
        return load_current(index_settings.index_dir)
