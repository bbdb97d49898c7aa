"""From the cross-encoder's scores to what is quoted and how sure the reader is."""

from __future__ import annotations

import numpy as np

from bot.answer.reader.model import near_duplicate

# The verifier's inputs: how strongly the best sentence answers, how clearly it beats the
# next, the bi-encoder's cosine for it, and the fast reader's confidence (as a logit).
VERIFIER_FEATURES = ("cross_best", "cross_margin", "cross_best_cos", "fast_logit")


def verifier_row(scores: np.ndarray, extras: np.ndarray, fast_logit: float) -> np.ndarray:
    order = np.argsort(-scores, kind="stable")
    best = int(order[0])
    margin = float(scores[best] - scores[order[1]]) if len(scores) > 1 else 5.0
    return np.array([float(scores[best]), margin, float(extras[best, 0]), fast_logit])


def fast_logit(confidence: float) -> float:
    p = min(max(confidence, 1e-6), 1 - 1e-6)
    return float(np.log(p / (1 - p)))


def quoted(scores: np.ndarray, texts: list[str], second_ratio: float) -> list[int]:
    """The best sentence, and a second one (not a repeat) whose probability is at least
    `second_ratio` times the best one's."""
    if len(texts) == 0:
        return []
    probs = 1 / (1 + np.exp(-np.clip(scores, -30, 30)))
    order = [int(i) for i in np.argsort(-scores, kind="stable")]
    chosen = [order[0]]
    for i in order[1:]:
        if probs[i] < second_ratio * probs[order[0]]:
            break
        if not near_duplicate(texts[order[0]], texts[i]):
            chosen.append(i)
            break
    return chosen
