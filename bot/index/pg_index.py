"""Reading a PostgreSQL generation (bot/index/pg.py) without holding it: `PgIndex` has the
attributes of `store.LoadedIndex` that retrieval, the reader and the routes use, each read
from the database when asked and kept in bounded caches (ALLIANCE_STORE_CACHE_ROWS), so a
replica's memory does not grow with the corpus."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING

import numpy as np
from psycopg import sql

from bot.documents import Chunk, Document
from bot.index import dense
from bot.index.bm25 import Lexical, _idf
from bot.index.pg import _array, _Lru
from bot.index.store import Manifest, _document

if TYPE_CHECKING:
    from bot.index.pg import PgStore


class PgIndex:
    """One published generation read from the database: the attributes of
    `store.LoadedIndex` that retrieval, the reader and the routes use, over bounded caches."""

    def __init__(self, store: PgStore, name: str):
        self.store, self.name = store, name
        self.generation = name
        self.schema = sql.Identifier(name)
        with store._conn() as conn:
            self.manifest, stats, self.created = self._checked(conn)
        cache = store.cache_rows
        self._chunks = _Lru(cache)
        self._blocks = _Lru(max(1, cache // _Sentences.BLOCK))
        self.documents = _Documents(self, max(16, cache // 100))
        self.chunks = _Chunks(self)
        self.chunk_sentences = _ChunkSentences(self)
        sentences = _Sentences(self, int(stats.get("sentences", 0)))
        self.sentence_source = _SentenceSources(sentences)
        self.sentence_spans = _SentenceSpans(sentences)
        self.sentence_vectors = _SentenceVectors(sentences) if stats.get("sentence_vectors") else None
        self.sentence_tokens = _SentenceTokens(sentences) if stats.get("sentence_tokens") else None
        self.dense = _Dense(self)
        self.vectors = _ChunkVectors(self)
        self.bm25 = _Lexicon(self)

    def _checked(self, conn) -> tuple[Manifest, dict, float]:
        manifest, stats, created = self.store._manifest(conn, self.name)
        return manifest, stats, created

    def chunks_of(self, source: str) -> list[Chunk]:
        """A document's chunks, in order (one query on an index, not a scan of every chunk)."""
        return [
            Chunk(source, a, b, tuple(json.loads(headings)), page)
            for a, b, headings, page in self.query(
                "SELECT char_start, char_end, headings, page FROM {s}.chunks WHERE source = %s ORDER BY row",
                (source,),
            )
        ]

    def query(self, statement: str, params: tuple = (), binary: bool = False) -> list[tuple]:
        """`statement` with `{s}` for the generation's schema (`binary`: vectors come as
        bytes to numpy, not as text to parse)."""
        with self.store._conn() as conn:
            cursor = conn.cursor(binary=binary)
            return cursor.execute(sql.SQL(statement).format(s=self.schema), params).fetchall()

    def chunk_rows(self, rows: list[int], with_vectors: bool = False) -> dict[int, tuple]:
        """(Chunk, sentence range[, vector]) of each row, caching the first two."""
        found = {r: self._chunks.get(r) for r in rows}
        missing = [r for r, v in found.items() if v is None]
        if missing or with_vectors:
            columns = "row, source, char_start, char_end, headings, page, first_sentence, last_sentence"
            columns += ", embedding" if with_vectors else ""
            wanted = rows if with_vectors else missing
            for row, source, a, b, headings, page, first, last, *vector in self.query(
                f"SELECT {columns} FROM {{s}}.chunks WHERE row = ANY(%s)",
                (wanted,),
                binary=with_vectors,
            ):
                value = (Chunk(source, a, b, tuple(json.loads(headings)), page), range(first, last))
                self._chunks.put(row, value)
                found[row] = (*value, *vector)
        return found


class _Chunks:
    def __init__(self, index: PgIndex):
        self.index = index

    def __len__(self) -> int:
        return self.index.manifest.chunks

    def __getitem__(self, row: int) -> Chunk:
        found = self.index.chunk_rows([int(row)])[int(row)]
        if found is None:
            raise IndexError(row)
        return found[0]

    def __iter__(self) -> Iterator[Chunk]:
        for source, a, b, headings, page in self.index.query(
            "SELECT source, char_start, char_end, headings, page FROM {s}.chunks ORDER BY row"
        ):
            yield Chunk(source, a, b, tuple(json.loads(headings)), page)


