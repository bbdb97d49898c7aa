"""The assistant: one loaded index and one model, answering questions for CLI and API alike."""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from bot import index as store
from bot.answer import Composed, Composer
from bot.batching import QueryBatcher
from bot.config import Settings
from bot.embedding import load_embedder
from bot.errors import QuestionError, question_too_long
from bot.ingest import IngestSummary, check_compatible, ingest
from bot.llm import LLMWriter, describe
from bot.reader.cross import CrossReader, load_cross
from bot.reader.model import ReaderModel, load_model
from bot.retrieval import Hit, Retriever
from bot.schema import Answer, IndexInfo, Passage, Turn
from bot.threads import usable_cores

# A question whose own evidence gets at least this reader confidence stands alone: it is
# never read as a follow-up of the previous turn. Below it (« Et en quelle année ? » finds
# some date, but weakly), the question is also searched with the previous one.
STANDS_ALONE = 0.5

log = logging.getLogger("bot.assistant")
_WORD = re.compile(r"\S+\s*")  # the extractive answer is sent word by word


@dataclass(frozen=True)
class Snapshot:
    """One loaded generation with everything that reads it. A request takes one snapshot
    and uses only it, so a reload in the middle of the request cannot mix generations."""

    index: store.LoadedIndex
    retriever: Retriever
    composer: Composer

    @classmethod
    def load(cls, settings: Settings, reader: ReaderModel, cross: CrossReader | None = None) -> Snapshot:
        loaded = store.load_current(settings.index_dir)
        check_compatible(loaded.manifest, settings)
        return cls(
            loaded,
            Retriever(loaded, settings.fusion, settings.dense_weight),
            Composer(loaded, reader, settings.min_confidence, cross),
        )

    def info(self) -> IndexInfo:
        m = self.index.manifest
        return IndexInfo(version=m.version, model=m.model, chunks=m.chunks, documents=m.documents)

    def passages(self, hits: list[Hit]) -> list[Passage]:
        out = []
        for rank, hit in enumerate(hits, start=1):
            chunk = hit.chunk
            doc = self.index.documents[chunk.source]
            out.append(
                Passage(
                    rank=rank, chunk_id=chunk.chunk_id, title=doc.title, source=doc.source,
                    url=doc.url, page=chunk.page, headings=list(chunk.headings),
                    text=doc.text[chunk.char_start : chunk.char_end],
                    char_start=chunk.char_start, char_end=chunk.char_end,
                    score=round(hit.score, 4),
                    dense_rank=hit.dense_rank, dense_score=round(hit.dense_score, 4),
                    bm25_rank=hit.bm25_rank, bm25_score=round(hit.bm25_score, 4),
                )
            )
        return out


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
    hits: list[Hit]
    timings: dict[str, float]
    began: float

    @cached_property  # read by the answer, the LLM and the stream alike
    def passages(self) -> list[Passage]:
        return self.snapshot.passages(self.hits)


