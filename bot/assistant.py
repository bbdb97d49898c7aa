"""The assistant: one loaded index and one model, answering questions for CLI and API alike."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path

import numpy as np

from bot import index as store
from bot.answer import Composed, Composer
from bot.config import Settings
from bot.embedding import load_embedder
from bot.errors import IndexUnavailable, QuestionError
from bot.ingest import IngestSummary, check_compatible, ingest
from bot.llm import LLMWriter
from bot.retrieval import Hit, Retriever
from bot.schema import Answer, IndexInfo, Passage, Turn
from bot.text import terms

# Calibrated with `alliance-bot eval`: see README, "Refusing to guess".
NO_ANSWER_THRESHOLD = 0.83
# A question with this few content words is read as a follow-up of the previous one.
FOLLOW_UP_MAX_TERMS = 2


class Assistant:
    def __init__(self, settings: Settings, embedder=None):
        self.settings = settings
        self._embedder = embedder
        self._lock = threading.Lock()
        # One query embedding at a time: on 2 cores, parallel forward passes only
        # fight over the same cores (torch already uses both for one).
        self._encode_lock = threading.Lock()
        self.index: store.LoadedIndex | None = None
        self.reload()

    @cached_property
    def embedder(self):
        return self._embedder or load_embedder(self.settings)

    def reload(self) -> bool:
        """Load the current generation if it is not the one loaded; True if it changed."""
        generation = store.current_generation(self.settings.index_dir)
        if generation is None:
            raise IndexUnavailable(
                f"Aucun index dans {self.settings.index_dir} : lancez `alliance-bot ingest`."
            )
        if self.index is not None and self.index.generation == generation:
            return False
        loaded = store.LoadedIndex(generation)
        check_compatible(loaded.manifest, self.settings)
        with self._lock:
            self.index = loaded
            self.retriever = Retriever(
                loaded, self.settings.fusion, self.settings.dense_weight
            )
            self.composer = Composer(loaded, NO_ANSWER_THRESHOLD)
        return True

    def refresh_if_changed(self) -> None:
        """Cheap check, for a long-running server, that a newer ingest was published."""
        pointer = self.settings.index_dir / store.CURRENT
        try:
            name = pointer.read_text(encoding="utf-8").strip()
        except OSError:
            return
        if self.index is not None and self.index.generation.name != name:
            self.reload()

    def info(self) -> IndexInfo:
        m = self.index.manifest
        return IndexInfo(version=m.version, model=m.model, chunks=m.chunks, documents=m.documents)

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
            raise QuestionError(
                "question_too_long",
                f"La question dépasse {limit} caractères : raccourcissez-la.",
                f"The question is longer than {limit} characters: shorten it.",
            )
        return question

    def retrieval_query(self, question: str, history: Sequence[Turn] = ()) -> str:
        """A short follow-up ("Et en quelle année ?") is searched with the previous question."""
        previous = [t.content for t in history if t.role == "user" and t.content.strip()]
        if previous and len(terms(question, self.index.manifest.language)) <= FOLLOW_UP_MAX_TERMS:
            return f"{previous[-1]} {question}"
        return question

    def search(
        self, question: str, k: int | None = None, history: Sequence[Turn] = ()
    ) -> tuple[str, np.ndarray, list[Hit], dict[str, float]]:
        question = self.check_question(question)
        query = self.retrieval_query(question, history)
        t0 = time.perf_counter()
        with self._encode_lock:
            vector = self.embedder.encode_queries([query])[0]
        t1 = time.perf_counter()
        hits = self.retriever.search(vector, query, k or self.settings.top_k)
        t2 = time.perf_counter()
        return query, vector, hits, {"embed": _ms(t1 - t0), "search": _ms(t2 - t1)}

    def ask(self, question: str, k: int | None = None, history: Sequence[Turn] = ()) -> Answer:
        began = time.perf_counter()
        query, vector, hits, timings = self.search(question, k, history)
        t = time.perf_counter()
        composed = self.compose(query, vector, hits)
        timings["answer"] = _ms(time.perf_counter() - t)
        timings["total"] = _ms(time.perf_counter() - began)
        return self.to_answer(composed, hits, timings)

    def compose(self, query: str, vector: np.ndarray, hits: list[Hit]) -> Composed:
        """The extractive answer, rewritten by the LLM when one is configured. A refusal
        stays a refusal: the LLM is never asked to answer from weak evidence."""
        composed = self.composer(query, vector, hits)
        if composed.status == "answered" and self.llm is not None:
            written = self.llm(query, self.passages(hits))
            if written is not None:
                return Composed("answered", written[0], written[1], composed.confidence)
        return composed

    @cached_property
    def llm(self) -> LLMWriter | None:
        return LLMWriter.from_settings(self.settings) if self.settings.llm_url else None

    def to_answer(self, composed: Composed, hits: list[Hit], timings: dict[str, float]) -> Answer:
        return Answer(
            status=composed.status,
            answer=composed.text,
            citations=composed.citations,
            passages=self.passages(hits),
            timings_ms=timings,
            index=self.info(),
        )

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


def ensure_index(settings: Settings, embedder_factory) -> IngestSummary:
    """Build the index when it is missing; sync it with its sources when they changed.

    Sources that have disappeared (a deleted temporary folder) are left alone rather
    than emptying the index.
    """
    generation = store.current_generation(settings.index_dir)
    if generation is None:
        roots = [settings.documents_dir]
    else:
        db = store.open_database(generation)
        roots = [Path(r) for r in store.read_manifest(db).roots]
        db.close()
        if not roots or not all(r.exists() for r in roots):
            return IngestSummary(version=generation.name)
    return ingest(roots, settings, embedder_factory, progress=False)


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 2)