class _ChunkSentences:
    def __init__(self, index: PgIndex):
        self.index = index

    def __getitem__(self, row: int) -> range:
        return self.index.chunk_rows([int(row)])[int(row)][1]


class _ChunkVectors:
    def __init__(self, index: PgIndex):
        self.index = index

    def __getitem__(self, rows) -> np.ndarray:
        wanted = [int(r) for r in np.atleast_1d(rows)]
        found = self.index.chunk_rows(wanted, with_vectors=True)
        d = self.index.manifest.dimension
        return np.array([_array(found[r][2]) for r in wanted], dtype=np.float32).reshape(len(wanted), d)


class _Dense:
    """pgvector's search: exact below `dense_exact_max` chunks, the HNSW graph past it."""

    def __init__(self, index: PgIndex):
        self.index = index
        self.spec = dict(index.manifest.dense) or {"type": "flat"}

    @property
    def kind(self) -> str:
        return self.spec.get("type", "flat")

    @property
    def ntotal(self) -> int:
        return self.index.manifest.chunks

    @property
    def d(self) -> int:
        return self.index.manifest.dimension

    def rescore(self, rows: np.ndarray, query: np.ndarray) -> np.ndarray:
        """Exact inner products of the query with these rows' vectors, computed where they are."""
        query = np.ascontiguousarray(query, dtype=np.float32).ravel()
        found = dict(
            self.index.query(
                "SELECT row, -(embedding <#> %s) FROM {s}.chunks WHERE row = ANY(%s)",
                (query, [int(r) for r in rows]),
            )
        )
        return np.array([found[int(r)] for r in rows], dtype=np.float32)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        query = np.ascontiguousarray(queries, dtype=np.float32).reshape(-1, self.d)[0]
        ef = max(int(self.spec.get("ef_search", dense.HNSW_EF_SEARCH)), k)  # the graph gives at most ef
        statement = sql.SQL(
            "SELECT row, -(embedding <#> %s) FROM {}.chunks ORDER BY embedding <#> %s LIMIT %s"
        ).format(self.index.schema)
        with self.index.store._conn() as conn:
            if ef == dense.HNSW_EF_SEARCH:  # what the connection has
                rows = conn.execute(statement, (query, query, k)).fetchall()
            else:
                with conn.transaction():
                    conn.execute(sql.SQL("SET LOCAL hnsw.ef_search = {}").format(sql.Literal(ef)))
                    rows = conn.execute(statement, (query, query, k)).fetchall()
        ids = np.full((1, k), -1, dtype=np.int64)
        scores = np.zeros((1, k), dtype=np.float32)
        for i, (row, score) in enumerate(rows):
            ids[0, i], scores[0, i] = row, score
        return scores, ids


class _Lexicon:
    """BM25 over the generation's `lexicon` table: for each term, its passages and their
    weights as bot/index/bm25.py computed them (int32 and float32 bytes). A question reads
    the postings of its own terms and sums them as `BM25.scores` does, in the same order and
    precision, so both stores score alike to the last bit. (A SQL `sum` over the unnested
    postings gave the same ranking but took 65-90 ms for one term in 40% of 100,000 chunks:
    docs/scaling-out.md.)"""

    def __init__(self, index: PgIndex):
        self.index = index
        self._df = _Lru(4096)

    @property
    def passages(self) -> int:
        return self.index.manifest.chunks

    def term_idf(self, term: str) -> float:
        df = self._df.get(term)
        if df is None:
            rows = self.index.query("SELECT df FROM {s}.lexicon WHERE term = %s", (term,))
            df = rows[0][0] if rows else 0
            self._df.put(term, df)
        if not df:
            return float(np.log1p(self.passages + 0.5))
        return float(_idf(self.passages, np.array([df], dtype=np.float32))[0])

    def search(self, query_terms: list[str]) -> Lexical:
        counts = Counter(query_terms)
        found = {
            term: (rows, weights)
            for term, rows, weights in (
                self.index.query(
                    "SELECT term, rows, weights FROM {s}.lexicon WHERE term = ANY(%s)", (list(counts),)
                )
                if counts
                else []
            )
        }
        # One float32 score a passage, for this question only: what BM25.scores computes.
        scores = np.zeros(self.passages, dtype=np.float32)
        for term, count in counts.items():
            if term in found:
                rows, weights = found[term]
                scores[np.frombuffer(rows, np.int32)] += np.frombuffer(weights, np.float32) * np.float32(
                    count
                )
        return Lexical(scores)


