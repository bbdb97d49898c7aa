"""Late interaction: each content word of the question against the tokens of a sentence.

multilingual-e5's last hidden states put a word close to its paraphrase or its translation
("lancé" / "initiée" / "started"), so the best cosine of each question word over a
sentence's tokens (ColBERT's MaxSim, SimAlign's signal) says how much of the question the
sentence answers for, without sharing a word with it. A word with no counterpart is what
a near miss is ("le budget du Projet Cèdre du Liban": no budget anywhere), so the minimum
over the words matters as much as their mean.

The question's tokens come from the pass that embeds it; a sentence's tokens are stored at
ingest (int8) or, for an index stored without them, computed for the candidates when asked
and kept in a bounded cache.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from bot.documents import sentence_reading
from bot.embedding import Tokens
from bot.text import fold
from bot.text.stopwords import STOPWORDS

# Words with no counterpart above these cosines are counted (the fit weighs each level).
LEVELS = (0.75, 0.8, 0.85)
COMPUTED_CACHE = 20_000  # sentences whose computed tokens are kept, per loaded index

_WORD = re.compile(r"\w(?:[\w'’-]*\w)?")
_ELISION = re.compile(r"^(?:[ldjmnstc]|qu|jusqu|lorsqu|puisqu)['’]", re.IGNORECASE)
_INVERSION = re.compile(r"-t-(?:il|elle|on|ils|elles)$|-(?:il|elle|on|ils|elles|je|tu|vous|nous)$")
# Words that ask rather than say: the question word and its framing, in both languages.
_ASKING = frozenset(
    fold(w)
    for w in (
        "qui que quoi quel quelle quels quelles lequel laquelle lesquels lesquelles quand comment "
        "pourquoi combien où ou est-ce est-il est-elle peux-tu pouvez-vous sais-tu savez-vous "
        "dis dites donne donnez explique expliquez cite citez raconte racontez "
        "who whom whose what which when where why how tell give explain name list does did do "
        "is are was were will would can could should has have had be been"
    ).split()
)
_STOP = frozenset().union(*STOPWORDS.values()) | _ASKING
# After these, a noun names what kind of thing the answer is ("quel organisme", "which
# foundation"): its counterpart in the sentence is the answer itself, not a word for it.
_HEAD_BEFORE = frozenset(fold(w) for w in "quel quelle quels quelles which what".split())


@dataclass(frozen=True)
class QuestionWords:
    """The question's content words and one unit vector each (the mean of its pieces)."""

    words: tuple[str, ...]
    vectors: np.ndarray  # (len(words), dimension)
    head: str | None  # the noun that names the answer's kind, left out of `words`


def question_words(question: str, tokens: Tokens) -> QuestionWords:
    found: list[tuple[str, int, int]] = []
    head, previous = None, ""
    for m in _WORD.finditer(question):
        word = m.group(0)
        bare = fold(_ELISION.sub("", word))
        is_asking = fold(word) in _STOP or bare in _STOP or bool(_INVERSION.search(bare)) or len(bare) < 2
        if not is_asking:
            if previous in _HEAD_BEFORE and head is None:
                head = word
            else:
                found.append((word, m.start() + (len(word) - len(_ELISION.sub("", word))), m.end()))
        previous = fold(word)
    words, vectors = [], []
    for word, start, end in found:
        inside = (tokens.offsets[:, 0] < end) & (tokens.offsets[:, 1] > start)
        if inside.any():
            v = tokens.vectors[inside].mean(axis=0)
            words.append(word)
            vectors.append(v / max(float(np.linalg.norm(v)), 1e-12))
    dimension = tokens.vectors.shape[1] if tokens.vectors.ndim == 2 else 0
    matrix = np.vstack(vectors) if vectors else np.zeros((0, dimension), np.float32)
    return QuestionWords(tuple(words), matrix.astype(np.float32), head)


