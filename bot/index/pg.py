"""The index in PostgreSQL with pgvector: generations that replicas share and do not copy.

Layout (created on an empty database, `migrate`):
- `alliance_index_schema(version)`, `alliance_generations(name, collection, manifest, stats,
  created_at, superseded_at)`, `alliance_published(collection, name, previous, published_at)`;
- one PostgreSQL schema per generation, named like the folder store's generations
  (`gen-…`), holding `documents`, `chunks` (offsets, the sentence rows they cover, the
  vector in pgvector, an HNSW index on inner product past `dense_exact_max` chunks),
  `sentences` (spans, vectors and token vectors as the folder store keeps them) and
  `lexicon` (BM25: for each term, its passages and their weights, as bot/index/bm25.py
  computes them; a question sums its terms' postings as the folder store does).

Writing: one transaction creates the generation's schema, fills it, records it and points
`alliance_published` at it (then NOTIFY); a crash or `kill -9` rolls all of it back, and the
published generation keeps serving. A session advisory lock serialises ingests.

Reading: `PgIndex` (bot/index/pg_index.py) reads a generation without holding it.
"""

from __future__ import annotations

import json
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, replace
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import numpy as np
import psycopg
from pgvector.psycopg import register_vector
from psycopg import sql

from bot.documents import Chunk, Document
from bot.errors import IndexUnavailable
from bot.index import dense
from bot.index.bm25 import BM25Builder
from bot.index.store import (
    INDEX_FORMAT,
    IndexedDocument,
    IngestBusy,
    Manifest,
    _document,
    _sections_json,
)

if TYPE_CHECKING:
    from bot.index.pg_index import PgIndex

SCHEMA_VERSION = 1
CHANNEL = "alliance_published"
POLL_SECONDS = 0.5  # how stale a replica's idea of the published generation may be
# How long a replaced generation stays readable: a replica notices a new one within a
# second, but a question it is answering (an LLM's streamed answer) may last longer.
GRACE_SECONDS = 600.0
BUILD_MEMORY = "1GB"  # maintenance_work_mem while an ingest builds the HNSW graph
_MIGRATIONS = {
    1: """
    CREATE EXTENSION IF NOT EXISTS vector;
    CREATE TABLE IF NOT EXISTS alliance_generations (
        name text PRIMARY KEY, collection text NOT NULL, manifest jsonb NOT NULL,
        stats jsonb NOT NULL, created_at timestamptz NOT NULL DEFAULT now(),
        superseded_at timestamptz
    );
    CREATE TABLE IF NOT EXISTS alliance_published (
        collection text PRIMARY KEY, name text NOT NULL REFERENCES alliance_generations(name),
        previous text, published_at timestamptz NOT NULL DEFAULT now()
    );
    """,
}
_TABLES = """
CREATE TABLE {s}.documents (
    source text PRIMARY KEY, title text NOT NULL, url text, date text, text text NOT NULL,
    sections text NOT NULL, content_hash text NOT NULL, ingested_at text NOT NULL
);
CREATE TABLE {s}.chunks (
    row integer PRIMARY KEY, source text NOT NULL, char_start integer NOT NULL,
    char_end integer NOT NULL, headings text NOT NULL, page integer,
    first_sentence integer NOT NULL, last_sentence integer NOT NULL, embedding vector({d}) NOT NULL
);
CREATE TABLE {s}.sentences (
    row integer PRIMARY KEY, source text NOT NULL, char_start integer NOT NULL,
    char_end integer NOT NULL, vector bytea, tokens bytea, token_offsets bytea
);
CREATE TABLE {s}.lexicon (
    term text PRIMARY KEY, df integer NOT NULL, rows bytea NOT NULL, weights bytea NOT NULL
);
-- Postings are read whole and do not compress: no compression to undo on each question.
ALTER TABLE {s}.lexicon ALTER rows SET STORAGE EXTERNAL, ALTER weights SET STORAGE EXTERNAL;
"""
_ADVICE = "vérifiez ALLIANCE_STORE_URL et que la base répond ; l'index publié n'a pas changé"


