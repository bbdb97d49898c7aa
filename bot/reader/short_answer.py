"""Short answers: the name, date, number or place inside the chosen sentence that the
question asks for ("Qui a lancé l'Alliance Dynamique ?" -> "le Groupe La Poste")."""

from __future__ import annotations

from bot.reader.spans import OTHER, Span, matches
from bot.text import fold, words


def pick_span(kind: str, question: str, sentence: str, spans: list[Span]) -> Span | None:
    """The one span of the asked kind that the question does not already contain; when
    there are several, the one nearest the words the sentence shares with the question.
    None when the question asks for something else or nothing fits."""
    if kind == OTHER:
        return None
    question_words = {fold(w) for w in words(question) if len(w) > 2}
    question_text = fold(question)
    fitting = [
        s for s in spans
        if matches(kind, s.kind) and fold(sentence[s.start : s.end]) not in question_text
        and not (set(fold(w) for w in words(sentence[s.start : s.end])) <= question_words)
    ]
    exact = [s for s in fitting if s.kind == kind]
    fitting = exact or fitting
    if not fitting:
        return None
    if len(fitting) == 1:
        return fitting[0]
    anchors = [
        i for i, w in enumerate(_word_positions(sentence)) if fold(w[0]) in question_words
    ]
    if not anchors:
        return None
    positions = _word_positions(sentence)
    anchor_offsets = [positions[i][1] for i in anchors]

    def distance(span: Span) -> int:
        return min(min(abs(a - span.start), abs(a - span.end)) for a in anchor_offsets)

    ranked = sorted(fitting, key=lambda s: (distance(s), s.start))
    return ranked[0]


def _word_positions(text: str) -> list[tuple[str, int]]:
    import re

    return [(m.group(0), m.start()) for m in re.finditer(r"\w+", text)]
