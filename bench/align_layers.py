"""Which of e5's layers should the reader align words on? A question-level table.

For each question of the files given, the reader's candidate sentences on INDEX (the top
passages' sentences, as served) are run through the packaged model in torch with every
hidden state kept; each question content word takes its best cosine over a sentence's
tokens, and the question scores the best minimum (and mean) over its candidates. The table
gives, per layer, the ROC AUC of that score between answerable questions (non-empty
`answers`) and the others, for three similarities: plain cosines, centred (a mean token of
PIAF train passages subtracted first) and lifted (CSLS: minus the word's usual best cosine
over those passages' tokens). Word alignment studies (SimAlign) found middle layers best for
translation pairs; the reader aligns on the last layer, the one the ONNX export outputs.

    python bench/align_layers.py INDEX QUESTIONS.jsonl [...]  [--layers 6,8,9,12]

Needs the full install (torch, transformers): it reads the converted model in the model cache.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bot.answer.assistant import Assistant  # noqa: E402
from bot.answer.reader.align import TokenSource, question_words  # noqa: E402
from bot.answer.reader.features import read  # noqa: E402
from bot.config import REPO_ROOT, Settings  # noqa: E402
from bot.embedding import Tokens, load_embedder  # noqa: E402
from bot.embedding.build.cache import ensure_model  # noqa: E402

PIAF = REPO_ROOT.parent / "shared" / "bench" / "piaf_fr"


class Layers:
    """Every hidden state of the packaged model, for one text, with word-piece offsets."""

    def __init__(self, path: Path, layers: list[int]):
        import torch
        from transformers import AutoModel, AutoTokenizer

        torch.set_num_threads(os.cpu_count() or 1)
        self.torch, self.layers = torch, layers
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        self.model = AutoModel.from_pretrained(path).eval()

    def __call__(self, text: str) -> tuple[dict[int, np.ndarray], np.ndarray]:
        enc = self.tokenizer(text, return_offsets_mapping=True, return_tensors="pt", truncation=True)
        offsets = enc.pop("offset_mapping")[0].numpy()
        with self.torch.no_grad():
            states = self.model(**enc, output_hidden_states=True).hidden_states
        keep = offsets[:, 1] > offsets[:, 0]  # no special tokens
        return {k: states[k][0].numpy()[keep] for k in self.layers}, offsets[keep]


def unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def background(states: Layers, n: int = 60) -> dict[int, np.ndarray]:
    """The token vectors of each layer over `n` PIAF train passages (a fixed draw)."""
    split = dict(
        line.rstrip("\n").split("\t") for line in list(open(PIAF / "split.tsv", encoding="utf-8"))[1:]
    )
    docs = [json.loads(line) for line in open(PIAF / "corpus.jsonl", encoding="utf-8")]
    train = [d for d in docs if split.get(d.get("title"), "") == "train"]
    random.Random(0).shuffle(train)
    seen: dict[int, list[np.ndarray]] = {k: [] for k in states.layers}
    for doc in train[:n]:
        hidden, _ = states("passage: " + doc["text"][:1500])
        for k in states.layers:
            seen[k].append(hidden[k])
    return {k: np.concatenate(v) for k, v in seen.items()}


MODES = ("plain", "centred", "lift")


def counterparts(words: np.ndarray, tokens: np.ndarray, mode: str, usual: np.ndarray) -> np.ndarray:
    """Each word's best cosine over the tokens; `lift`: minus its usual best (CSLS: the mean
    of its 10 best cosines over the background), so that a word that matches anything well
    counts for less."""
    best = (words @ tokens.T).max(axis=1)
    return best - usual if mode == "lift" else best


def auc(pos: list[float], neg: list[float]) -> float:
    p, n = np.array(pos)[:, None], np.array(neg)[None, :]
    return float((p > n).mean() + 0.5 * (p == n).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("index", type=Path)
    parser.add_argument("questions", type=Path, nargs="+")
    parser.add_argument("--layers", default="6,7,8,9,10,12")
    args = parser.parse_args()
    settings = Settings(index_dir=args.index)
    states = Layers(ensure_model(settings.embedding.cache), [int(x) for x in args.layers.split(",")])
    seen = background(states)
    mean = {k: v.mean(axis=0) for k, v in seen.items()}
    units = {k: unit(v) for k, v in seen.items()}
    assistant = Assistant(settings.answer, embedder=load_embedder(settings.embedding))
    composer, source = assistant.snapshot.composer, TokenSource(assistant.index, None)
    questions = [
        json.loads(line) for f in args.questions for line in open(f, encoding="utf-8") if line.strip()
    ]
    scores: dict[tuple[int, int], list[tuple[float, float, bool]]] = {}
    for q in questions:
        found = assistant.search(q["question"])
        words = question_words(found.query, found.tokens)
        reading = read(
            found.query, found.vector, assistant.index, found.hits, composer.cache, words, composer.tokens
        )
        q_states, q_offsets = states("query: " + q["question"])
        sentences = []
        for row in (c.row for c in reading.candidates):
            context, start = source._context(row)
            hidden, offsets = states("passage: " + context)
            sentences.append((hidden, offsets[:, 0] - len("passage: ") >= start))
        for k in states.layers:
            for mode in MODES:
                shift = mean[k] if mode == "centred" else 0.0
                qw = question_words(
                    q["question"],
                    Tokens(unit(q_states[k] - shift).astype(np.float32), q_offsets - len("query: ")),
                )
                usual = np.sort(qw.vectors @ units[k].T, axis=1)[:, -10:].mean(axis=1)
                best_min = best_mean = -1.0
                for hidden, own in sentences:
                    tokens = unit(hidden[k][own] - shift)
                    best = counterparts(qw.vectors, tokens, mode, usual) if qw.words else np.zeros(1)
                    best_min, best_mean = max(best_min, float(best.min())), max(best_mean, float(best.mean()))
                scores.setdefault((k, MODES.index(mode)), []).append(
                    (best_min, best_mean, bool(q["answers"]))
                )
    positives = sum(bool(q["answers"]) for q in questions)
    load = os.getloadavg()[0]
    print(f"{args.index}: {positives} answerable, {len(questions) - positives} not; load average {load:.1f}")
    print("| layer | similarity | AUC of the minimum | AUC of the mean |\n|---|---|---|---|")
    for (k, mode), rows in sorted(scores.items()):
        pos, neg = [r for r in rows if r[2]], [r for r in rows if not r[2]]
        print(
            f"| {k} | {MODES[mode]} | {auc([r[0] for r in pos], [r[0] for r in neg]):.3f} "
            f"| {auc([r[1] for r in pos], [r[1] for r in neg]):.3f} |"
        )


if __name__ == "__main__":
    main()