class _Documents(Mapping):
    def __init__(self, index: PgIndex, capacity: int):
        self.index = index
        self._cache = _Lru(capacity)

    _COLUMNS = "source, title, url, date, text, sections, ingested_at"

    def __getitem__(self, source: str) -> Document:
        found = self._cache.get(source)
        if found is None:
            rows = self.index.query(
                f"SELECT {self._COLUMNS} FROM {{s}}.documents WHERE source = %s", (source,)
            )
            if not rows:
                raise KeyError(source)
            found = _document(rows[0])
            self._cache.put(source, found)
        return found

    def __iter__(self) -> Iterator[str]:
        return iter([r[0] for r in self.index.query("SELECT source FROM {s}.documents ORDER BY source")])

    def __len__(self) -> int:
        return self.index.manifest.documents

    def values(self):  # one query, not one a document
        return [
            _document(r)
            for r in self.index.query(f"SELECT {self._COLUMNS} FROM {{s}}.documents ORDER BY source")
        ]


class _Sentences:
    """Sentence rows read by blocks of neighbours (a passage's sentences and the ones around
    them come in one query), kept in a bounded cache."""

    BLOCK = 64

    def __init__(self, index: PgIndex, count: int):
        self.index, self.count = index, count

    def block(self, row: int) -> dict:
        if not 0 <= row < self.count:
            raise IndexError(row)
        key = row // self.BLOCK
        found = self.index._blocks.get(key)
        if found is None:
            rows = self.index.query(
                "SELECT source, char_start, char_end, vector, tokens, token_offsets FROM {s}.sentences "
                "WHERE row >= %s AND row < %s ORDER BY row",
                (key * self.BLOCK, (key + 1) * self.BLOCK),
            )
            found = {
                "source": [r[0] for r in rows],
                "spans": np.array([(r[1], r[2]) for r in rows], dtype=np.int64).reshape(-1, 2),
                "rest": [r[3:] for r in rows],
            }
            self.index._blocks.put(key, found)
        return found

    def get(self, row: int, what: str):
        block = self.block(row)
        return block[what][row % self.BLOCK]


class _SentenceSources:
    def __init__(self, sentences: _Sentences):
        self.sentences = sentences

    def __len__(self) -> int:
        return self.sentences.count

    def __getitem__(self, row: int) -> str:
        return self.sentences.get(int(row), "source")


class _SentenceSpans:
    def __init__(self, sentences: _Sentences):
        self.sentences = sentences

    def __len__(self) -> int:
        return self.sentences.count

    def __getitem__(self, rows):
        if isinstance(rows, slice):
            return np.array([self[r] for r in range(*rows.indices(self.sentences.count))], dtype=np.int64)
        return self.sentences.get(int(rows), "spans")


class _SentenceVectors:
    def __init__(self, sentences: _Sentences):
        self.sentences = sentences

    def _one(self, row: int) -> np.ndarray:
        return np.frombuffer(self.sentences.get(row, "rest")[0], dtype=np.float32)

    def __getitem__(self, rows) -> np.ndarray:
        if np.ndim(rows) == 0:
            return self._one(int(rows))
        return np.array([self._one(int(r)) for r in rows], dtype=np.float32)


class _SentenceTokens:
    def __init__(self, sentences: _Sentences):
        self.sentences = sentences
        self.dimension = sentences.index.manifest.dimension

    def vectors(self, row: int) -> np.ndarray:
        blob = self.sentences.get(int(row), "rest")[1]
        return np.frombuffer(blob, dtype=np.int8).reshape(-1, self.dimension).astype(np.float32) / 127.0

    def spans(self, row: int) -> np.ndarray:
        return np.frombuffer(self.sentences.get(int(row), "rest")[2], dtype=np.int32).reshape(-1, 2)