class Assistant:
    def __init__(self, settings: Settings, embedder=None):
        self.settings = settings
        self._embedder = embedder
        self._batcher_lock = threading.Lock()
        self._batcher: QueryBatcher | None = None
        self._reload_lock = threading.Lock()
        self._retry_at = 0.0  # after a failed reload, when to try again
        self._backoff = 0.0
        self.reload_error: str | None = None  # why the published generation is not served
        self.reader = load_model(settings.reader_params)  # the fitted reader (bot/reader)
        self.cross = (
            load_cross(settings.model_cache, settings.reader_cross_dir, usable_cores())
            if settings.reader == "cross" else None
        )
        self.snapshot: Snapshot = Snapshot.load(settings, self.reader, self.cross)

    @cached_property
    def embedder(self):
        return self._embedder or load_embedder(self.settings)

    @property
    def batcher(self) -> QueryBatcher:
        """One forward pass at a time, shared by the queries that arrive together: on 2
        cores, parallel passes only fight over the cores the model already uses."""
        if self._batcher is None:
            with self._batcher_lock:
                if self._batcher is None:
                    embedder = self.embedder
                    self._batcher = QueryBatcher(
                        embedder.encode_queries, max_batch=getattr(embedder, "query_batch", 16)
                    )
        return self._batcher

    @property
    def index(self) -> store.LoadedIndex:
        return self.snapshot.index

    def reload(self) -> bool:
        """Load the published generation if it is not the one served; True if it changed.
        Raises if it cannot be loaded; the served snapshot is then unchanged."""
        if store.current_generation(self.settings.index_dir) == self.snapshot.index.generation:
            return False
        self.snapshot = Snapshot.load(self.settings, self.reader, self.cross)  # one reference swapped
        return True

    def refresh_if_changed(self) -> None:
        """Cheap check, for a long-running server, that a newer ingest was published.

        One thread reloads while the others go on with the served snapshot. A generation
        that fails to load is logged and retried with back-off (1 s, 2 s, ... 60 s); the
        served snapshot stays in service meanwhile.
        """
        try:
            name = (self.settings.index_dir / store.CURRENT).read_text(encoding="utf-8").strip()
        except OSError:
            name = None
        if name == self.snapshot.index.name or time.monotonic() < self._retry_at:
            return
        if not self._reload_lock.acquire(blocking=False):
            return
        try:
            self.reload()
            self.reload_error, self._backoff, self._retry_at = None, 0.0, 0.0
        except Exception as e:  # keep serving what we have
            self._backoff = min(60.0, max(1.0, self._backoff * 2))
            self._retry_at = time.monotonic() + self._backoff
            self.reload_error = type(e).__name__
            log.warning("reload failed, still serving %s (retry in %.0f s): %s",
                        self.snapshot.index.name, self._backoff, e)
        finally:
            self._reload_lock.release()

    def info(self) -> IndexInfo:
        return self.snapshot.info()

    def check_question(self, question: str) -> str:
        question = question.strip()
        if not question:
            raise QuestionError(
                "empty_question",
                "La question est vide : écrivez une question.",
                "The question is empty: type a question.",
            )
        limit = self.settings.max_question_chars
        if len(question) > limit:
            raise question_too_long(limit)
        return question

    def retrieval_query(self, question: str, history: Sequence[Turn] = ()) -> str | None:
        """The question read as a follow-up of the previous user turn ("Et en quelle
        année ?"), or None when there is no previous turn. Whether it is one is decided in
        `search`, by the evidence each reading retrieves, not by the question's length."""
        previous = [t.content for t in history if t.role == "user" and t.content.strip()]
        return f"{previous[-1]} {question}" if previous else None

    def search(self, question: str, k: int | None = None, history: Sequence[Turn] = ()) -> Retrieved:
        """The question is searched on its own; only when the reader is not confident in
        what that finds (below STANDS_ALONE), and there is a previous turn, is it searched
        again together with the previous question, and the reading the reader trusts more
        is kept."""
        began = time.perf_counter()
        question = self.check_question(question)
        snapshot = self.snapshot
        vector, hits, timings = self._search(snapshot, question, k)
        query = question
        combined = self.retrieval_query(question, history)
        if combined is not None and hits:
            alone = snapshot.composer.confidence(question, vector, hits)
            if alone < max(STANDS_ALONE, snapshot.composer.threshold):
                vector2, hits2, timings2 = self._search(snapshot, combined, k)
                if hits2 and snapshot.composer.confidence(combined, vector2, hits2) > alone:
                    query, vector, hits = combined, vector2, hits2
                timings = {key: timings[key] + timings2[key] for key in timings}
        return Retrieved(snapshot, query, vector, hits, timings, began)

    def _search(
        self, snapshot: Snapshot, query: str, k: int | None
    ) -> tuple[np.ndarray, list[Hit], dict[str, float]]:
        t0 = time.perf_counter()
        vector = self.batcher.encode(query)
        t1 = time.perf_counter()
        hits = snapshot.retriever.search(vector, query, k or self.settings.top_k)
        t2 = time.perf_counter()
        return vector, hits, {"embed": _ms(t1 - t0), "search": _ms(t2 - t1)}

    def ask(self, question: str, k: int | None = None, history: Sequence[Turn] = ()) -> Answer:
        found = self.search(question, k, history)
        return self.to_answer(found, self.compose(found))

    def compose(self, found: Retrieved) -> Composed:
        """The extractive answer, rewritten by the LLM when one is configured. A refusal
        stays a refusal: the LLM is never asked to answer from weak evidence."""
        for item in self.compose_stream(found):
            if isinstance(item, Composed):
                return item
        raise RuntimeError("compose_stream ended without an answer")

    def compose_stream(self, found: Retrieved) -> Iterator[str | Replaced | Composed]:
        """The answer as it is written: text pieces, then the `Composed` answer. The
        extractive answer comes word by word; the LLM's as its tokens arrive, checked. An
        LLM reply that fails once some of it was sent yields `Replaced` (the extractive
        answer, which stands instead) before the extractive `Composed`."""
        t = time.perf_counter()
        composed = found.snapshot.composer(found.query, found.vector, found.hits)
        if composed.status == "answered" and self.llm is not None:
            reply = self.llm.stream(found.query, found.passages)
            sent = False
            try:
                for piece in reply:
                    sent = True
                    yield piece
            except Exception as e:  # the writer is optional: the extractive answer stands
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
        return LLMWriter.from_settings(self.settings) if self.settings.llm_url else None

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
        )


def ensure_index(settings: Settings, embedder_factory) -> IngestSummary:
    """Build the index when it is missing; sync it with its sources when they changed.

    Sources that have disappeared (a deleted temporary folder) are left alone rather
    than emptying the index.
    """
    generation = store.current_generation(settings.index_dir)  # raises if CURRENT is broken
    if generation is None:
        roots = [settings.documents_dir]
    else:
        roots = [Path(r) for r in store.read_stored_manifest(generation).roots]
        if not roots or not all(r.exists() for r in roots):
            return IngestSummary(version=generation.name)
    # Another ingest running: serve what is published rather than wait for it.
    wait = 0.0 if generation is not None else 600.0
    try:
        return ingest(roots, settings, embedder_factory, progress=False, wait=wait)
    except store.IngestBusy:
        if generation is None:
            raise
        log.warning("index not brought up to date (another ingest is running)")
        return IngestSummary(version=generation.name)


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 2)
