"""The fitted reader: a logistic regression on standardised features, evaluated with numpy.

Its parameters ship as `bot/reader/params.json` (rebuilt by `alliance-bot reader fit`);
scikit-learn is only needed to fit them, never to answer.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from bot.reader.features import FEATURES

PARAMS_FORMAT = 1
PARAMS_FILE = "params.json"


class ReaderParamsError(RuntimeError):
    """The parameter file is missing, from another format, or does not fit this code."""


@dataclass(frozen=True)
class ReaderModel:
    features: tuple[str, ...]
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float
    threshold: float  # refuse below this probability
    second_ratio: float  # a second sentence is quoted when its probability is this share of the best
    provenance: dict

    def probabilities(self, features: np.ndarray) -> np.ndarray:
        """P(the sentence answers the question), one per row of `features`."""
        if features.shape[0] == 0:
            return np.zeros(0)
        z = ((features - self.mean) / self.scale) @ self.coef + self.intercept
        return 1.0 / (1.0 + np.exp(-np.clip(z, -30, 30)))

    def to_json(self) -> dict:
        return {
            "format": PARAMS_FORMAT,
            "estimator": "logistic regression on standardised features",
            "features": list(self.features),
            "mean": [_r(x) for x in self.mean],
            "scale": [_r(x) for x in self.scale],
            "coef": [_r(x) for x in self.coef],
            "intercept": _r(self.intercept),
            "threshold": _r(self.threshold, 4),
            "second_ratio": _r(self.second_ratio, 4),
            "provenance": self.provenance,
        }


def _r(x: float, digits: int = 6) -> float:
    value = round(float(x), digits)
    return 0.0 if value == 0 else value  # never "-0.0"


def default_params_path() -> Path:
    return Path(str(resources.files("bot.reader") / PARAMS_FILE))


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
    if tuple(data.get("features", ())) != FEATURES:
        raise ReaderParamsError(
            f"Les paramètres du lecteur ({where}) ne portent pas sur les variables de cette version : "
            "lancez `alliance-bot reader fit`."
        )
    n = len(FEATURES)
    arrays = [np.asarray(data[k], dtype=np.float64) for k in ("mean", "scale", "coef")]
    if any(a.shape != (n,) for a in arrays) or not np.all(arrays[1] > 0):
        raise ReaderParamsError(f"Paramètres du lecteur incohérents ({where}) : relancez le fit.")
    return ReaderModel(
        features=FEATURES, mean=arrays[0], scale=arrays[1], coef=arrays[2],
        intercept=float(data["intercept"]), threshold=float(data["threshold"]),
        second_ratio=float(data["second_ratio"]), provenance=dict(data.get("provenance", {})),
    )


def choose(
    probabilities: np.ndarray, texts: list[str], threshold: float, second_ratio: float
) -> list[int]:
    """Indices of the sentences to quote: the best one when it clears the threshold, and a
    second one (not saying the same thing again) when it is nearly as likely."""
    if len(probabilities) == 0:
        return []
    order = np.argsort(-probabilities, kind="stable")
    best = int(order[0])
    if probabilities[best] < threshold:
        return []
    chosen = [best]
    for i in order[1:]:
        p = probabilities[int(i)]
        if p < max(threshold, second_ratio * probabilities[best]):
            break
        if not near_duplicate(texts[best], texts[int(i)]):
            chosen.append(int(i))
            break
    return chosen


def near_duplicate(a: str, b: str) -> bool:
    """The same content said twice (in two documents, or repeated by an overlap)."""
    from bot.text import fold, words

    wa, wb = set(fold(" ".join(words(a))).split()), set(fold(" ".join(words(b))).split())
    if not wa or not wb:
        return False
    return len(wa & wb) / min(len(wa), len(wb)) >= 0.8
