"""The assistant: one loaded index and one model, answering questions for CLI and API alike."""

from __future__ import annotations

import logging
import re
import threading
import time
import weakref
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property, partial
from typing import TYPE_CHECKING

import numpy as np

from bot.answer.composer import Composed
from bot.answer.events import Event, error_event, final_answer
from bot.answer.question import check_question
from bot.answer.reader.model import load_model
from bot.answer.retrieval import Hit
from bot.answer.snapshot import Snapshot, Snapshots
from bot.config import AnswerConfig
from bot.embedding import Tokens, load_embedder
from bot.embedding.batching import QueryBatcher
from bot.index import store
from bot.schema import Answer, IndexInfo, Passage, Turn

if TYPE_CHECKING:
    from bot.answer.llm import LLMWriter

# A question whose own evidence gets at least this reader confidence stands alone: it is
# never read as a follow-up of the previous turn. Below it (« Et en quelle année ? » finds
# some date, but weakly), the question is also searched with the previous one.
STANDS_ALONE = 0.5

log = logging.getLogger("bot.answer.assistant")
_WORD = re.compile(r"\S+\s*")  # the extractive answer is sent word by word


@dataclass(frozen=True)
class Replaced:
    """What was sent of an LLM reply is withdrawn: `text` (the extractive answer) stands instead."""

    text: str
    reason: str


@dataclass
class Retrieved:
    """What one question found, in the snapshot it was searched in."""

    snapshot: Snapshot
    query: str  # what was searched: the question, or a follow-up with its previous turn
    vector: np.ndarray
    tokens: Tokens | None  # the query's token vectors, from the pass that embedded it
    hits: list[Hit]
    timings: dict[str, float]
    began: float

    @cached_property  # read by the answer, the LLM and the stream alike
    def passages(self) -> list[Passage]:
        return self.snapshot.passages(self.hits)

    @cached_property  # the reader runs once per query, whoever asks first
    def composed(self) -> Composed:
        return self.snapshot.composer(self.query, self.vector, self.hits, self.tokens)


