"""Short answers: the name, date or number inside the chosen sentence that the question
asks for ("Qui a lancé l'Alliance Dynamique ?" -> "le Groupe La Poste").

Selective on purpose: one is given only when the reader is confident and the sentence holds
a span of the asked kind that the question does not already contain. Of several, the one
nearest to where the question's words found their counterparts is taken: the answer sits
beside what the question says ("créée *en 2014* par…"), whatever the language it is asked
in. These rules were set by looking at PIAF `train` questions only (places were right too
rarely to be worth showing).
"""

from __future__ import annotations

from bot.answer.reader.spans import NUMBER, WHEN, WHO, Span, matches
from bot.text import fold, words

KINDS = (WHO, WHEN, NUMBER)
MIN_CONFIDENCE = 0.5


def pick_span(
    kind: str,
    question: str,
    sentence: str,
    spans: list[Span],
    confidence: float,
    anchors: list[tuple[int, int]] | None = None,
) -> Span | None:
    """The span of the asked kind that the question does not already contain, or None.
    `anchors`: the characters of the sentence that the question's words lined up with."""
    if kind not in KINDS or confidence < MIN_CONFIDENCE:
        return None
    question_words = {fold(w) for w in words(question) if len(w) > 2}
    question_text = fold(question)
    fitting = [
        s
        for s in spans
        if matches(kind, s.kind)
        and fold(sentence[s.start : s.end]) not in question_text
        and not ({fold(w) for w in words(sentence[s.start : s.end])} <= question_words)
    ]
    if anchors and fitting:
        # Not "a span aligned with a question word is what the question says": « coûtent »
        # lines up with « euros », inside the answer « 4 812 euros ».
        return min(fitting, key=lambda f: (_distance(f, anchors), f.start))
    return fitting[0] if len(fitting) == 1 else None


def _distance(span: Span, anchors: list[tuple[int, int]]) -> float:
    """Mean distance in characters from the span to each anchor."""
    gaps = [max(0, a - span.end, span.start - b) for a, b in anchors]
    return sum(gaps) / len(gaps)
