"""A vector cache for fitting: the same texts are embedded once, whatever the index
they go into. Kept in a local file (not in git) so that refitting is quick; a cold
cache only makes the fit slower, never different."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from collections.abc import Callable
from pathlib import Path

import numpy as np

from bot.documents import Chunk, Document
from bot.index.store import SQLITE, current_generation
from bot.ingest.chunking import embedding_text


def _key(kind: str, model: str, text: str) -> str:
    return hashlib.sha1(f"{kind}\0{model}\0{text}".encode()).hexdigest()


class CachedEmbedder:
    """Looks like bot.embedding.Embedder; the real model is loaded only on a cache miss."""

    def __init__(self, model_name: str, factory: Callable[[], object], path: Path | None = None):
        self.name = model_name
        self._factory = factory
        self._model = None
        self.path = path
        self.vectors: dict[str, np.ndarray] = {}
        self.embedded = 0  # texts that were not in the cache
        if path is not None and path.is_file():
            with np.load(path) as data:
                self.vectors = dict(zip(data["keys"].tolist(), data["vectors"], strict=True))

    @property
    def model(self):
        if self._model is None:
            self._model = self._factory()
        return self._model

    @property
    def dimension(self) -> int:
        if self.vectors:
            return len(next(iter(self.vectors.values())))
        return self.model.dimension

    def _encode(self, kind: str, texts: list[str]) -> np.ndarray:
        keys = [_key(kind, self.name, t) for t in texts]
        missing = sorted({k: t for k, t in zip(keys, texts, strict=True) if k not in self.vectors}.items())
        for at in range(0, len(missing), 64):
            batch = missing[at : at + 64]
            encode = self.model.encode_queries if kind == "query" else self.model.encode_passages
            for (k, _), v in zip(batch, encode([t for _, t in batch]), strict=True):
                self.vectors[k] = np.asarray(v, dtype=np.float32)
            self.embedded += len(batch)
            if self.embedded % 640 == 0:
                self.save()
        if not keys:
            return np.zeros((0, self.dimension), np.float32)
        return np.vstack([self.vectors[k] for k in keys]).astype(np.float32)

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        return self._encode("query", list(texts))

    def encode_passages(
        self, texts: list[str], batch_size: int = 32, show_progress: bool = False
    ) -> np.ndarray:
        return self._encode("passage", list(texts))

    def save(self) -> None:
        if self.path is None or not self.vectors:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        keys = sorted(self.vectors)
        tmp = self.path.with_name(self.path.name + ".tmp.npz")
        np.savez(tmp, keys=np.array(keys), vectors=np.vstack([self.vectors[k] for k in keys]))
        os.replace(tmp, self.path)

    def add_from_index(self, index_dir: Path) -> int:
        """Take the passage vectors an index already holds (same model, same texts give
        the same vectors): a benchmark index of PIAF then spares the fit most encoding."""
        from bot.ingest.pipeline import sentence_contexts

        generation = current_generation(index_dir)
        if generation is None:
            return 0
        db = sqlite3.connect(f"file:{generation / SQLITE}?mode=ro", uri=True)
        try:
            manifest = {k: json.loads(v) for k, v in db.execute("SELECT key, value FROM manifest")}
            if f"{manifest.get('model')}|{manifest.get('backend', 'torch')}" != self.name:
                return 0
            added = 0
            docs = db.execute("SELECT source, title, text FROM documents ORDER BY source").fetchall()
            for source, title, text in docs:
                rows = db.execute(
                    "SELECT char_start, char_end, headings, vector FROM chunks WHERE source = ? ORDER BY id",
                    (source,),
                ).fetchall()
                for start, end, headings, vector in rows:
                    chunk = Chunk(source, start, end, tuple(json.loads(headings)))
                    self.vectors[_key("passage", self.name, embedding_text(title, chunk, text))] = (
                        np.frombuffer(vector, np.float32)
                    )
                    added += 1
                sentences = db.execute(
                    "SELECT char_start, char_end, vector FROM sentences WHERE source = ? ORDER BY char_start",
                    (source,),
                ).fetchall()
                if sentences and sentences[0][2] is not None:
                    doc = Document(source=source, title=title, text=text)
                    contexts = sentence_contexts(doc, [(a, b) for a, b, _ in sentences])
                    for context, (_, _, vector) in zip(contexts, sentences, strict=True):
                        self.vectors[_key("passage", self.name, context)] = np.frombuffer(vector, np.float32)
                        added += 1
        finally:
            db.close()
        return added