class Assistant:
    def __init__(self, config: AnswerConfig, embedder=None, *, shared: Assistant | None = None):
        """`shared`: an assistant on another collection whose model, reader, batcher and LLM
        writer this one uses (they are loaded once, whatever the number of collections)."""
        self.config = config
        self._shared = shared
        self._embedder = embedder
        self._batcher_lock = threading.Lock()
        self._batcher: QueryBatcher | None = None
        # the fitted reader (bot/answer/reader)
        reader = shared.snapshots.reader if shared else load_model(config.reader.params)
        # Weakly: a snapshot keeping its assistant alive would hold its index's lease forever.
        me = weakref.ref(self)
        self.snapshots = Snapshots(config, reader, lambda texts: me()._passage_tokens(texts))

    @cached_property
    def embedder(self):
        if self._shared is not None:
            return self._shared.embedder
        return self._embedder or load_embedder(self.config.index.embedding)

    @property
    def batcher(self) -> QueryBatcher:
        """One forward pass at a time, shared by the queries that arrive together: on 2
        cores, parallel passes only fight over the cores the model already uses."""
        if self._shared is not None:
            return self._shared.batcher
        if self._batcher is None:
            with self._batcher_lock:
                if self._batcher is None:
                    embedder = self.embedder
                    # The batcher's thread lives on: it holds the model, never this assistant.
                    self._batcher = QueryBatcher(
                        partial(query_with_tokens, embedder), max_batch=getattr(embedder, "query_batch", 16)
                    )
        return self._batcher

    def _passage_tokens(self, texts: list[str]) -> list[Tokens]:
        """Sentences' token vectors, for an index stored without them."""
        return self.embedder.encode_with_tokens(texts, False)[1]

    @property
    def snapshot(self) -> Snapshot:
        return self.snapshots.current

    @property
    def index(self) -> store.LoadedIndex:
        return self.snapshot.index

    @property
    def reload_error(self) -> str | None:
        return self.snapshots.reload_error

    def reload(self) -> bool:
        return self.snapshots.reload()

    def refresh_if_changed(self) -> None:
        self.snapshots.refresh_if_changed()

    def info(self) -> IndexInfo:
        return self.snapshot.info()

    def retrieval_query(self, question: str, history: Sequence[Turn] = ()) -> str | None:
        """The question read as a follow-up of the previous user turn ("Et en quelle
        année ?"), or None when there is no previous turn. Whether it is one is decided in
        `search`, by the evidence each reading retrieves, not by the question's length."""
        previous = [t.content for t in history if t.role == "user" and t.content.strip()]
        return f"{previous[-1]} {question}" if previous else None

    def search(
        self,
        question: str,
        k: int | None = None,
        history: Sequence[Turn] = (),
        snapshot: Snapshot | None = None,
    ) -> Retrieved:
        """Ranked passages for a question, checked first like every question (`check_question`).
        `snapshot`: the one the request took at its edge (default: the one served now)."""
        return self._retrieve(self._checked(question, history, k), k, history, snapshot)

    def _checked(self, question: str, history: Sequence[Turn], k: int | None) -> str:
        return check_question(question, self.config.retrieval.max_question_chars, history, k)

    def _retrieve(
        self, question: str, k: int | None, history: Sequence[Turn], snapshot: Snapshot | None = None
    ) -> Retrieved:
        """The question (already checked) is searched and read on its own; only when the
        reader is not confident in what that finds (below STANDS_ALONE), and there is a
        previous turn, is it searched again together with the previous question, and the
        reading the reader trusts more is kept. Each query is read once."""
        began = time.perf_counter()
        snapshot = snapshot if snapshot is not None else self.snapshot
        vector, tokens, hits, timings = self._search(snapshot, question, k)
        found = Retrieved(snapshot, question, vector, tokens, hits, timings, began)
        combined = self.retrieval_query(question, history)
        if combined is not None and hits:
            alone = found.composed.confidence
            if alone < max(STANDS_ALONE, snapshot.composer.threshold):
                vector2, tokens2, hits2, timings2 = self._search(snapshot, combined, k)
                joined = {key: timings[key] + timings2[key] for key in timings}
                other = Retrieved(snapshot, combined, vector2, tokens2, hits2, joined, began)
                found.timings = joined
                if hits2 and other.composed.confidence > alone:
                    found = other
        return found

    def _search(
        self, snapshot: Snapshot, query: str, k: int | None
    ) -> tuple[np.ndarray, Tokens | None, list[Hit], dict[str, float]]:
        t0 = time.perf_counter()
        vector, tokens = self.batcher.encode(query)
        t1 = time.perf_counter()
        hits = snapshot.retriever.search(vector, query, k or self.config.retrieval.top_k)
        t2 = time.perf_counter()
        return vector, tokens, hits, {"embed": _ms(t1 - t0), "search": _ms(t2 - t1)}

    def events(
        self,
        question: str,
        k: int | None = None,
        history: Sequence[Turn] = (),
        snapshot: Snapshot | None = None,
    ) -> Iterator[Event]:
        """The one answer sequence, for `/ask` (its `done`), `/ask/stream` (all of it) and the
        CLI: `passages`, `delta`*, [`replace`], `citations`, then `done` or `error`. The
        question is checked now: a bad one raises before anything is sent. `snapshot`: the
        one the request took at its edge (default: the one served now)."""
        return self._events(self._checked(question, history, k), k, history, snapshot)

    def _events(
        self, question: str, k: int | None, history: Sequence[Turn], snapshot: Snapshot | None
    ) -> Iterator[Event]:
        try:
            found = self._retrieve(question, k, history, snapshot)
            yield Event("passages", {"passages": [p.model_dump() for p in found.passages]})
            for item in self.compose_stream(found):
                if isinstance(item, str):
                    yield Event("delta", {"text": item})
                elif isinstance(item, Replaced):
                    yield Event("replace", {"text": item.text, "reason": item.reason})
                else:
                    composed = item
            yield Event("citations", {"citations": [c.model_dump() for c in composed.citations]})
            answer = self.to_answer(found, composed)
            yield Event("done", answer.model_dump(), answer=answer)
        except Exception as e:  # reported in-band: once a stream has started there is no status
            yield error_event(e)

    def ask(
        self,
        question: str,
        k: int | None = None,
        history: Sequence[Turn] = (),
        snapshot: Snapshot | None = None,
    ) -> Answer:
        return final_answer(self.events(question, k, history, snapshot))

    def compose_stream(self, found: Retrieved) -> Iterator[str | Replaced | Composed]:
        """The answer as it is written: text pieces, then the `Composed` answer. The
        extractive answer comes word by word; the LLM's as its tokens arrive, checked. An
        LLM reply that fails once some of it was sent yields `Replaced` (the extractive
        answer, which stands instead) before the extractive `Composed`."""
        t = time.perf_counter()
        composed = found.composed
        if composed.status == "answered" and self.llm is not None:
            reply = self.llm.stream(found.query, found.passages)
            sent = False
            try:
                for piece in reply:
                    sent = True
                    yield piece
            except Exception as e:  # the writer is optional: the extractive answer stands
                from bot.answer.llm import describe

                log.warning("LLM reply not used (%s): extractive answer instead", describe(e))
                if sent:
                    yield Replaced(composed.text, describe(e))
                    found.timings["answer"] = _ms(time.perf_counter() - t)
                    yield composed
                    return
            else:
                # Its citations are the LLM's own: a short answer pointing into ours would dangle.
                found.timings["answer"] = _ms(time.perf_counter() - t)
                yield Composed("answered", reply.text, reply.citations, composed.confidence)
                return
        yield from _WORD.findall(composed.text)
        found.timings["answer"] = _ms(time.perf_counter() - t)
        yield composed

    @cached_property
    def llm(self) -> LLMWriter | None:
        if self._shared is not None:
            return self._shared.llm
        if not self.config.llm.url:
            return None
        from bot.answer.llm import LLMWriter  # only when an LLM writes the answers

        return LLMWriter.from_config(self.config.llm)

    def to_answer(self, found: Retrieved, composed: Composed) -> Answer:
        found.timings["total"] = _ms(time.perf_counter() - found.began)
        return Answer(
            status=composed.status,
            answer=composed.text,
            confidence=composed.confidence,
            short_answer=composed.short_answer,
            citations=composed.citations,
            passages=found.passages,
            timings_ms=found.timings,
            index=found.snapshot.info(),
            collection=self.config.collection,
        )


def query_with_tokens(embedder, texts: list[str]) -> list[tuple[np.ndarray, Tokens | None]]:
    """Each query's vector and, from the same pass, its token vectors (for the reader)."""
    if hasattr(embedder, "encode_with_tokens"):
        vectors, tokens = embedder.encode_with_tokens(texts, True)
        return list(zip(vectors, tokens, strict=True))
    return [(v, None) for v in embedder.encode_queries(texts)]


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 2)