def _unavailable(e: Exception) -> IndexUnavailable:
    return IndexUnavailable(
        f"Base de l'index injoignable ou en erreur ({e.__class__.__name__}) : {_ADVICE}.",
        f"Index database unreachable or failing ({e.__class__.__name__}): check ALLIANCE_STORE_URL.",
    )


def _array(vector) -> np.ndarray:
    """A pgvector value as float32 (the loader gives a `Vector`)."""
    return np.asarray(vector.to_numpy() if hasattr(vector, "to_numpy") else vector, dtype=np.float32)


def _url(url: str) -> str:
    """psycopg takes postgresql:// (SQLAlchemy's postgresql+psycopg:// too, as the log's URL)."""
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


class _Pool:
    """A few autocommit connections reused by request threads; a broken one is dropped, so
    that after a database restart the next request connects again."""

    def __init__(self, url: str, keep: int = 8):
        self.url, self.keep = _url(url), keep
        self._idle: list[psycopg.Connection] = []
        self._lock = threading.Lock()

    def open(self, autocommit: bool = True) -> psycopg.Connection:
        conn = psycopg.connect(self.url, autocommit=autocommit, connect_timeout=5)
        register_vector(conn)
        if autocommit:  # the graph's search breadth, once per connection rather than per question
            conn.execute(sql.SQL("SET hnsw.ef_search = {}").format(sql.Literal(dense.HNSW_EF_SEARCH)))
        return conn

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection]:
        with self._lock:
            conn = self._idle.pop() if self._idle else None
        if conn is None:
            conn = self.open()
        try:
            yield conn
        except BaseException:
            conn.close()  # its state is unknown: never hand it out again
            raise
        with self._lock:
            if len(self._idle) < self.keep and not conn.closed:
                self._idle.append(conn)
                conn = None
        if conn is not None:
            conn.close()

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()


class _Lru:
    """A bounded, thread-safe mapping: the least recently used entries go first."""

    def __init__(self, capacity: int):
        self.capacity = max(1, capacity)
        self._items: OrderedDict = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key):
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
            return found

    def put(self, key, value) -> None:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)

    def __len__(self) -> int:
        return len(self._items)


_stores: dict[tuple[str, str], PgStore] = {}
_stores_lock = threading.Lock()


def shared_store(url: str, collection: str, cache_rows: int) -> PgStore:
    """One client (and connection pool) per database and collection in a process."""
    with _stores_lock:
        found = _stores.get((url, collection))
        if found is None or found.cache_rows != cache_rows:
            found = _stores[(url, collection)] = PgStore(url, collection, cache_rows)
        return found


