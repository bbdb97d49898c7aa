"""Optional: an OpenAI-compatible server writes the answer from the top passages.

Every [n] it writes must name one of the passages it was given; others are removed. Any
error or timeout returns None, and the caller keeps the extractive answer.
"""

from __future__ import annotations

import logging
import re

import httpx

from bot.schema import Citation, Passage

log = logging.getLogger("bot.llm")

PROMPT = (
    "Tu réponds en français, brièvement, uniquement à partir des passages numérotés "
    "ci-dessous. Après chaque phrase, indique entre crochets le numéro du passage qui la "
    "justifie, par exemple [1]. Si les passages ne permettent pas de répondre, dis-le."
)


class LLMWriter:
    def __init__(self, url: str, model: str, api_key: str | None, timeout: float):
        self.url = url.rstrip("/") + "/chat/completions"
        self.model = model
        self.headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.timeout = timeout

    def __call__(self, question: str, passages: list[Passage]) -> tuple[str, list[Citation]] | None:
        context = "\n\n".join(f"[{i}] {p.title}\n{p.text}" for i, p in enumerate(passages, 1))
        body = {
            "model": self.model,
            "temperature": 0,
            "messages": [
                {"role": "system", "content": PROMPT},
                {"role": "user", "content": f"Passages :\n{context}\n\nQuestion : {question}"},
            ],
        }
        try:
            response = httpx.post(self.url, json=body, headers=self.headers, timeout=self.timeout)
            response.raise_for_status()
            text = response.json()["choices"][0]["message"]["content"]
        except (httpx.HTTPError, KeyError, IndexError, TypeError, ValueError) as e:
            log.warning("LLM unavailable (%s): extractive answer instead", e)
            return None
        return cite(text, passages)


def cite(text: str, passages: list[Passage]) -> tuple[str, list[Citation]] | None:
    """Keep only the [n] that name a given passage, renumbered 1..k in order of use."""
    numbers: dict[int, int] = {}

    def renumber(match: re.Match) -> str:
        n = int(match.group(1))
        if not 1 <= n <= len(passages):
            return ""
        numbers.setdefault(n, len(numbers) + 1)
        return f"[{numbers[n]}]"

    text = re.sub(r"\s*\[(\d+)\]", lambda m: " " + r if (r := renumber(m)) else "", text)
    text = re.sub(r"[ \t]+", " ", text).strip()
    if not numbers:
        return None  # an answer that cites nothing is not trusted
    citations = [
        Citation(
            n=new, title=p.title, source=p.source, url=p.url, page=p.page, chunk_id=p.chunk_id,
            char_start=p.char_start, char_end=p.char_end, quote=p.text, score=p.score,
        )
        for old, new in numbers.items()
        for p in [passages[old - 1]]
    ]
    return text, citations
