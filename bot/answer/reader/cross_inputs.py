"""What the cross-encoder reads: one question and one candidate sentence (with its
document's title) as a token pair, the same for fitting and serving. No torch here."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

MAX_TOKENS = 96  # question + title + sentence; longer sentences lose their end


@dataclass(frozen=True)
class Pairs:
    input_ids: np.ndarray  # (n, tokens) int64, padded
    attention_mask: np.ndarray  # (n, tokens) int64
    second: np.ndarray  # (n, tokens) int64: 1 on the sentence's own tokens
    offsets: list[list[tuple[int, int]]]  # per pair and token: characters in the sentence


def load_tokenizer(model_dir: Path, max_tokens: int = MAX_TOKENS):
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(Path(model_dir) / "tokenizer.json"))
    tokenizer.enable_truncation(max_length=max_tokens, strategy="only_second")
    tokenizer.no_padding()
    return tokenizer


def passage_prefix(title: str) -> str:
    return f"passage: {title.strip()} : " if title.strip() else "passage: "


def encode(tokenizer, question: str, candidates: list[tuple[str, str]], pad_id: int = 1) -> Pairs:
    """`candidates` are (title, sentence) pairs. Offsets are into the sentence itself;
    tokens of the title or the question get (-1, -1) and `second` 0."""
    prefixes = [passage_prefix(title) for title, _ in candidates]
    encodings = tokenizer.encode_batch(
        [(f"query: {question.strip()}", p + text) for p, (_, text) in zip(prefixes, candidates, strict=True)]
    )
    width = max(len(e.ids) for e in encodings)
    n = len(encodings)
    ids = np.full((n, width), pad_id, dtype=np.int64)
    mask = np.zeros((n, width), dtype=np.int64)
    second = np.zeros((n, width), dtype=np.int64)
    offsets = []
    for i, (e, prefix) in enumerate(zip(encodings, prefixes, strict=True)):
        ids[i, : len(e.ids)] = e.ids
        mask[i, : len(e.ids)] = 1
        row = []
        for j, (seq, (s, t)) in enumerate(zip(e.sequence_ids, e.offsets, strict=True)):
            if seq == 1 and t > len(prefix):
                second[i, j] = 1
                row.append((max(s - len(prefix), 0), t - len(prefix)))
            else:
                row.append((-1, -1))
        offsets.append(row)
    return Pairs(ids, mask, second, offsets)


def token_span(offsets: list[tuple[int, int]], start: int, end: int) -> tuple[int, int] | None:
    """The first and last tokens covering characters start:end of the sentence."""
    first = next((j for j, (s, t) in enumerate(offsets) if s >= 0 and t > start), None)
    last = next(
        (j for j in range(len(offsets) - 1, -1, -1) if offsets[j][0] >= 0 and offsets[j][0] < end), None
    )
    if first is None or last is None or last < first:
        return None
    return first, last


def best_span(
    start_logits: np.ndarray, end_logits: np.ndarray, offsets: list[tuple[int, int]], max_tokens: int = 20
) -> tuple[int, int, float]:
    """Characters of the best start <= end span (at most `max_tokens` long) and its score
    (the sum of the two logits)."""
    valid = np.array([s >= 0 for s, _ in offsets])
    starts = np.where(valid, start_logits[: len(offsets)], -np.inf)
    ends = np.where(valid, end_logits[: len(offsets)], -np.inf)
    scores = starts[:, None] + ends[None, :]
    n = len(offsets)
    allowed = np.triu(np.ones((n, n), dtype=bool)) & ~np.triu(np.ones((n, n), dtype=bool), k=max_tokens)
    scores = np.where(allowed, scores, -np.inf)
    i, j = np.unravel_index(int(np.argmax(scores)), scores.shape)
    return offsets[i][0], offsets[j][1], float(scores[i, j])