class PgStore:
    kind = "postgresql"

    def __init__(self, url: str, collection: str = "", cache_rows: int = 50_000):
        self.url, self.collection, self.cache_rows = url, collection, cache_rows
        self.pool = _Pool(url)
        self._migrated = False
        self._published: tuple[float, str | None] = (0.0, None)

    def describe(self) -> str:
        parts = urlsplit(_url(self.url))
        where = f"{parts.hostname or 'localhost'}{f':{parts.port}' if parts.port else ''}{parts.path}"
        return f"postgresql://{where}" + (f"#{self.collection}" if self.collection else "")

    @contextmanager
    def _conn(self) -> Iterator[psycopg.Connection]:
        try:
            if not self._migrated:
                self.migrate()
            with self.pool.connection() as conn:
                yield conn
        except psycopg.OperationalError as e:
            self.pool.close()  # the server went away: its other connections are dead too
            self._published = (0.0, None)  # and what it said is not known to hold any more
            raise _unavailable(e) from e
        except psycopg.Error as e:
            raise _unavailable(e) from e

    def migrate(self) -> None:
        """Create or update the store's tables (under a lock: replicas may start together)."""
        with psycopg.connect(_url(self.url), autocommit=True, connect_timeout=5) as conn:
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(hashtext('alliance-index-schema'))")
                conn.execute("CREATE TABLE IF NOT EXISTS alliance_index_schema (version integer NOT NULL)")
                row = conn.execute("SELECT max(version) FROM alliance_index_schema").fetchone()
                have = row[0] or 0
                if have > SCHEMA_VERSION:
                    raise IndexUnavailable(
                        f"Base de l'index au schéma {have}, cette version connaît {SCHEMA_VERSION} : "
                        "mettez alliance-bot à jour."
                    )
                for version in range(have + 1, SCHEMA_VERSION + 1):
                    conn.execute(_MIGRATIONS[version])
                    conn.execute("INSERT INTO alliance_index_schema VALUES (%s)", (version,))
        self._migrated = True

    # ------------------------------------------------------------ publication

    @contextmanager
    def lock(self, wait: float) -> Iterator[None]:
        """A session advisory lock on its own connection: released by PostgreSQL when the
        process dies, so a killed ingest never leaves the index locked."""
        with self._conn():
            pass  # migrated, reachable
        try:
            conn = self.pool.open()
        except psycopg.Error as e:
            raise _unavailable(e) from e
        key = f"alliance-ingest:{self.collection}"
        try:
            deadline = time.monotonic() + wait
            while not conn.execute("SELECT pg_try_advisory_lock(hashtext(%s))", (key,)).fetchone()[0]:
                if time.monotonic() >= deadline:
                    raise IngestBusy(
                        f"Un autre ingest est en cours sur cet index (attendu {wait:.0f} s) : "
                        "réessayez quand il sera terminé."
                    )
                time.sleep(0.1)
            yield
        finally:
            conn.close()  # drops the lock with the session

    def current(self) -> str | None:
        with self._conn() as conn:
            row = conn.execute(
                "SELECT name FROM alliance_published WHERE collection = %s", (self.collection,)
            ).fetchone()
        name = row[0] if row else None
        self._published = (time.monotonic(), name)
        return name

    def published(self) -> str | None:
        """The published generation as known at most POLL_SECONDS ago: a replica checks it on
        each request and sees an ingest within a second without a query each time."""
        seen, name = self._published
        if time.monotonic() - seen < POLL_SECONDS:
            return name
        return self.current()

    def _manifest(self, conn: psycopg.Connection, name: str) -> tuple[Manifest, dict, float]:
        row = conn.execute(
            "SELECT manifest, stats, extract(epoch FROM created_at) FROM alliance_generations "
            "WHERE name = %s AND collection = %s",
            (name, self.collection),
        ).fetchone()
        if row is None:
            raise IndexUnavailable(f"Génération {name} absente de la base : lancez `alliance-bot ingest`.")
        values, stats, created = row
        if values.get("format") != INDEX_FORMAT:
            raise IndexUnavailable(
                f"Index au format {values.get('format')}, cette version attend {INDEX_FORMAT} : "
                "lancez `alliance-bot ingest --rebuild`."
            )
        values["roots"] = tuple(values.get("roots", ()))
        known = Manifest.__dataclass_fields__
        return Manifest(**{k: v for k, v in values.items() if k in known}), stats, float(created)

    def read_manifest(self, name: str) -> Manifest:
        with self._conn() as conn:
            return self._manifest(conn, name)[0]

    def read_contents(self, name: str) -> tuple[Manifest, dict[str, str]]:
        with self._conn() as conn:
            manifest = self._manifest(conn, name)[0]
            rows = conn.execute(
                sql.SQL("SELECT source, content_hash FROM {}.documents").format(sql.Identifier(name))
            ).fetchall()
        return manifest, dict(rows)

    def read_generation(self, name: str) -> tuple[Manifest, dict[str, IndexedDocument]]:
        s = sql.Identifier(name)
        with self._conn() as conn:
            manifest = self._manifest(conn, name)[0]
            docs = {
                row[0]: IndexedDocument(_document(row), [], [])
                for row in conn.execute(
                    sql.SQL(
                        "SELECT source, title, url, date, text, sections, ingested_at FROM {}.documents "
                        "ORDER BY source"
                    ).format(s)
                )
            }
            for source, start, end, headings, page, vector in conn.cursor(binary=True).execute(
                sql.SQL(
                    "SELECT source, char_start, char_end, headings, page, embedding FROM {}.chunks "
                    "ORDER BY row"
                ).format(s)
            ):
                doc = docs[source]
                doc.chunks.append(Chunk(source, start, end, tuple(json.loads(headings)), page))
                doc.chunk_vectors.append(_array(vector).tobytes())
            for source, a, b, *blobs in conn.execute(
                sql.SQL(
                    "SELECT source, char_start, char_end, vector, tokens, token_offsets FROM {}.sentences "
                    "ORDER BY row"
                ).format(s)
            ):
                docs[source].sentences.append((a, b, *(bytes(x) if x is not None else None for x in blobs)))
        return manifest, docs

    def write_generation(
        self,
        manifest: Manifest,
        docs: list[IndexedDocument],
        bm25_terms: Callable[[Document, Chunk], list[str]],
        dense_exact_max: int = dense.DEFAULT_EXACT_MAX,
    ) -> str:
        """Write and publish a generation in one transaction. Call it holding `lock`."""
        n = sum(len(d.chunks) for d in docs)
        manifest = replace(manifest, dense=dense.plan(n, dense_exact_max))
        try:
            conn = self.pool.open(autocommit=False)
        except psycopg.Error as e:
            raise _unavailable(e) from e
        try:
            with conn.transaction():
                stats = _write_tables(conn, manifest, docs, bm25_terms)
                conn.execute(
                    "INSERT INTO alliance_generations (name, collection, manifest, stats) "
                    "VALUES (%s, %s, %s, %s)",
                    (manifest.version, self.collection, json.dumps(asdict(manifest)), json.dumps(stats)),
                )
                conn.execute(
                    "UPDATE alliance_generations SET superseded_at = now() WHERE name = "
                    "(SELECT name FROM alliance_published WHERE collection = %s)",
                    (self.collection,),
                )
                conn.execute(
                    "INSERT INTO alliance_published AS p (collection, name) VALUES (%s, %s) "
                    "ON CONFLICT (collection) DO UPDATE SET name = excluded.name, previous = p.name, "
                    "published_at = now()",
                    (self.collection, manifest.version),
                )
                conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, f"{self.collection}:{manifest.version}"))
        except psycopg.Error as e:
            raise _unavailable(e) from e
        finally:
            conn.close()
        self._published = (0.0, None)
        return manifest.version

    def collect_garbage(self, keep: str) -> None:
        """Drop the generations replaced more than GRACE_SECONDS ago (a replica may still be
        answering a question from a younger one); never the published one nor `keep`."""
        with self._conn() as conn:
            old = [
                name
                for (name,) in conn.execute(
                    "SELECT name FROM alliance_generations WHERE collection = %s AND name <> %s "
                    "AND name NOT IN (SELECT name FROM alliance_published WHERE collection = %s) "
                    "AND superseded_at < now() - make_interval(secs => %s)",
                    (self.collection, keep, self.collection, GRACE_SECONDS),
                )
            ]
            for name in old:
                with conn.transaction():
                    conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))
                    conn.execute("DELETE FROM alliance_generations WHERE name = %s", (name,))

    def drop(self) -> None:
        """Remove this collection's generations and its publication (a throwaway evaluation's)."""
        with self._conn() as conn, conn.transaction():
            names = [
                n
                for (n,) in conn.execute(
                    "SELECT name FROM alliance_generations WHERE collection = %s", (self.collection,)
                )
            ]
            conn.execute("DELETE FROM alliance_published WHERE collection = %s", (self.collection,))
            for name in names:
                conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))
            conn.execute("DELETE FROM alliance_generations WHERE collection = %s", (self.collection,))

    def load(self) -> PgIndex:
        from bot.index.pg_index import PgIndex

        name = self.current()
        if name is None:
            raise IndexUnavailable(
                f"Aucun index dans {self.describe()} : lancez `alliance-bot ingest` (ou `index copy`)."
            )
        return PgIndex(self, name)


