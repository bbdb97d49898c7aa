"""The served index: one immutable snapshot per loaded generation, and its reload when an
ingest publishes a newer one."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

from bot.answer.composer import Composer, EncodeTokens
from bot.answer.reader.model import ReaderModel
from bot.answer.retrieval import Hit, Retriever
from bot.config import AnswerConfig
from bot.errors import IndexUnavailable
from bot.index import store
from bot.index.stores import open_store
from bot.schema import IndexInfo, Passage

log = logging.getLogger("bot.answer.snapshot")


@dataclass(frozen=True)
class Snapshot:
    """One loaded generation with everything that reads it. A request takes one snapshot
    and uses only it, so a reload in the middle of the request cannot mix generations."""

    index: store.LoadedIndex
    retriever: Retriever
    composer: Composer

    @classmethod
    def load(
        cls,
        config: AnswerConfig,
        reader: ReaderModel,
        encode_tokens: EncodeTokens | None = None,
    ) -> Snapshot:
        loaded = open_store(config.index).load()
        store.check_compatible(loaded.manifest, config.index)
        return cls(
            loaded,
            Retriever(loaded, config.retrieval.fusion, config.retrieval.dense_weight),
            Composer(loaded, reader, config.reader.min_confidence, encode_tokens),
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
                    rank=rank,
                    chunk_id=chunk.chunk_id,
                    title=doc.title,
                    source=doc.source,
                    url=doc.url,
                    page=chunk.page,
                    headings=list(chunk.headings),
                    text=doc.text[chunk.char_start : chunk.char_end],
                    char_start=chunk.char_start,
                    char_end=chunk.char_end,
                    score=round(hit.score, 4),
                    dense_rank=hit.dense_rank,
                    dense_score=round(hit.dense_score, 4),
                    bm25_rank=hit.bm25_rank,
                    bm25_score=round(hit.bm25_score, 4),
                )
            )
        return out


class Snapshots:
    """The snapshot served now; swapped whole when a newer generation loads."""

    def __init__(
        self,
        config: AnswerConfig,
        reader: ReaderModel,
        encode_tokens: EncodeTokens | None = None,
    ):
        self.config, self.reader = config, reader
        self.encode_tokens = encode_tokens
        self.index_dir = config.index.index_dir
        self.store = open_store(config.index)
        self._reload_lock = threading.Lock()
        self._retry_at = 0.0  # after a failed reload, when to try again
        self._backoff = 0.0
        self.reload_error: str | None = None  # why the published generation is not served
        self.current = Snapshot.load(config, reader, encode_tokens)

    def reload(self) -> bool:
        """Load the published generation if it is not the one served; True if it changed.
        Raises if it cannot be loaded; the served snapshot is then unchanged."""
        if self.store.current() == self.current.index.name:
            return False
        self.current = Snapshot.load(self.config, self.reader, self.encode_tokens)  # one reference swapped
        return True

    def refresh_if_changed(self) -> None:
        """Cheap check, for a long-running server, that a newer ingest was published.

        One thread reloads while the others go on with the served snapshot. A generation
        that fails to load is logged and retried with back-off (1 s, 2 s, ... 60 s); the
        served snapshot stays in service meanwhile.
        """
        try:
            name = self.store.published()
        except IndexUnavailable:
            return  # the database is away: its requests answer 503 until it is back, then this
        if name == self.current.index.name:
            self.reload_error = None
            return
        if time.monotonic() < self._retry_at:
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
            log.warning(
                "reload failed, still serving %s (retry in %.0f s): %s",
                self.current.index.name,
                self._backoff,
                e,
            )
        finally:
            self._reload_lock.release()
