"""Fit the reader on PIAF `train` articles and write its parameters (bot/answer/reader/params.json).

    alliance-bot reader fit [--piaf DIR] [--out FILE] [--limit N]

Only articles whose title is `train` in the dataset's split.tsv are read. They are dealt
round-robin (in a stable hash order) into FOLDS folds; fold HOLDOUT_FOLD is held apart
from the fit and used to choose the refusal threshold. Each question gives:
  - "present" examples: read against an index of all train articles; the sentences of
    its own passage that hold a gold answer are positives, every other candidate negative;
  - "absent" examples: read against an index without its fold's articles (vectors
    reused, only FAISS and BM25 rebuilt), all negatives, so that refusing is learned on
    near misses.
Same inputs, same output, bit for bit: sorted inputs, a deterministic solver, rounded floats.
"""

from __future__ import annotations

import json
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bot.config import Settings
from bot.errors import UserError
from bot.text import contains_answer
from bot.training.piaf import TrainSet

HOLDOUT_FOLD = 0
TOP_K = 5
C = 1.0  # inverse L2 strength of the logistic regression
# A second sentence is quoted when the selector gives it at least this share of the best
# one's; chosen with the threshold on the held-out fold, from these.
SECOND_RATIOS = (0.1, 0.25, 0.5, 1.0)
# The refusal threshold: the best answer accuracy on the held-out fold among thresholds
# that refuse at least this share of its absent questions.
REFUSAL_TARGET = 0.90


@dataclass
class Group:
    """One question read against one index: its candidates' features and outcomes."""

    question: str
    fold: int
    present: bool
    features: np.ndarray
    labels: np.ndarray  # holds a gold answer, in the gold passage
    texts: list[str] = field(default_factory=list)
    answers: list[str] = field(default_factory=list)
    setting: str = "all"


SETTINGS = ("all", "without", "alone", "other", "withheld")
# What the shipped parameters were fitted on: `withheld` (--withheld) refuses more near misses
# on one article but answers far less (bench/reader_variants.py, docs/answers.md).
DEFAULT_SETTINGS = SETTINGS[:4]


def collect(
    piaf: Path,
    settings: Settings,
    embedder,
    workdir: Path,
    limit: int | None,
    log,
    wanted: tuple[str, ...] = DEFAULT_SETTINGS,
) -> tuple[list[Group], dict]:
    """Each question read in five settings, so that answering and refusing hold on an index of
    one article as on one of many: against all train articles and against its own article
    alone (present: its gold sentences are positives); against the articles of the other
    folds, against another single article, and against its own article with the sentences
    that hold its answer withheld (absent: all negatives; the last is the near miss of a
    one-article corpus: the topic is there, the fact is not)."""
    from bot.answer.reader.align import TokenSource, question_words
    from bot.answer.reader.features import SentenceCache, read
    from bot.answer.retrieval import Retriever

    train = TrainSet(piaf, limit, workdir)
    titles, questions, fold_of, folds = train.titles, train.questions, train.fold_of, train.folds
    model = embedder.model  # token vectors are not cached: one pass per distinct sentence
    shared: dict = {}

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
        f"{len(alone) + folds + 1} indexes in {time.perf_counter() - t:.0f} s "
        f"({embedder.embedded} texts embedded)"
    )

    t = time.perf_counter()
    vectors = embedder.encode_queries([q["question"] for q in questions])
    embedder.save()
    # One question a pass, as served (int8 picks its activation scale per pass).
    words = [
        question_words(q["question"], model.encode_with_tokens([q["question"]], True)[1][0])
        for q in questions
    ]
    log(f"questions encoded in {time.perf_counter() - t:.0f} s")

    encode = lambda texts: model.encode_with_tokens(texts, False)[1]  # noqa: E731
    sources = {
        id(r): (SentenceCache(r.index), TokenSource(r.index, encode, shared=shared))
        for r in [full, *without.values(), *alone.values()]
    }
    next_title = {t: titles[(i + 1) % len(titles)] for i, t in enumerate(titles)}
    groups = []
    t = time.perf_counter()
    for n, (q, vector, qwords) in enumerate(zip(questions, vectors, words, strict=True)):
        k = fold_of[q["title"]]
        plans = (
            ("all", True, full),
            ("without", False, without[k]),
            ("alone", True, alone[q["title"]]),
            ("other", False, alone[next_title[q["title"]]]),
            ("withheld", False, alone[q["title"]]),
        )
        for setting, present, retriever_ in plans:
            if setting not in wanted:
                continue
            hits = retriever_.search(vector, q["question"], TOP_K)
            cache, tokens = sources[id(retriever_)]
            hide = (lambda text, a=q["answers"]: contains_answer(text, a)) if setting == "withheld" else None
            reading = read(q["question"], vector, retriever_.index, hits, cache, qwords, tokens, hide)
            if not reading.candidates:
                continue
            gold = f"{q['passage']}.txt"
            labels = np.array(
                [
                    present
                    and Path(c.hit.chunk.source).name == gold
                    and contains_answer(c.text, q["answers"])
                    for c in reading.candidates
                ],
                dtype=np.int64,
            )
            groups.append(
                Group(
                    q["question"],
                    k,
                    present,
                    reading.features,
                    labels,
                    [c.text for c in reading.candidates],
                    q["answers"],
                    setting,
                )
            )
        if n % 200 == 0:
            log(f"{n} questions read ({time.perf_counter() - t:.0f} s, {len(shared)} sentences aligned)")
    facts = {
        "articles": len(titles),
        "passages": len(train.docs),
        "questions": len(questions),
        "folds": folds,
        "settings": list(wanted),
    }
    return groups, facts


