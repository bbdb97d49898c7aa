"""Citation markers `[n]`: parsing what an LLM writes, and keeping documents' own bracketed
numbers from ever looking like markers.

Everything here runs in linear time: no pattern starts with an unbounded quantifier that a
failed match would re-scan (60,000 spaces cost milliseconds), and numbers are compared as
strings before any `int()` (a 5,000-digit `[n]` is simply not a passage number).
"""

from __future__ import annotations

import re
from collections.abc import Callable

# `[1]`, `[1, 2]`, `[1-3]`, `[1 ; 2]`: a digit first, then digits and separators only.
MARKER = re.compile(r"\[(\d[\d \t,;\-–]*)\]")
_ITEM = re.compile(r"^(\d{1,4})(?:\s*[-–]\s*(\d{1,4}))?$")
_SPACES = re.compile(r"[ \t]+")
MAX_RANGE = 20


def marker_numbers(inside: str, count: int) -> list[int]:
    """The passage numbers (1..count) a marker's inside names, in order, each once."""
    out: list[int] = []
    for item in re.split(r"[,;]", inside):
        match = _ITEM.match(item.strip())
        if not match:
            continue
        first = int(match.group(1))
        last = int(match.group(2)) if match.group(2) else first
        if last < first or last - first > MAX_RANGE:
            continue
        out += [n for n in range(first, last + 1) if 1 <= n <= count and n not in out]
    return out


def names_only_passages(inside: str, count: int) -> bool:
    """Every item of a marker's inside is a passage number 1..count (or a short range of them)."""
    for item in re.split(r"[,;]", inside):
        match = _ITEM.match(item.strip())
        if not match:
            return False
        first = int(match.group(1))
        last = int(match.group(2)) if match.group(2) else first
        if not (1 <= first <= last <= count and last - first <= MAX_RANGE):
            return False
    return True


def rewrite_markers(text: str, count: int, renumber: Callable[[int], int]) -> str:
    """Each marker replaced by `[m]` per valid number (m = renumber(n)); invalid ones removed
    together with the spaces before them."""
    pieces: list[str] = []
    last = 0
    for match in MARKER.finditer(text):
        pieces.append(text[last : match.start()])
        last = match.end()
        numbers = marker_numbers(match.group(1), count)
        if pieces:
            pieces[-1] = pieces[-1].rstrip(" \t")
        if numbers:
            pieces.append(" " + " ".join(f"[{renumber(n)}]" for n in numbers))
    pieces.append(text[last:])
    return _SPACES.sub(" ", "".join(pieces)).strip()


def neutral_brackets(quote: str) -> str:
    """A document's own "[2]" shown as "(2)", so that in an answer text only our markers are
    markers (citation quotes keep the verbatim text)."""
    return MARKER.sub(lambda m: f"({m.group(1)})", quote)
