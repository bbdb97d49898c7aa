"""French-first text analysis: accent folding, elisions, BM25 terms and sentence spans."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

import Stemmer

from bot.text.stopwords import STOPWORDS

LANGUAGES = ("fr", "en")
_SNOWBALL = {"fr": "french", "en": "english"}

_LIGATURES = str.maketrans({"œ": "oe", "Œ": "OE", "æ": "ae", "Æ": "AE", "’": "'", "ʼ": "'", "‘": "'"})
# l'Alliance, qu'elle, jusqu'à... : the elided article carries no meaning for search.
_ELISION = re.compile(r"\b(?:[ldjnmtsc]|qu|jusqu|lorsqu|puisqu|quoiqu)'(?=\w)", re.IGNORECASE)
# Words, numbers and hyphenated names ("co-construction", "Cèdre-du-Liban", "R&D").
_WORD = re.compile(r"\w+(?:[-&]\w+)*")


def fold(text: str) -> str:
    """Lower-case, without accents or ligatures: "Cœur Économique" -> "coeur economique"."""
    text = text.translate(_LIGATURES)
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).lower()


def words(text: str) -> list[str]:
    """Lower-cased words with elisions removed; accents kept (the stemmer wants them)."""
    text = _ELISION.sub("", text.translate(_LIGATURES))
    return [w.lower() for w in _WORD.findall(text)]


@lru_cache(maxsize=4)
def _stemmer(language: str) -> Stemmer.Stemmer:
    return Stemmer.Stemmer(_SNOWBALL[language])


def terms(text: str, language: str = "fr") -> list[str]:
    """BM25 terms: stop words dropped, words stemmed then folded, numbers kept as they are.

    A hyphenated word yields itself and its parts, so "co-construction" matches
    "co-construction" and "construction".
    """
    stem = _stemmer(language).stemWord
    stop = STOPWORDS[language]
    out: list[str] = []
    for word in words(text):
        parts = [word, *re.split(r"[-&]", word)] if ("-" in word or "&" in word) else [word]
        for part in parts:
            if not part or fold(part) in stop:
                continue
            out.append(part if part.isdigit() else fold(stem(part)))
    return out


def detect_language(text: str) -> str:
    """ "fr" or "en", by counting frequent function words: enough to pick a stemmer."""
    tokens = [fold(w) for w in words(text[:20000])]
    fr = sum(t in _FR_MARKERS for t in tokens)
    en = sum(t in _EN_MARKERS for t in tokens)
    return "en" if en > fr else "fr"


_FR_MARKERS = frozenset("le la les des du de et est une un pour dans que qui sur par au aux".split())
_EN_MARKERS = frozenset("the and of to is in that for with was are by on this from".split())

# --- sentences -------------------------------------------------------------------

# Abbreviations after which a full stop does not end a sentence.
_ABBREVIATIONS = frozenset(
    fold(a)
    for a in (
        "M Mme Mmes Mlle Mlles MM Me Mgr Dr Pr St Ste Sts Mr Mrs Ms Prof Jr Sr "
        "etc cf ex p pp av apr J.-C vol chap fig art n° no nos tél env min max approx "
        "Inc Ltd Co vs al e.g i.e"
    ).split()
)
_END = re.compile(r"[.!?…]+[»\"”’)\]]*")
_OPENING = "«“"
_CLOSING = "»”"


def sentence_spans(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """Sentence (start, end) offsets in `text[start:end]`, whitespace trimmed.

    Splits after . ! ? … followed by a space and a capital, digit or opening quote,
    never after an abbreviation ("M.", "Dr.", "etc."), an initial ("J. Dupont"), a
    decimal number, or inside « guillemets ». Blank lines and list items always split.
    """
    end = len(text) if end is None else end
    spans: list[tuple[int, int]] = []
    for block_start, block_end in _blocks(text, start, end):
        cut = block_start
        depth = 0
        i = block_start
        while i < block_end:
            ch = text[i]
            if ch in _OPENING:
                depth += 1
            elif ch in _CLOSING:
                depth = max(0, depth - 1)
            match = _END.match(text, i, block_end) if ch in ".!?…" else None
            if match:
                stop = match.end()
                if depth == 0 and _is_boundary(text, cut, i, stop, block_end):
                    spans.append((cut, stop))
                    cut = stop
                i = stop
                continue
            i += 1
        if cut < block_end:
            spans.append((cut, block_end))
    return [s for s in (_trim(text, a, b) for a, b in spans) if s[1] > s[0]]


_BULLET = re.compile(r"(?:[-*•#]|\d+[.)])\s")


def _blocks(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """Paragraphs, list items, headings and lines ending a sentence; a line broken in
    mid-sentence (as PDFs do) stays in its block."""
    lines = []
    pos = start
    for line in text[start:end].split("\n"):
        lines.append((pos, pos + len(line), line.strip()))
        pos += len(line) + 1
    blocks: list[tuple[int, int]] = []
    open_at: int | None = None
    for i, (a, b, line) in enumerate(lines):
        if not line:
            continue
        if open_at is not None and _BULLET.match(line):
            blocks.append((open_at, lines[i - 1][1]))
            open_at = None
        if open_at is None:
            open_at = a
        following = next((nl for _, _, nl in lines[i + 1 : i + 2]), "")
        if not following or _ends_line_block(line, following):
            blocks.append((open_at, b))
            open_at = None
    if open_at is not None:
        blocks.append((open_at, lines[-1][1]))
    return blocks


def _ends_line_block(line: str, following: str) -> bool:
    if re.search(r"[.!?…:»\"”]$", line):
        return True
    # A short line without final punctuation followed by a capital is a heading.
    return (
        len(line) < 100
        and not line.endswith((",", ";", "-"))
        and (following[:1].isupper() or following[:1].isdigit() or bool(_BULLET.match(following)))
    )


def _is_boundary(text: str, cut: int, dot: int, stop: int, block_end: int) -> bool:
    nxt = stop
    while nxt < block_end and text[nxt] in " \t\n":
        nxt += 1
    if nxt == stop or nxt >= block_end:
        return nxt >= block_end
    following = text[nxt]
    if not (following.isupper() or following.isdigit() or following in _OPENING + '"(-–—'):
        return False
    if text[dot] != ".":
        return True
    word = re.search(r"([\w°.\-]+)$", text[cut:dot])
    token = word.group(1) if word else ""
    if fold(token) in _ABBREVIATIONS or fold(token.split(".")[-1]) in _ABBREVIATIONS:
        return False
    if len(token) == 1 and token.isupper():  # an initial: "J. Dupont"
        return False
    if token.isdigit() and following.isdigit():  # "3. 5" in a list of figures
        return False
    return True


def _trim(text: str, a: int, b: int) -> tuple[int, int]:
    while a < b and text[a].isspace():
        a += 1
    while b > a and text[b - 1].isspace():
        b -= 1
    return a, b


def contains_answer(text: str, answers: list[str]) -> bool:
    """Case-, accent- and spacing-insensitive containment (benchmarks and the reader's fit)."""
    haystack = " ".join(fold(text).split())
    return any(" ".join(fold(a).split()) in haystack for a in answers)
