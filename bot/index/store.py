"""The storage module: everything that reads or writes an index generation on disk.

An index directory holds generations (`gen-*`: SQLite with documents, chunks, sentences
and the manifest; FAISS; BM25) and a `CURRENT` file naming the published one.

- Writing: one ingest at a time holds `IngestLock`; it writes a complete generation into a
  `.staging-*` folder, fsyncs every file and folder, renames it into place and then
  replaces `CURRENT` atomically. A crash at any moment leaves the previous generation
  published and intact.
- Reading: `load_current` loads the published generation into memory under a *lease* (a
  shared `flock` on the generation's `.lease` file, held as long as the loaded index is
  alive); `collect_garbage` deletes only generations whose lease it can take exclusively.
- Nothing here ever rebuilds or deletes a published index to "repair" it: a missing or
  corrupt generation is an `IndexUnavailable` error that says what to run.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import shutil
import sqlite3
import uuid
import weakref
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from bot.config import IndexConfig
from bot.documents import Chunk, Document, Section
from bot.embedding import interchangeable
from bot.errors import IndexUnavailable
from bot.index import dense
from bot.index.bm25 import BM25, BM25Builder

INDEX_FORMAT = 1
CURRENT = "CURRENT"
SQLITE = "index.sqlite"
FAISS = "chunks.faiss"
BM25_FILE = "bm25"
LEASE = ".lease"
LOCK = ".ingest.lock"

_SCHEMA = """
CREATE TABLE manifest (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE documents (
    source TEXT PRIMARY KEY, title TEXT NOT NULL, url TEXT, date TEXT, text TEXT NOT NULL,
    sections TEXT NOT NULL, content_hash TEXT NOT NULL, ingested_at TEXT NOT NULL
);
CREATE TABLE chunks (
    id INTEGER PRIMARY KEY, source TEXT NOT NULL REFERENCES documents(source),
    char_start INTEGER NOT NULL, char_end INTEGER NOT NULL, headings TEXT NOT NULL,
    page INTEGER, vector BLOB NOT NULL
);
CREATE TABLE sentences (
    id INTEGER PRIMARY KEY, source TEXT NOT NULL REFERENCES documents(source),
    char_start INTEGER NOT NULL, char_end INTEGER NOT NULL, vector BLOB, tokens BLOB,
    token_offsets BLOB
);
CREATE INDEX chunks_by_source ON chunks(source);
CREATE INDEX sentences_by_source ON sentences(source, char_start);
"""

_REBUILD = "lancez `alliance-bot ingest --rebuild`"


# ------------------------------------------------------------------------ rows


@dataclass(frozen=True)
class Manifest:
    version: str  # the generation's name, changes with every ingest that changes something
    model: str
    dimension: int
    chunk_size: int
    chunk_overlap: int
    language: str
    format: int = INDEX_FORMAT
    roots: tuple[str, ...] = ()  # the paths ingested, synced again when `ask` finds them changed
    created_at: str = ""
    documents: int = 0
    chunks: int = 0
    # The dense index's type and parameters (bot/index/dense.py); {} (older generations) = flat.
    dense: dict = field(default_factory=dict)
    # How the vectors were computed (torch, onnx, onnx-int8); indexes from before this
    # field were all built with torch.
    backend: str = "torch"


@dataclass
class IndexedDocument:
    """One document as a generation stores it: its chunks and sentences, with vectors."""

    document: Document
    chunks: list[Chunk]
    chunk_vectors: list[bytes]
    # (start, end, vector, token vectors in int8, token offsets in int32 pairs), the last two
    # None where not stored
    sentences: list[tuple[int, int, bytes | None, bytes | None, bytes | None]] = field(default_factory=list)


# ---------------------------------------------------------------- the pointer


def has_index(index_dir: Path) -> bool:
    """True once an ingest has published something here (even if it is now broken)."""
    return (index_dir / CURRENT).is_file()


def current_generation(index_dir: Path) -> Path | None:
    """The published generation; None when nothing was ever published here.

    A `CURRENT` that names a missing or unreadable generation is an error, never "no
    index": treating it as empty would rebuild over, and then delete, the real one.
    """
    pointer = index_dir / CURRENT
    try:
        name = pointer.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as e:
        raise IndexUnavailable(f"{pointer} est illisible ({e.__class__.__name__}) : {_REBUILD}.") from e
    if not name.startswith("gen-") or "/" in name or not (index_dir / name / SQLITE).is_file():
        raise IndexUnavailable(
            f"{pointer} désigne « {name[:80]} », génération absente ou incomplète : restaurez-la "
            f"ou {_REBUILD} (rien n'a été supprimé)."
        )
    return index_dir / name


# ------------------------------------------------------------------- writing


class IngestBusy(IndexUnavailable):
    """Another ingest holds the index directory."""


class IngestLock:
    """One ingest at a time per index directory, across processes."""

    def __init__(self, index_dir: Path, wait: float):
        from filelock import FileLock  # here: answering never takes it, and it imports in 10 ms

        index_dir.mkdir(parents=True, exist_ok=True)
        self._lock = FileLock(str(index_dir / LOCK))
        self.wait = wait

    def __enter__(self) -> IngestLock:
        from filelock import Timeout

        try:
            self._lock.acquire(timeout=self.wait)
        except Timeout as e:
            raise IngestBusy(
                f"Un autre ingest est en cours sur cet index (attendu {self.wait:.0f} s) : "
                "réessayez quand il sera terminé."
            ) from e
        return self

    def __exit__(self, *exc) -> None:
        self._lock.release()


def new_generation_name() -> str:
    return f"gen-{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"


def write_generation(
    index_dir: Path,
    manifest: Manifest,
    docs: list[IndexedDocument],
    bm25_terms: Callable[[Document, Chunk], list[str]],
    dense_exact_max: int = dense.DEFAULT_EXACT_MAX,
) -> Path:
    """Write and publish a complete generation; on any failure nothing is published and
    the staging folder is removed. Call it while holding `IngestLock`. `bm25_terms(document,
    chunk)` is the text analysis, owned by ingest; it is called one chunk at a time so that
    no list of every chunk's terms is held at scale. Past `dense_exact_max` chunks the dense
    index is approximate (bot/index/dense.py)."""
    n = sum(len(d.chunks) for d in docs)
    manifest = replace(manifest, dense=dense.plan(n, dense_exact_max))
    staging = index_dir / f".staging-{manifest.version}"
    staging.mkdir()
    try:
        _write_files(staging, manifest, docs, bm25_terms)
        for path in staging.iterdir():
            _fsync_file(path)
        fsync_dir(staging)
        generation = index_dir / manifest.version
        os.replace(staging, generation)
        fsync_dir(index_dir)
        _point_current(index_dir, manifest.version)
    except BaseException as e:
        shutil.rmtree(staging, ignore_errors=True)
        if isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT):
            raise IndexUnavailable(
                f"Espace disque insuffisant pour écrire l'index dans {index_dir} ({e.strerror}) : "
                "libérez de la place et relancez l'ingest ; l'index précédent reste en service."
            ) from e
        raise
    return generation


def _write_files(
    staging: Path,
    manifest: Manifest,
    docs: list[IndexedDocument],
    bm25_terms: Callable[[Document, Chunk], list[str]],
) -> None:
    (staging / LEASE).touch()
    db = sqlite3.connect(staging / SQLITE)
    try:
        db.executescript(_SCHEMA)
        vectors: list[bytes] = []
        bm25 = BM25Builder()  # term ids as they come: no list of term lists at scale
        for doc in docs:
            d = doc.document
            db.execute(
                "INSERT INTO documents VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (d.source, d.title, d.url, d.date, d.text, _sections_json(d), d.content_hash, d.ingested_at),
            )
            for chunk, vector in zip(doc.chunks, doc.chunk_vectors, strict=True):
                db.execute(
                    "INSERT INTO chunks VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (
                        len(vectors),
                        d.source,
                        chunk.char_start,
                        chunk.char_end,
                        json.dumps(list(chunk.headings), ensure_ascii=False),
                        chunk.page,
                        vector,
                    ),
                )
                vectors.append(vector)
                bm25.add(bm25_terms(d, chunk))
            db.executemany(
                "INSERT INTO sentences (source, char_start, char_end, vector, tokens, token_offsets) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                [(d.source, *s) for s in doc.sentences],
            )
        db.executemany(
            "INSERT INTO manifest VALUES (?, ?)", [(k, json.dumps(v)) for k, v in asdict(manifest).items()]
        )
        db.commit()
    finally:
        db.close()
    # The width from the manifest: with no document left there are no vectors to infer it from.
    matrix = np.frombuffer(b"".join(vectors), np.float32).reshape(len(vectors), manifest.dimension)
    del vectors
    dense.write(dense.build(matrix, manifest.dense, manifest.dimension), staging / FAISS)
    del matrix
    bm25.build().save(staging / BM25_FILE)


def _point_current(index_dir: Path, name: str) -> None:
    pointer_tmp = index_dir / f".{CURRENT}.{uuid.uuid4().hex[:6]}.tmp"
    with open(pointer_tmp, "w", encoding="utf-8") as f:
        f.write(name)
        f.flush()
        os.fsync(f.fileno())
    os.replace(pointer_tmp, index_dir / CURRENT)
    fsync_dir(index_dir)


def collect_garbage(index_dir: Path, keep: Path) -> None:
    """Delete older generations that no loaded index holds a lease on, and the staging
    folders of killed ingests. Call it while holding `IngestLock` (so no staging folder
    belongs to a live ingest)."""
    for entry in sorted(index_dir.iterdir()):
        if (
            entry.is_dir()
            and entry != keep
            and (entry.name.startswith(".staging-") or (entry.name.startswith("gen-") and _unused(entry)))
        ):
            shutil.rmtree(entry, ignore_errors=True)


def _unused(generation: Path) -> bool:
    try:
        fd = os.open(generation / LEASE, os.O_RDONLY)
    except FileNotFoundError:
        return True  # written before leases existed, or half-deleted
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False
    finally:
        os.close(fd)  # closing drops the lock we may have taken


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: Path) -> None:
    """A rename or a new file in `path` is durable once the folder is synced."""
    _fsync_file(path)  # a directory opened read-only fsyncs its entries


# ------------------------------------------------------------------- reading


def read_manifest(db: sqlite3.Connection) -> Manifest:
    values = {k: json.loads(v) for k, v in db.execute("SELECT key, value FROM manifest")}
    if values.get("format") != INDEX_FORMAT:
        raise IndexUnavailable(
            f"Index au format {values.get('format')}, cette version attend {INDEX_FORMAT} : {_REBUILD}."
        )
    known = Manifest.__dataclass_fields__
    values["roots"] = tuple(values.get("roots", ()))
    return Manifest(**{k: v for k, v in values.items() if k in known})


def _open_database(generation: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{generation / SQLITE}?mode=ro", uri=True)


def _corrupt(generation: Path, e: Exception) -> IndexUnavailable:
    return IndexUnavailable(
        f"La génération {generation.name} est illisible ou corrompue ({e.__class__.__name__}) : {_REBUILD}."
    )


def read_contents(generation: Path) -> tuple[Manifest, dict[str, str]]:
    """A generation's manifest and each document's content hash: enough to tell whether an
    ingest changes anything, without reading texts and vectors."""
    try:
        db = _open_database(generation)
        try:
            return read_manifest(db), dict(db.execute("SELECT source, content_hash FROM documents"))
        finally:
            db.close()
    except sqlite3.Error as e:
        raise _corrupt(generation, e) from e


def read_stored_manifest(generation: Path) -> Manifest:
    try:
        db = _open_database(generation)
        try:
            return read_manifest(db)
        finally:
            db.close()
    except sqlite3.Error as e:
        raise _corrupt(generation, e) from e


_DOCUMENTS = "SELECT source, title, url, date, text, sections, ingested_at FROM documents ORDER BY source"


def _sections_json(doc: Document) -> str:
    return json.dumps([(s.start, list(s.headings), s.page) for s in doc.sections])


def _document(row: tuple) -> Document:
    source, title, url, date, text, sections, ingested_at = row
    parsed = [Section(start, tuple(headings), page) for start, headings, page in json.loads(sections)]
    return Document(source, title, text, parsed, url, date, ingested_at)


def _sentences(db: sqlite3.Connection) -> sqlite3.Cursor:
    """Sentences with their token vectors (NULL in generations from before they were stored)."""
    columns = {row[1] for row in db.execute("PRAGMA table_info(sentences)")}
    tokens = "tokens, token_offsets" if {"tokens", "token_offsets"} <= columns else "NULL, NULL"
    return db.execute(
        f"SELECT source, char_start, char_end, vector, {tokens} FROM sentences ORDER BY source, char_start"
    )


def read_generation(generation: Path) -> tuple[Manifest, dict[str, IndexedDocument]]:
    """A generation's manifest and documents with their vectors, to build the next one."""
    try:
        db = _open_database(generation)
        try:
            manifest = read_manifest(db)
            docs = {row[0]: IndexedDocument(_document(row), [], []) for row in db.execute(_DOCUMENTS)}
            for source, start, end, headings, page, vector in db.execute(
                "SELECT source, char_start, char_end, headings, page, vector FROM chunks ORDER BY id"
            ):
                doc = docs[source]
                doc.chunks.append(Chunk(source, start, end, tuple(json.loads(headings)), page))
                doc.chunk_vectors.append(vector)
            for source, *sentence in _sentences(db):
                docs[source].sentences.append(tuple(sentence))
        finally:
            db.close()
    except sqlite3.Error as e:
        raise _corrupt(generation, e) from e
    return manifest, docs


class _Lease:
    """A shared lock on a generation's `.lease` file: while it is held, garbage collection
    leaves the generation alone."""

    def __init__(self, generation: Path):
        self.fd = os.open(generation / LEASE, os.O_RDONLY)
        fcntl.flock(self.fd, fcntl.LOCK_SH)

    def release(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


class SentenceTokens:
    """Every sentence's token vectors, int8 in one array, with their character offsets in the
    text the sentence is aligned on; a sentence's rows read as float32."""

    def __init__(self, blobs: list[bytes], offsets: list[bytes], dimension: int):
        sizes = np.array([len(b) // dimension for b in blobs], dtype=np.int64)
        self.starts = np.concatenate([[0], np.cumsum(sizes)])
        self.matrix = np.frombuffer(b"".join(blobs), dtype=np.int8).reshape(-1, dimension)
        self.offsets = np.frombuffer(b"".join(offsets), dtype=np.int32).reshape(-1, 2)
        if len(self.offsets) != len(self.matrix):
            raise ValueError("token vectors and offsets differ in number")

    def vectors(self, row: int) -> np.ndarray:
        return self.matrix[self.starts[row] : self.starts[row + 1]].astype(np.float32) / 127.0

    def spans(self, row: int) -> np.ndarray:
        return self.offsets[self.starts[row] : self.starts[row + 1]]

    @property
    def nbytes(self) -> int:
        return self.matrix.nbytes


class LoadedIndex:
    """A generation loaded in memory for searching: read-only, safe to share between
    threads. It holds the generation's lease for as long as it lives."""

    def __init__(self, generation: Path):
        self.generation = generation
        try:
            lease = _Lease(generation)
        except FileNotFoundError:
            lease = None  # a generation from before leases: nothing to hold
        if lease is not None:
            weakref.finalize(self, lease.release)
        try:
            db = _open_database(generation)
            try:
                self._load_rows(db)
            finally:
                db.close()
            self.dense = dense.load(generation / FAISS, self.manifest.dense)
            self.faiss = self.dense.index  # the raw FAISS index, for callers that want it
            self.bm25 = BM25.load(generation / BM25_FILE)
        except (sqlite3.Error, RuntimeError, OSError, ValueError, KeyError) as e:
            raise _corrupt(generation, e) from e
        n = len(self.chunks)
        if (
            self.dense.ntotal != n
            or self.bm25.weights.shape[0] != n
            or (n and self.dense.d != self.manifest.dimension)
        ):
            raise _corrupt(generation, ValueError("sizes differ"))
        self.vectors = self.dense.vectors  # stored vectors, to re-score candidates exactly

    @property
    def name(self) -> str:
        return self.generation.name

    def chunks_of(self, source: str) -> list[Chunk]:
        return [c for c in self.chunks if c.source == source]

    @property
    def created(self) -> float:
        """When the generation was written (seconds since the epoch)."""
        return self.generation.stat().st_mtime

    def _load_rows(self, db: sqlite3.Connection) -> None:
        self.manifest = read_manifest(db)
        self.documents = {row[0]: _document(row) for row in db.execute(_DOCUMENTS)}
        self.chunks = [
            Chunk(source, start, end, tuple(json.loads(headings)), page)
            for source, start, end, headings, page in (
                db.execute("SELECT source, char_start, char_end, headings, page FROM chunks ORDER BY id")
            )
        ]
        rows = _sentences(db).fetchall()
        self.sentence_source = [r[0] for r in rows]
        self.sentence_spans = np.array([(r[1], r[2]) for r in rows], dtype=np.int64).reshape(-1, 2)
        has_vectors = bool(rows) and rows[0][3] is not None
        self.sentence_vectors = (
            np.frombuffer(b"".join(r[3] for r in rows), dtype=np.float32).reshape(len(rows), -1)
            if has_vectors
            else None
        )
        stored = bool(rows) and all(r[4] is not None and r[5] is not None for r in rows)
        self.sentence_tokens = (
            SentenceTokens([r[4] for r in rows], [r[5] for r in rows], self.manifest.dimension)
            if stored
            else None
        )
        # The sentences of each chunk, as a range of the rows (sorted by source, start).
        bounds: dict[str, list[int]] = {}
        for i, source in enumerate(self.sentence_source):
            bounds.setdefault(source, [i, i])[1] = i + 1
        starts = self.sentence_spans[:, 0]
        self.chunk_sentences: list[range] = []
        for chunk in self.chunks:
            lo, hi = bounds.get(chunk.source, (0, 0))
            first = lo + int(np.searchsorted(starts[lo:hi], chunk.char_start, "left"))
            last = lo + int(np.searchsorted(starts[lo:hi], chunk.char_end, "left"))
            self.chunk_sentences.append(range(first, last))


def load_current(index_dir: Path, attempts: int = 3) -> LoadedIndex:
    """Load the published generation. If an ingest replaces it and collects it between our
    reading `CURRENT` and taking its lease, read `CURRENT` again."""
    for attempt in range(attempts):
        generation = current_generation(index_dir)
        if generation is None:
            raise IndexUnavailable(f"Aucun index dans {index_dir} : lancez `alliance-bot ingest`.")
        try:
            return LoadedIndex(generation)
        except IndexUnavailable:
            if attempt + 1 == attempts or current_generation(index_dir) == generation:
                raise
    raise AssertionError("unreachable")


def check_compatible(manifest: Manifest, config: IndexConfig) -> None:
    """Refuse an index built with other settings than the configured ones."""
    if manifest.model != config.embedding.model:
        raise IndexUnavailable(
            f"Index construit avec le modèle {manifest.model!r}, la configuration demande "
            f"{config.embedding.model!r} : lancez `alliance-bot ingest --rebuild`."
        )
    if not interchangeable(manifest.model, manifest.backend, config.embedding.backend):
        raise IndexUnavailable(
            f"Index construit avec le backend {manifest.backend!r}, dont les vecteurs ne se "
            f"mélangent pas avec ceux de {config.embedding.backend!r} (ALLIANCE_EMBEDDING_BACKEND) : "
            "lancez `alliance-bot ingest --rebuild`."
        )
    if (manifest.chunk_size, manifest.chunk_overlap) != (config.chunk_size, config.chunk_overlap):
        raise IndexUnavailable(
            f"Index découpé avec chunk_size={manifest.chunk_size}, chunk_overlap="
            f"{manifest.chunk_overlap} ; la configuration demande {config.chunk_size}, "
            f"{config.chunk_overlap} : lancez `alliance-bot ingest --rebuild`."
        )
