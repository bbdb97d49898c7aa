"""The on-disk index: SQLite (documents, chunks, sentences, manifest) + FAISS + BM25.

Each ingest writes a complete new *generation* directory next to the current one and
then switches the `CURRENT` pointer with an atomic rename, so a crash at any moment
leaves the previous generation intact and serving.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
from dataclasses import asdict, dataclass
from pathlib import Path

import faiss
import numpy as np

from bot.bm25 import BM25
from bot.errors import IndexUnavailable

INDEX_FORMAT = 1
CURRENT = "CURRENT"
SQLITE = "index.sqlite"
FAISS = "chunks.faiss"
BM25_FILE = "bm25"

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
    char_start INTEGER NOT NULL, char_end INTEGER NOT NULL, vector BLOB
);
CREATE INDEX chunks_by_source ON chunks(source);
CREATE INDEX sentences_by_source ON sentences(source, char_start);
"""


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
    # How the vectors were computed (torch, onnx, onnx-int8); indexes from before this
    # field were all built with torch.
    backend: str = "torch"


@dataclass(frozen=True)
class StoredDocument:
    source: str
    title: str
    url: str | None
    date: str | None
    text: str
    content_hash: str
    ingested_at: str


@dataclass(frozen=True)
class StoredChunk:
    row: int  # row in the FAISS and BM25 matrices
    source: str
    char_start: int
    char_end: int
    headings: tuple[str, ...]
    page: int | None

    @property
    def chunk_id(self) -> str:
        return f"{self.source}#{self.char_start}-{self.char_end}"


def current_generation(index_dir: Path) -> Path | None:
    pointer = index_dir / CURRENT
    if not pointer.is_file():
        return None
    generation = index_dir / pointer.read_text(encoding="utf-8").strip()
    return generation if (generation / SQLITE).is_file() else None


def create_database(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path)
    db.executescript(_SCHEMA)
    return db


def write_manifest(db: sqlite3.Connection, manifest: Manifest) -> None:
    db.executemany(
        "INSERT INTO manifest VALUES (?, ?)",
        [(k, json.dumps(v)) for k, v in asdict(manifest).items()],
    )


def read_manifest(db: sqlite3.Connection) -> Manifest:
    values = {k: json.loads(v) for k, v in db.execute("SELECT key, value FROM manifest")}
    if values.get("format") != INDEX_FORMAT:
        raise IndexUnavailable(
            f"Index au format {values.get('format')}, cette version attend {INDEX_FORMAT} : "
            "lancez `alliance-bot ingest --rebuild`."
        )
    known = Manifest.__dataclass_fields__
    values["roots"] = tuple(values.get("roots", ()))
    return Manifest(**{k: v for k, v in values.items() if k in known})


def open_database(generation: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{generation / SQLITE}?mode=ro", uri=True, check_same_thread=False)


def publish(index_dir: Path, staging: Path, name: str) -> Path:
    """Move a finished staging directory into place and point CURRENT at it, atomically."""
    generation = index_dir / name
    os.replace(staging, generation)
    pointer_tmp = index_dir / f".{CURRENT}.tmp"
    with open(pointer_tmp, "w", encoding="utf-8") as f:
        f.write(name)
        f.flush()
        os.fsync(f.fileno())
    os.replace(pointer_tmp, index_dir / CURRENT)
    _fsync_dir(index_dir)
    return generation


def remove_stale(index_dir: Path, keep: Path) -> None:
    """Delete older generations and staging leftovers of killed ingests."""
    for entry in index_dir.iterdir():
        if entry.is_dir() and entry != keep and entry.name.startswith(("gen-", ".staging-")):
            shutil.rmtree(entry, ignore_errors=True)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class LoadedIndex:
    """A generation loaded in memory for searching: read-only, safe to share."""

    def __init__(self, generation: Path):
        self.generation = generation
        db = open_database(generation)
        try:
            self._load(db)
        finally:
            db.close()
        self.faiss = faiss.read_index(str(generation / FAISS))
        vectors = faiss.rev_swig_ptr(self.faiss.get_xb(), self.faiss.ntotal * self.faiss.d)
        self.vectors = np.asarray(vectors).reshape(self.faiss.ntotal, self.faiss.d)
        self.bm25 = BM25.load(generation / BM25_FILE)

    def _load(self, db: sqlite3.Connection) -> None:
        self.manifest = read_manifest(db)
        self.documents = {
            row[0]: StoredDocument(
                source=row[0], title=row[1], url=row[2], date=row[3], text=row[4],
                content_hash=row[5], ingested_at=row[6],
            )
            for row in db.execute(
                "SELECT source, title, url, date, text, content_hash, ingested_at"
                " FROM documents ORDER BY source"
            )
        }
        self.chunks = [
            StoredChunk(row, source, start, end, tuple(json.loads(headings)), page)
            for row, (source, start, end, headings, page) in enumerate(
                db.execute(
                    "SELECT source, char_start, char_end, headings, page FROM chunks ORDER BY id"
                )
            )
        ]
        rows = db.execute(
            "SELECT source, char_start, char_end, vector FROM sentences ORDER BY source, char_start"
        ).fetchall()
        self.sentence_source = [r[0] for r in rows]
        self.sentence_spans = np.array([(r[1], r[2]) for r in rows], dtype=np.int64).reshape(-1, 2)
        has_vectors = bool(rows) and rows[0][3] is not None
        self.sentence_vectors = (
            np.frombuffer(b"".join(r[3] for r in rows), dtype=np.float32).reshape(len(rows), -1)
            if has_vectors
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
