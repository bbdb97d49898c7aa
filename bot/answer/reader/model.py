"""The fitted reader: two logistic regressions on standardised features, evaluated with numpy.

Its parameters ship as `bot/answer/reader/params.json` (rebuilt by `alliance-bot reader fit`);
scikit-learn is only needed to fit them, never to answer.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from bot.answer.reader.features import FEATURES, QUESTION_FEATURES, SENTENCE_FEATURES

PARAMS_FORMAT = 2
PARAMS_FILE = "params.json"
# What the verifier may see: the question-level evidence, the chosen sentence's own features,
# and how clearly the selector preferred it. Each fitted model names the ones it uses.
SELECTOR_STATS = ("selector_margin", "selector_share", "selector_share_two", "candidates")
VERIFIER_FEATURES = QUESTION_FEATURES + tuple(f"best_{name}" for name in SENTENCE_FEATURES) + SELECTOR_STATS
_SENTENCE_COLUMNS = np.array([FEATURES.index(f) for f in SENTENCE_FEATURES])
_QUESTION_COLUMNS = np.array([FEATURES.index(f) for f in QUESTION_FEATURES])


class ReaderParamsError(RuntimeError):
    """The parameter file is missing, from another format, or does not fit this code."""


@dataclass(frozen=True)
class Linear:
    """A linear function of standardised features: ((x - mean) / scale) . coef + intercept."""

    features: tuple[str, ...]
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float = 0.0

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return ((x - self.mean) / self.scale) @ self.coef + self.intercept

    def to_json(self) -> dict:
        return {
            "features": list(self.features),
            "mean": [_r(x) for x in self.mean],
            "scale": [_r(x) for x in self.scale],
            "coef": [_r(x) for x in self.coef],
            "intercept": _r(self.intercept),
        }


@dataclass(frozen=True)
class Judgement:
    scores: np.ndarray  # the selector's scores of the candidates
    shares: np.ndarray  # their softmax
    best: int
    confidence: float  # the verifier's probability that the best sentence answers


@dataclass(frozen=True)
class ReaderModel:
    """Two small logistic regressions: a selector that ranks the candidate sentences (fitted
    on pairs: the answering sentence against each other one of the same question), and a
    verifier that gives the probability that the chosen sentence answers at all."""

    selector: Linear
    verifier: Linear
    threshold: float  # refuse below this probability
    second_ratio: float  # a second sentence is quoted when its share is this part of the best's
    provenance: dict

    def judge(self, features: np.ndarray) -> Judgement:
        scores = self.selector(features[:, columns(self.selector.features, FEATURES)])
        shares = np.exp(scores - scores.max())
        shares /= shares.sum()
        best = int(np.argmax(scores))
        row = verifier_row(features, scores, best)[columns(self.verifier.features, VERIFIER_FEATURES)]
        z = float(self.verifier(row))
        return Judgement(scores, shares, best, 1.0 / (1.0 + np.exp(-np.clip(z, -30, 30))))

    def to_json(self) -> dict:
        return {
            "format": PARAMS_FORMAT,
            "estimator": "selector: pairwise logistic regression; verifier: logistic regression",
            "selector": self.selector.to_json(),
            "verifier": self.verifier.to_json(),
            "threshold": _r(self.threshold, 4),
            "second_ratio": _r(self.second_ratio, 4),
            "provenance": self.provenance,
        }


def columns(names: tuple[str, ...], among: tuple[str, ...]) -> np.ndarray:
    return np.array([among.index(name) for name in names], dtype=np.int64)


def verifier_row(features: np.ndarray, scores: np.ndarray, best: int) -> np.ndarray:
    ordered = np.sort(scores)[::-1]
    margin = float(ordered[0] - ordered[1]) if len(ordered) > 1 else 5.0
    shares = np.exp(scores - scores.max())
    shares = np.sort(shares / shares.sum())[::-1]
    return np.concatenate(
        [
            features[best, _QUESTION_COLUMNS],
            features[best, _SENTENCE_COLUMNS],
            [margin, shares[0], shares[:2].sum(), np.log1p(len(scores))],
        ]
    )


def _r(x: float, digits: int = 6) -> float:
    value = round(float(x), digits)
    return 0.0 if value == 0 else value  # never "-0.0"


def default_params_path() -> Path:
    return Path(str(resources.files("bot.answer.reader") / PARAMS_FILE))


def load_model(path: Path | None = None) -> ReaderModel:
    path = path or default_params_path()
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise ReaderParamsError(
            f"Paramètres du lecteur illisibles ({path}: {e}) : lancez `alliance-bot reader fit`."
        ) from e
    return model_from_json(data, str(path))


def model_from_json(data: dict, where: str = "params") -> ReaderModel:
    if data.get("format") != PARAMS_FORMAT:
        raise ReaderParamsError(
            f"Paramètres du lecteur au format {data.get('format')!r} ({where}), cette version attend "
            f"{PARAMS_FORMAT} : lancez `alliance-bot reader fit`."
        )
    try:
        selector = linear_from_json(data["selector"], FEATURES, where)
        verifier = linear_from_json(data["verifier"], VERIFIER_FEATURES, where)
        return ReaderModel(
            selector=selector,
            verifier=verifier,
            threshold=float(data["threshold"]),
            second_ratio=float(data["second_ratio"]),
            provenance=dict(data.get("provenance", {})),
        )
    except (KeyError, TypeError, ValueError) as e:
        raise ReaderParamsError(f"Paramètres du lecteur incomplets ({where}: {e}) : relancez le fit.") from e


def linear_from_json(data: dict, known: tuple[str, ...], where: str) -> Linear:
    """A linear function over some of the `known` features, named in its file."""
    names = tuple(data.get("features", ()))
    if not names or len(set(names)) != len(names) or not set(names) <= set(known):
        raise ReaderParamsError(
            f"Les paramètres du lecteur ({where}) ne portent pas sur les variables de cette version : "
            "lancez `alliance-bot reader fit`."
        )
    arrays = [np.asarray(data[k], dtype=np.float64) for k in ("mean", "scale", "coef")]
    if any(a.shape != (len(names),) for a in arrays) or not np.all(arrays[1] > 0):
        raise ReaderParamsError(f"Paramètres du lecteur incohérents ({where}) : relancez le fit.")
    return Linear(names, arrays[0], arrays[1], arrays[2], float(data.get("intercept", 0.0)))


def choose(judgement: Judgement, texts: list[str], threshold: float, second_ratio: float) -> list[int]:
    """Indices of the sentences to quote: the best one when the verifier clears the
    threshold, and a second one (not saying the same thing again) that the selector
    finds nearly as likely."""
    if len(texts) == 0 or judgement.confidence < threshold:
        return []
    shares, best = judgement.shares, judgement.best
    chosen = [best]
    for i in np.argsort(-shares, kind="stable"):
        i = int(i)
        if i == best:
            continue
        if shares[i] < second_ratio * shares[best]:
            break
        if not near_duplicate(texts[best], texts[i]):
            chosen.append(i)
            break
    return chosen


def near_duplicate(a: str, b: str) -> bool:
    """The same content said twice (in two documents, or repeated by an overlap)."""
    from bot.text import fold, words

    wa, wb = set(fold(" ".join(words(a))).split()), set(fold(" ".join(words(b))).split())
    if not wa or not wb:
        return False
    return len(wa & wb) / min(len(wa), len(wb)) >= 0.8