def best_counterparts(words: QuestionWords, sentence: np.ndarray) -> np.ndarray:
    """Per question word, its best cosine over the sentence's tokens."""
    if len(words.words) == 0 or len(sentence) == 0:
        return np.zeros(len(words.words), np.float32)
    return (words.vectors @ sentence.T).max(axis=1)


def alignment_features(best: np.ndarray) -> dict[str, float]:
    if len(best) == 0:
        return {"align_mean": 0.0, "align_min": 0.0, "align_second": 0.0} | {
            _level_name(level): 0.0 for level in LEVELS
        }
    ordered = np.sort(best)
    return {
        "align_mean": float(best.mean()),
        "align_min": float(ordered[0]),
        "align_second": float(ordered[1] if len(ordered) > 1 else ordered[0]),
    } | {_level_name(level): float((best < level).mean()) for level in LEVELS}


def _level_name(level: float) -> str:
    return f"align_below_{round(level * 100)}"


ALIGNMENT_FEATURES = ("align_mean", "align_min", "align_second") + tuple(_level_name(x) for x in LEVELS)


class TokenSource:
    """A loaded index's sentence tokens: stored (int8, dequantised on read) or computed for
    the sentences asked, with `encode` (texts -> their Tokens), in a bounded cache. Offsets
    are into the text a sentence is aligned on (`aligned_text`)."""

    def __init__(
        self,
        index,
        encode: Callable[[list[str]], list[Tokens]] | None,
        capacity: int = COMPUTED_CACHE,
        shared: dict[str, Tokens] | None = None,
    ):
        self.index = index
        self.encode = encode
        self.capacity = capacity
        self._computed: OrderedDict[int, Tokens] = OrderedDict()
        # The fit reads the same sentences in many indexes: their tokens, by context text.
        self._shared = shared

    def get(self, rows: list[int]) -> list[np.ndarray]:
        """The token vectors of each row."""
        return [t.vectors for t in self.tokens(rows)]

    def tokens(self, rows: list[int]) -> list[Tokens]:
        stored = getattr(self.index, "sentence_tokens", None)
        if stored is not None:
            return [Tokens(stored.vectors(row), stored.spans(row)) for row in rows]
        missing = [r for r in dict.fromkeys(rows) if r not in self._computed]
        if missing:
            self._compute(missing)
        out = []
        for row in rows:
            self._computed.move_to_end(row)
            out.append(self._computed[row])
        return out

    def _compute(self, missing: list[int]) -> None:
        if self.encode is None:
            raise RuntimeError("this index stores no token vectors and no model was given to compute them")
        plans = {row: self._context(row) for row in missing}
        if self._shared is not None:
            for row, (context, _) in plans.items():
                if context in self._shared:
                    self._computed[row] = self._shared[context]
        todo = [row for row in missing if row not in self._computed]
        texts = [plans[row][0] for row in todo]
        for row, tokens in zip(todo, self.encode(texts) if texts else [], strict=True):
            context, start = plans[row]
            own = tokens.slice_from(start).words_only(context[start:])
            self._computed[row] = own
            if self._shared is not None:
                self._shared[context] = own
        while len(self._computed) > max(self.capacity, len(missing)):
            self._computed.popitem(last=False)

    def aligned_text(self, row: int) -> tuple[str, int]:
        """The text the sentence's token offsets point into, and where the sentence starts in
        it (after the column headers of a table row, at 0 otherwise)."""
        context, start = self._context(row)
        a, b = (int(x) for x in self.index.sentence_spans[row])
        return context[start:], len(context) - start - (b - a)

    def _context(self, row: int) -> tuple[str, int]:
        """The sentence's context, and where the tokens it is aligned on start."""
        index = self.index
        source = index.sentence_source[row]
        doc = index.documents[source]
        first = row - 1 if row > 0 and index.sentence_source[row - 1] == source else row
        spans = [(int(a), int(b)) for a, b in index.sentence_spans[first : row + 1]]
        return sentence_reading(doc.title, doc.text, spans, len(spans) - 1)