def _write_tables(
    conn: psycopg.Connection,
    manifest: Manifest,
    docs: list[IndexedDocument],
    bm25_terms: Callable[[Document, Chunk], list[str]],
) -> dict:
    s = sql.Identifier(manifest.version)
    conn.execute(sql.SQL("CREATE SCHEMA {}").format(s))
    conn.execute(sql.SQL(_TABLES.replace("{d}", str(max(manifest.dimension, 1)))).format(s=s))
    bm25 = BM25Builder()
    row = sentence_row = 0
    with_vectors = with_tokens = True
    with conn.cursor().copy(sql.SQL("COPY {}.documents FROM STDIN").format(s)) as copy:
        for doc in docs:
            d = doc.document
            copy.write_row(
                (d.source, d.title, d.url, d.date, d.text, _sections_json(d), d.content_hash, d.ingested_at)
            )
    chunk_copy = sql.SQL("COPY {}.chunks FROM STDIN (FORMAT BINARY)").format(s)
    with conn.cursor().copy(chunk_copy) as copy:
        copy.set_types(
            ["integer", "text", "integer", "integer", "text", "integer", "integer", "integer", "vector"]
        )
        for doc in docs:
            d = doc.document
            starts = np.array(sorted(a for a, *_ in doc.sentences), dtype=np.int64)
            for chunk, vector in zip(doc.chunks, doc.chunk_vectors, strict=True):
                first = sentence_row + int(np.searchsorted(starts, chunk.char_start, "left"))
                last = sentence_row + int(np.searchsorted(starts, chunk.char_end, "left"))
                copy.write_row(
                    (
                        row,
                        d.source,
                        chunk.char_start,
                        chunk.char_end,
                        json.dumps(list(chunk.headings), ensure_ascii=False),
                        chunk.page,
                        first,
                        last,
                        np.frombuffer(vector, np.float32),
                    )
                )
                bm25.add(bm25_terms(d, chunk))
                row += 1
            sentence_row += len(doc.sentences)
    sentence_row = 0
    with conn.cursor().copy(sql.SQL("COPY {}.sentences FROM STDIN").format(s)) as copy:
        for doc in docs:
            for a, b, vector, tokens, offsets in sorted(doc.sentences, key=lambda x: x[0]):
                with_vectors &= vector is not None
                with_tokens &= tokens is not None and offsets is not None
                copy.write_row((sentence_row, doc.document.source, a, b, vector, tokens, offsets))
                sentence_row += 1
    weights = bm25.build().weights
    with conn.cursor().copy(sql.SQL("COPY {}.lexicon FROM STDIN").format(s)) as copy:
        for term, j in bm25.vocabulary.items():
            lo, hi = int(weights.indptr[j]), int(weights.indptr[j + 1])
            rows = weights.indices[lo:hi].astype(np.int32).tobytes()
            copy.write_row((term, hi - lo, rows, weights.data[lo:hi].astype(np.float32).tobytes()))
    if manifest.dense.get("type") == "hnsw":
        # A graph built within memory is several times faster than one that spills (pgvector).
        conn.execute(sql.SQL("SET LOCAL maintenance_work_mem = {}").format(sql.Literal(BUILD_MEMORY)))
        conn.execute(
            sql.SQL(
                "CREATE INDEX ON {}.chunks USING hnsw (embedding vector_ip_ops) "
                "WITH (m = {}, ef_construction = {})"
            ).format(
                s, sql.Literal(int(manifest.dense["M"])), sql.Literal(int(manifest.dense["ef_construction"]))
            )
        )
    conn.execute(sql.SQL("CREATE INDEX ON {}.chunks (source)").format(s))
    conn.execute(sql.SQL("ANALYZE {}.chunks").format(s))
    return {
        "sentences": sentence_row,
        "sentence_vectors": bool(sentence_row) and with_vectors,
        "sentence_tokens": bool(sentence_row) and with_tokens,
    }
