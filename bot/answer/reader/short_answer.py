"""Short answers: the name, date or number inside the chosen sentence that the question
asks for ("Qui a lancé l'Alliance Dynamique ?" -> "le Groupe La Poste").

Selective on purpose: one is given only when the sentence holds exactly one span of the
asked kind that the question does not already contain, and the reader is confident.
These rules were set by looking at PIAF `train` questions only (places, and sentences
with several candidate spans, were right too rarely to be worth showing).
"""

from __future__ import annotations

from bot.answer.reader.spans import NUMBER, WHEN, WHO, Span, matches
from bot.text import fold, words

KINDS = (WHO, WHEN, NUMBER)
MIN_CONFIDENCE = 0.5


def pick_span(kind: str, question: str, sentence: str, spans: list[Span], confidence: float) -> Span | None:
    """The one span of the asked kind that the question does not already contain, or None."""
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
    return fitting[0] if len(fitting) == 1 else None
