"""One interface, two index stores, chosen at start by `IndexConfig.store_url`
(ALLIANCE_STORE_URL):

- unset: the generation folder (`FolderStore`, bot/index/store.py), loaded whole into the
  process's memory: one machine, nothing to run;
- `postgresql://…`: a PostgreSQL database with pgvector (`bot/index/pg.py`), shared by
  replicas that hold no copy of the index.

Ingest, serving and the CLI go through `open_store(config)`; retrieval, fusion and the
reader read the loaded index (`LoadedIndex` or `PgIndex`) through the same attributes.
Generations are named by `store.new_generation_name()` in both stores.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Protocol

from bot.config import IndexConfig
from bot.documents import Chunk, Document
from bot.index import dense, store
from bot.index.store import IndexedDocument, Manifest


class Store(Protocol):
    """Where an index's generations are written, published and read."""

    @property
    def kind(self) -> str:
        """`folder` or `postgresql`."""
        ...

    def describe(self) -> str:
        """Where it is, without credentials (for /health and the CLI)."""
        ...

    def lock(self, wait: float) -> AbstractContextManager:
        """One ingest at a time on this index; `IngestBusy` after `wait` seconds."""
        ...

    def current(self) -> str | None:
        """The published generation's name; None when nothing was ever published."""
        ...

    def published(self) -> str | None:
        """`current`, cheap enough for every request (maybe a fraction of a second stale)."""
        ...

    def read_contents(self, name: str) -> tuple[Manifest, dict[str, str]]: ...

    def read_manifest(self, name: str) -> Manifest: ...

    def read_generation(self, name: str) -> tuple[Manifest, dict[str, IndexedDocument]]: ...

    def write_generation(
        self,
        manifest: Manifest,
        docs: list[IndexedDocument],
        bm25_terms: Callable[[Document, Chunk], list[str]],
        dense_exact_max: int = dense.DEFAULT_EXACT_MAX,
    ) -> str:
        """Write a complete generation and publish it atomically; returns its name."""
        ...

    def collect_garbage(self, keep: str) -> None: ...

    def load(self):
        """The published generation, ready to search (`IndexUnavailable` when there is none)."""
        ...


class FolderStore:
    """The generation folder: bot/index/store.py's functions behind the interface."""

    kind = "folder"

    def __init__(self, index_dir: Path):
        self.index_dir = index_dir

    def describe(self) -> str:
        return f"folder:{self.index_dir}"

    def lock(self, wait: float) -> store.IngestLock:
        return store.IngestLock(self.index_dir, wait)

    def current(self) -> str | None:
        generation = store.current_generation(self.index_dir)
        return generation.name if generation is not None else None

    def published(self) -> str | None:
        try:
            return (self.index_dir / store.CURRENT).read_text(encoding="utf-8").strip()
        except OSError:
            return None

    def read_contents(self, name: str) -> tuple[Manifest, dict[str, str]]:
        return store.read_contents(self.index_dir / name)

    def read_manifest(self, name: str) -> Manifest:
        return store.read_stored_manifest(self.index_dir / name)

    def read_generation(self, name: str) -> tuple[Manifest, dict[str, IndexedDocument]]:
        return store.read_generation(self.index_dir / name)

    def write_generation(self, manifest, docs, bm25_terms, dense_exact_max=dense.DEFAULT_EXACT_MAX) -> str:
        return store.write_generation(self.index_dir, manifest, docs, bm25_terms, dense_exact_max).name

    def collect_garbage(self, keep: str) -> None:
        store.collect_garbage(self.index_dir, keep=self.index_dir / keep)

    def load(self) -> store.LoadedIndex:
        return store.load_current(self.index_dir)


def published_manifest(config: IndexConfig) -> Manifest | None:
    """The published generation's manifest; None before a first ingest."""
    target = open_store(config)
    name = target.current()
    return target.read_manifest(name) if name is not None else None


def open_store(config: IndexConfig) -> Store:
    """The store the configuration names (one PostgreSQL client per URL and collection)."""
    if not config.store_url:
        return FolderStore(config.index_dir)
    from bot.index import pg  # psycopg and pgvector only where a database is used

    return pg.shared_store(config.store_url, config.collection, config.store_cache_rows)
