"""The cross-encoder reader at serving time: onnxruntime only, never torch.

It reads the question with each of the top candidate sentences in one batched pass and
gives, per sentence, the logit that it answers and the best answer span inside it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bot.answer.reader.cross_inputs import best_span, encode, load_tokenizer


@dataclass(frozen=True)
class CrossReading:
    logits: np.ndarray  # (n,) that each sentence answers
    spans: list[tuple[int, int, float]]  # per sentence: characters of the best span, its score


class CrossScorer:
    def __init__(self, model_dir: Path, onnx_file: Path, threads: int):
        import onnxruntime as ort

        from bot.embedding.onnx_backend import session_options

        self.tokenizer = load_tokenizer(model_dir)
        self.session = ort.InferenceSession(
            str(onnx_file), sess_options=session_options(threads), providers=["CPUExecutionProvider"]
        )

    def __call__(self, question: str, candidates: list[tuple[str, str]], extras: np.ndarray) -> CrossReading:
        pairs = encode(self.tokenizer, question, candidates)
        score, start, end = self.session.run(
            None,
            {
                "input_ids": pairs.input_ids,
                "attention_mask": pairs.attention_mask,
                "second": pairs.second,
                "extras": extras.astype(np.float32),
            },
        )
        spans = [best_span(start[i], end[i], pairs.offsets[i]) for i in range(len(candidates))]
        return CrossReading(score.astype(np.float64), spans)


@dataclass(frozen=True)
class CrossJudgement:
    chosen: list[int]  # candidates to quote, best first (indices into the reading)
    confidence: float
    best: int
    span: tuple[int, int, float] | None  # the best sentence's answer span, when the head is sure


class CrossReader:
    """The fast selector's top candidates, re-read together with the question; the
    verifier (bot/answer/reader/cross_verifier.py) turns the scores into a probability."""

    SPAN_MIN = 0.0  # the span's summed start and end logits must reach this

    def __init__(self, scorer: CrossScorer, card: dict):
        from bot.answer.reader.cross_verifier import VERIFIER_FEATURES
        from bot.answer.reader.model import ReaderParamsError, linear_from_json

        self.scorer = scorer
        self.top_n = int(card["top_n"])
        self.threshold = float(card["threshold"])
        self.second_ratio = float(card["second_ratio"])
        try:
            self.verifier = linear_from_json(card["verifier"], VERIFIER_FEATURES, "cross.json")
        except KeyError as e:
            raise ReaderParamsError(
                f"cross.json lacks {e}: refit with `alliance-bot reader fit --cross`"
            ) from e

    def judge(
        self, question: str, reading, judgement, titles: list[str], threshold: float | None = None
    ) -> CrossJudgement:
        from bot.answer.reader.cross_verifier import fast_logit, quoted, verifier_row
        from bot.answer.reader.features import FEATURES

        order = [int(i) for i in np.argsort(-judgement.scores, kind="stable")[: self.top_n]]
        cos = FEATURES.index("cos")
        extras = np.array([[reading.features[i, cos], judgement.scores[i]] for i in order])
        read = self.scorer(question, [(titles[i], reading.candidates[i].text) for i in order], extras)
        row = verifier_row(read.logits, extras, fast_logit(judgement.confidence))
        confidence = float(1 / (1 + np.exp(-np.clip(self.verifier(row), -30, 30))))
        texts = [reading.candidates[i].text for i in order]
        limit = self.threshold if threshold is None else threshold
        picked = quoted(read.logits, texts, self.second_ratio) if confidence >= limit else []
        best = int(np.argmax(read.logits))
        span = read.spans[best] if read.spans[best][2] >= self.SPAN_MIN else None
        return CrossJudgement([order[i] for i in picked], confidence, order[best], span)


def load_cross(model_cache: Path, folder: Path | None, threads: int) -> CrossReader:
    """The fitted cross-encoder reader, its ONNX file exported first if needed."""
    from bot.embedding.build.cache import ensure_model
    from bot.embedding.build.cross_export import ensure_cross_onnx, fitted_dir, read_card

    folder = folder or fitted_dir()
    model_dir = ensure_model(model_cache)
    onnx_file = ensure_cross_onnx(model_dir, folder)
    return CrossReader(CrossScorer(model_dir, onnx_file, threads), read_card(folder))