def outcomes(groups: list[Group], judged: list[tuple[list[int], float]], threshold: float) -> dict:
    """Answer accuracy on present questions, refusal rate on absent ones."""
    correct = answered = refused = n_present = n_absent = 0
    for g, (chosen_all, confidence) in zip(groups, judged, strict=True):
        chosen = chosen_all if confidence >= threshold else []
        if g.present:
            n_present += 1
            answered += bool(chosen)
            correct += bool(chosen) and contains_answer(" ".join(g.texts[i] for i in chosen), g.answers)
        else:
            n_absent += 1
            refused += not chosen
    return {
        "answer_accuracy": round(correct / max(n_present, 1), 4),
        "answered": round(answered / max(n_present, 1), 4),
        "refusal": round(refused / max(n_absent, 1), 4),
    }


def judge_all(model, groups: list[Group]) -> list[tuple[list[int], float]]:
    """What the model would quote for each group with the threshold at 0, and its confidence."""
    from bot.answer.reader.model import choose

    out = []
    for g in groups:
        judgement = model.judge(g.features)
        out.append((choose(judgement, g.texts, 0.0, model.second_ratio), judgement.confidence))
    return out


def _standardise(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale[scale < 1e-9] = 1.0
    # Rounded first, so that the shipped numbers are exactly the ones the fit used.
    return np.round(mean, 6), np.round(scale, 6)


def variant_features(variant: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The selector's and the verifier's features of a variant.

    - `lexical`: the reader before alignment (term coverage, BM25, dense cosines);
    - `aligned`: everything, alignment included;
    - `neutral`: what does not depend on the question sharing words with the text (dense
      cosines, alignment, answer types, positions): an English question about a French
      text looks to it like a French one;
    - `compact`: the neutral selector, and a verifier on the few signals that mean the same
      on a one-article corpus as on PIAF (the best sentence's alignment, the cosines, how
      clearly the selector chose): fewer weights to learn PIAF's own habits with.
    """
    from bot.answer.reader.align import ALIGNMENT_FEATURES
    from bot.answer.reader.features import QUESTION_FEATURES, SENTENCE_FEATURES
    from bot.answer.reader.model import SELECTOR_STATS

    alignment = (*ALIGNMENT_FEATURES, "align_mean_gap", "align_min_gap")
    lexical = tuple(f for f in SENTENCE_FEATURES if f not in alignment)
    if variant == "lexical":
        sentence, question = lexical, QUESTION_FEATURES
    elif variant == "aligned":
        sentence, question = SENTENCE_FEATURES, QUESTION_FEATURES
    elif variant == "neutral":
        sentence = (
            "cos", "cos_gap", "cos_rank", "previous_cos", "next_cos", "passage_2", "passage_3",
            "passage_dense", "words", "type_match", "new_span", *alignment,
        )  # fmt: skip
        question = ("p1_dense", "gap_dense", "max_cos", "q_who", "q_when", "q_number", "q_where")
    elif variant == "compact":
        sentence = variant_features("neutral")[0]
        verifier = ("best_align_min", "best_align_mean", "best_align_below_80", "best_cos", "max_cos")
        return sentence, verifier + ("selector_share_two",)
    else:
        raise ValueError(variant)
    return sentence, question + tuple(f"best_{f}" for f in sentence) + SELECTOR_STATS


VARIANTS = ("lexical", "aligned", "neutral", "compact")


def fit_selector(groups: list[Group], names: tuple[str, ...]):
    """Pairwise logistic regression: the answering sentence against each other candidate of
    the same question (both orders), on the sentence-level features."""
    from sklearn.linear_model import LogisticRegression

    from bot.answer.reader.features import FEATURES
    from bot.answer.reader.model import Linear

    columns = [FEATURES.index(f) for f in names]
    answerable = [g for g in groups if g.present and g.labels.any() and not g.labels.all()]
    mean, scale = _standardise(np.vstack([g.features[:, columns] for g in answerable]))
    pairs = []
    for g in answerable:
        x = (g.features[:, columns] - mean) / scale
        for p in np.flatnonzero(g.labels == 1):
            pairs.append(x[p] - x[g.labels == 0])
    diffs = np.vstack(pairs)
    estimator = LogisticRegression(C=C, solver="lbfgs", max_iter=5000, tol=1e-8, fit_intercept=False)
    estimator.fit(np.vstack([diffs, -diffs]), np.r_[np.ones(len(diffs)), np.zeros(len(diffs))])
    return Linear(names, mean, scale, np.round(estimator.coef_[0], 4)), len(diffs)


def fit_verifier(selector, groups: list[Group], second_ratio: float, names: tuple[str, ...]):
    """Logistic regression on whether the selector's answer holds a gold answer (never for
    an absent article)."""
    from sklearn.linear_model import LogisticRegression

    from bot.answer.reader.features import FEATURES
    from bot.answer.reader.model import (
        VERIFIER_FEATURES,
        Judgement,
        Linear,
        ReaderModel,
        choose,
        columns,
        verifier_row,
    )

    selected = columns(selector.features, FEATURES)
    wanted = columns(names, VERIFIER_FEATURES)
    rows, labels = [], []
    for g in groups:
        scores = selector(g.features[:, selected])
        best = int(np.argmax(scores))
        shares = np.exp(scores - scores.max())
        shares /= shares.sum()
        chosen = choose(Judgement(scores, shares, best, 1.0), g.texts, 0.0, second_ratio)
        rows.append(verifier_row(g.features, scores, best)[wanted])
        labels.append(g.present and contains_answer(" ".join(g.texts[i] for i in chosen), g.answers))
    x, y = np.vstack(rows), np.array(labels, dtype=np.int64)
    mean, scale = _standardise(x)
    estimator = LogisticRegression(C=C, solver="lbfgs", max_iter=5000, tol=1e-8)
    estimator.fit((x - mean) / scale, y)
    verifier = Linear(
        names,
        mean,
        scale,
        np.round(estimator.coef_[0], 4),
        round(float(estimator.intercept_[0]), 4),
    )
    model = ReaderModel(selector, verifier, threshold=0.5, second_ratio=second_ratio, provenance={})
    return model, int(y.sum())


def _hardest_refusal(groups: list[Group], judged, threshold: float) -> float:
    """The lowest refusal rate over the absent settings."""
    found = by_setting(groups, judged, threshold)
    return min(o["refusal"] for name, o in found.items() if name in THRESHOLD_SETTINGS)


# The absent settings the threshold must refuse at REFUSAL_TARGET. `withheld` teaches the fit
# what a near miss looks like, but refusing 90 % of it costs half the answers (measured).
THRESHOLD_SETTINGS = ("without", "other")


def by_setting(groups: list[Group], judged, threshold: float) -> dict:
    out = {}
    for setting in SETTINGS:
        chosen = [(g, j) for g, j in zip(groups, judged, strict=True) if g.setting == setting]
        if chosen:
            out[setting] = outcomes([g for g, _ in chosen], [j for _, j in chosen], threshold)
    return out


def fit_model(groups: list[Group], facts: dict, model_name: str, variant: str = "aligned"):
    import sklearn

    from bot.answer.reader.features import PASSAGES_READ
    from bot.answer.reader.model import ReaderModel

    sentence_names, verifier_names = variant_features(variant)
    # One order whatever the collection's: the same readings give the same bytes.
    groups = sorted(groups, key=lambda g: (g.question, g.answers, SETTINGS.index(g.setting)))
    fitting = [g for g in groups if g.fold != HOLDOUT_FOLD] or groups
    held = [g for g in groups if g.fold == HOLDOUT_FOLD] or groups
    if not any(g.labels.any() for g in fitting):
        raise UserError(
            "no_positive_example",
            "Aucun exemple positif : prenez plus d'articles (--limit).",
            "No positive example: take more articles (--limit).",
        )
    selector, pairs = fit_selector(fitting, sentence_names)
    # The threshold and the second-sentence ratio, on the held-out fold only.
    grid = [round(t, 3) for t in np.arange(0.02, 0.951, 0.005)]
    best = None
    for ratio in SECOND_RATIOS:
        candidate, right = fit_verifier(selector, fitting, ratio, verifier_names)
        judged = judge_all(candidate, held)
        scored = [(t, outcomes(held, judged, t)) for t in grid]
        # Each kind of absent question refused at the target on its own: another article
        # alone is easy to refuse, and must not make up for near misses.
        hardest = {t: _hardest_refusal(held, judged, t) for t in grid}
        meeting = [(t, o) for t, o in scored if hardest[t] >= REFUSAL_TARGET]
        if meeting:
            t, at = max(meeting, key=lambda to: (to[1]["answer_accuracy"], -to[0]))
        else:
            t, at = max(scored, key=lambda to: (to[1]["answer_accuracy"] + hardest[to[0]], -to[0]))
        key = (hardest[t] >= REFUSAL_TARGET, at["answer_accuracy"] + hardest[t], ratio)
        if best is None or key > best[0]:
            best = (key, candidate, right, t, at, ratio, scored, judged)
    _, model, right, threshold, at, second_ratio, scored, judged = best
    provenance = {
        "command": f"alliance-bot reader fit --variant {variant}",
        "dataset": "piaf_fr, articles marked train in split.tsv only",
        "embedding_model": model_name,
        "variant": variant,
        "top_k": TOP_K,
        "passages_read": PASSAGES_READ,
        "folds": facts["folds"],
        "holdout_fold": HOLDOUT_FOLD,
        "settings": facts.get("settings", list(SETTINGS)),
        "articles": facts["articles"],
        "passages": facts["passages"],
        "questions": facts["questions"],
        "selector_pairs": pairs,
        "verifier_examples": len(fitting),
        "verifier_positives": right,
        "holdout_examples": len(held),
        "estimator": f"scikit-learn {sklearn.__version__} LogisticRegression(C={C}, lbfgs)",
        "threshold_rule": f"best held-out accuracy, refusal >= {REFUSAL_TARGET} in each absent setting",
        "second_ratios_tried": list(SECOND_RATIOS),
        "holdout_at_threshold": at,
        "holdout_by_setting": by_setting(held, judged, threshold),
    }
    model = ReaderModel(
        model.selector, model.verifier, threshold=threshold, second_ratio=second_ratio, provenance=provenance
    )
    return model, {"holdout_curve": scored}


def save_groups(groups: list[Group], facts: dict, path: Path) -> None:
    """The collected readings, so that a variant is refitted in seconds (a local file, not shipped)."""
    meta = [
        {"question": g.question, "fold": g.fold, "present": g.present, "texts": g.texts,
         "answers": g.answers, "setting": g.setting}
        for g in groups
    ]  # fmt: skip
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez_compressed(
        tmp,
        features=np.vstack([g.features for g in groups]),
        labels=np.concatenate([g.labels for g in groups]),
        sizes=np.array([len(g.labels) for g in groups]),
        meta=np.array(json.dumps({"groups": meta, "facts": facts}, ensure_ascii=False)),
    )
    tmp.replace(path)


def load_groups(path: Path) -> tuple[list[Group], dict]:
    from bot.answer.reader.features import FEATURES

    with np.load(path) as data:
        features, labels, sizes = data["features"], data["labels"], data["sizes"]
        meta = json.loads(str(data["meta"]))
    if features.shape[1] != len(FEATURES):
        raise UserError(
            "stale_groups",
            f"{path} a été collecté avec d'autres variables : supprimez-le pour relancer la collecte.",
            f"{path} was collected with other features: delete it to collect again.",
        )
    groups, at = [], 0
    for m, n in zip(meta["groups"], sizes.tolist(), strict=True):
        rows = features[at : at + n], labels[at : at + n]
        groups.append(
            Group(m["question"], m["fold"], m["present"], *rows, m["texts"], m["answers"], m["setting"])
        )
        at += n
    return groups, meta["facts"]


def run_fit(
    piaf: Path,
    out: Path,
    *,
    limit: int | None = None,
    cache: Path | None = None,
    vectors_from: Path | None = None,
    embedder=None,
    settings: Settings,
    log=print,
    workdir: Path | None = None,
    groups_file: Path | None = None,
    variant: str = "aligned",
    wanted: tuple[str, ...] = DEFAULT_SETTINGS,
):
    """Collect the readings (or load them from `groups_file`, where they are also saved),
    fit the variant's selector and verifier, and write their parameters to `out`."""
    from bot.training.vector_cache import CachedEmbedder

    def factory():
        if embedder is not None:
            return embedder
        from bot.embedding import load_embedder

        return load_embedder(settings.embedding)

    import faiss
    from threadpoolctl import threadpool_limits

    # Keyed by model and backend: torch and int8 vectors are close, not equal.
    cached = CachedEmbedder(f"{settings.embedding.model}|{settings.embedding.backend}", factory, cache)
    if vectors_from is not None:
        log(f"{cached.add_from_index(vectors_from)} vectors taken from {vectors_from}")
    # One thread for every sum of floats (BLAS, FAISS): threads add in varying orders,
    # and the last digits of the coefficients would vary from run to run.
    faiss_threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        with threadpool_limits(limits=1):
            if groups_file is not None and groups_file.is_file():
                groups, facts = load_groups(groups_file)
                log(f"{len(groups)} readings taken from {groups_file}")
            elif workdir is not None:  # kept, to look at the indexes afterwards
                groups, facts = collect(piaf, settings, cached, workdir, limit, log, wanted)
            else:
                with tempfile.TemporaryDirectory(prefix="alliance-reader-fit-") as tmp:
                    groups, facts = collect(piaf, settings, cached, Path(tmp), limit, log, wanted)
            cached.save()
            if groups_file is not None and not groups_file.is_file():
                save_groups(groups, facts, groups_file)
            model, _ = fit_model(groups, facts, settings.embedding.model, variant)
    finally:
        faiss.omp_set_num_threads(faiss_threads)
    out.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(model.to_json(), ensure_ascii=False, indent=1, sort_keys=True) + "\n"
    tmp_out = out.with_name(out.name + ".tmp")
    tmp_out.write_text(text, encoding="utf-8")
    tmp_out.replace(out)
    log(f"wrote {out}: threshold {model.threshold}, held-out {model.provenance['holdout_at_threshold']}")
    return model
