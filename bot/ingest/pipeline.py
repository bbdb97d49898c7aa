"""Ingest: bring the index in step with a set of documents, incrementally and atomically."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from tqdm import tqdm

from bot.config import IndexConfig
from bot.documents import Chunk, Document, sentence_reading, table_headers
from bot.errors import IndexUnavailable, UserError
from bot.index import store
from bot.index.stores import Store, open_store
from bot.ingest.chunking import Chunker, embedding_text
from bot.ingest.loaders import SkippedFile, load_documents
from bot.ingest.loaders.files import shown_path
from bot.text import detect_language, sentence_spans, terms


@dataclass
class IngestSummary:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)  # unreadable this time: previous version kept
    unchanged: list[str] = field(default_factory=list)
    skipped: list[SkippedFile] = field(default_factory=list)
    chunks: int = 0
    embedded_passages: int = 0
    seconds: float = 0.0
    version: str = ""

    @property
    def changed(self) -> bool:
        return bool(self.added or self.updated or self.removed)

    def as_dict(self) -> dict:
        return asdict(self)


log = logging.getLogger("bot.ingest.pipeline")


def ingest(
    paths: Iterable[Path],
    config: IndexConfig,
    embedder_factory: Callable[[], object],
    *,
    rebuild: bool = False,
    progress: bool | None = None,
    wait: float = 600.0,
) -> IngestSummary:
    """Index the documents under `paths`; documents indexed before and absent now are removed.

    A file that exists but cannot be read this time (being rewritten, say) keeps its
    previously indexed version: only a file that is gone is removed.
    """
    began = time.perf_counter()
    roots = [Path(p).resolve() for p in paths]
    if missing := [r for r in roots if not r.exists()]:
        # Not "every document removed": a mistyped folder must not empty the index.
        where = shown_path(missing[0])
        raise UserError(
            "path_not_found",
            f"Introuvable : {where} (l'index n'a pas changé).",
            f"Not found: {where} (the index is unchanged).",
        )
    docs, skipped = load_documents(roots)
    summary = sync_index(
        docs,
        config,
        embedder_factory,
        roots=roots,
        rebuild=rebuild,
        progress=progress,
        keep={s.source for s in skipped if s.source},
        wait=wait,
    )
    summary.skipped = skipped
    summary.seconds = time.perf_counter() - began
    return summary


def sync_index(
    docs: Sequence[Document],
    config: IndexConfig,
    embedder_factory: Callable[[], object],
    *,
    roots: Sequence[Path] | None = (),
    rebuild: bool = False,
    with_sentences: bool = True,
    progress: bool | None = None,
    keep: set[str] = frozenset(),
    wait: float = 600.0,
    drop: set[str] | None = None,
) -> IngestSummary:
    """Publish a new index generation holding exactly `docs` (plus the already indexed
    documents named in `keep`), reusing the vectors of the unchanged ones.
    Web pages (sources that are http(s) URLs) are kept too: only a crawl rules over them.
    With `drop` (a crawl), the update is partial: `docs` are added or updated, the sources
    in `drop` removed, and every other indexed document kept; `roots=None` keeps the
    previous generation's roots.
    `embedder_factory` is only called when something needs embedding, so an ingest with
    nothing changed never loads the model. One ingest at a time: a second one waits up to
    `wait` seconds for the first, then builds on what it published.
    """
    began = time.perf_counter()
    target = open_store(config)
    with target.lock(wait):
        summary = _sync_locked(
            target, docs, config, embedder_factory, roots, rebuild, with_sentences, progress, keep, drop
        )
    summary.seconds = time.perf_counter() - began
    return summary


def _sync_locked(
    target: Store, docs, config, embedder_factory, roots, rebuild, with_sentences, progress, keep, drop
):
    previous = None if rebuild else target.current()
    manifest, hashes = target.read_contents(previous) if previous else (None, {})
    if manifest is not None:
        store.check_compatible(manifest, config)
    if roots is None:
        roots = manifest.roots if manifest is not None else ()

    summary = IngestSummary()
    seen = {d.source for d in docs}
    if drop is not None:
        removed = {s for s in hashes if s in drop and s not in seen}
    else:
        removed = {s for s in hashes if s not in seen and s not in keep and not is_web_source(s)}
    summary.removed = sorted(removed)
    # Kept without being named: what a partial update leaves alone, the pages of a file ingest.
    retained = [s for s in hashes if s not in seen and s not in removed and s not in keep]
    summary.kept = sorted(s for s in hashes if s not in seen and s in keep and s not in removed)
    fresh = []
    for doc in docs:
        known = hashes.get(doc.source)
        if known is None:
            summary.added.append(doc.source)
            fresh.append(doc)
        elif known != doc.content_hash:
            summary.updated.append(doc.source)
            fresh.append(doc)
        else:
            summary.unchanged.append(doc.source)

    if manifest is not None and not summary.changed:
        target.collect_garbage(keep=previous)  # what readers have let go since
        summary.chunks = manifest.chunks
        summary.version = manifest.version
        return summary
    if manifest is None and not fresh:
        raise IndexUnavailable(
            "Aucun document lisible à indexer : vérifiez le dossier donné (formats acceptés : "
            ".md, .txt, .html, .pdf, .docx, .odt, .pptx). Aucun index n'a été publié."
        )

    old = target.read_generation(previous)[1] if previous else {}  # texts and vectors to reuse
    language = manifest.language if manifest else _language(config, docs)
    dimension = manifest.dimension if manifest else 0
    indexed = {s: old[s] for s in (*summary.unchanged, *summary.kept, *retained)}
    if fresh:
        embedder = embedder_factory()
        if manifest is not None and embedder.dimension != manifest.dimension:
            raise IndexUnavailable(
                f"Index en dimension {manifest.dimension}, le modèle donne "
                f"{embedder.dimension} : lancez `alliance-bot ingest --rebuild`."
            )
        dimension = embedder.dimension
        chunker = Chunker(config.chunk_size, config.chunk_overlap)
        embedded = _embed(fresh, chunker, embedder, with_sentences, progress)
        summary.embedded_passages = sum(len(d.chunks) + len(d.sentences) for d in embedded.values())
        indexed |= embedded

    if not _within_token_budget(indexed, config.token_vectors_max, dimension):
        indexed = {s: _without_tokens(d) for s, d in indexed.items()}
    name = store.new_generation_name()
    new_manifest = store.Manifest(
        version=name,
        model=config.embedding.model,
        dimension=dimension,
        chunk_size=config.chunk_size,
        chunk_overlap=config.chunk_overlap,
        language=language,
        roots=tuple(str(r) for r in roots),
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        documents=len(indexed),
        chunks=sum(len(d.chunks) for d in indexed.values()),
        backend=config.embedding.backend if fresh or manifest is None else manifest.backend,
    )
    generation = target.write_generation(
        new_manifest,
        [indexed[s] for s in sorted(indexed)],
        bm25_terms=chunk_terms(language),
        dense_exact_max=config.dense_exact_max,
    )
    target.collect_garbage(keep=generation)
    summary.chunks = new_manifest.chunks
    summary.version = name
    return summary


def copy_index(source: Store, target: Store, wait: float = 600.0) -> str:
    """Publish the source's published generation in the target, vectors and all, under a new
    name: nothing is embedded again (BM25 is recounted from the texts, with the analyzer
    that built it). Returns the new generation's name."""
    name = source.current()
    if name is None:
        raise IndexUnavailable(f"Aucun index publié dans {source.describe()} : rien à copier.")
    manifest, docs = source.read_generation(name)
    with target.lock(wait):
        copied = target.write_generation(
            replace(manifest, version=store.new_generation_name()),
            [docs[s] for s in sorted(docs)],
            bm25_terms=chunk_terms(manifest.language),
            dense_exact_max=_exact_max(manifest),
        )
        target.collect_garbage(keep=copied)
    return copied


def _exact_max(manifest: store.Manifest) -> int:
    """The copy keeps the source's kind of dense index (exact or graph)."""
    return manifest.chunks if manifest.dense.get("type", "flat") == "flat" else 0


def chunk_terms(language: str) -> Callable[[Document, Chunk], list[str]]:
    """What BM25 indexes of a chunk: the text it is embedded with (title, headings, text)."""
    return lambda doc, chunk: terms(embedding_text(doc.title, chunk, doc.text), language)


def is_web_source(source: str) -> bool:
    """A crawled page or web document: its source is its URL."""
    return source.startswith(("http://", "https://"))


def _embed(
    docs: list[Document], chunker: Chunker, embedder, with_sentences: bool, progress: bool | None
) -> dict[str, store.IndexedDocument]:
    """Chunk and embed new or changed documents in batched passes: the chunks, then the
    sentences in their context, with each sentence's token vectors when the model gives them
    (the reader aligns the question's words with them)."""
    now = datetime.now(UTC).isoformat(timespec="seconds")
    plans = []
    chunk_texts: list[str] = []
    contexts: list[str] = []
    for doc in docs:
        chunks = chunker(doc)
        spans = sentence_spans(doc.text) if with_sentences else []
        chunk_texts += [embedding_text(doc.title, c, doc.text) for c in chunks]
        contexts += sentence_contexts(doc, spans)
        plans.append((doc, chunks, spans))
    with_tokens = hasattr(embedder, "encode_with_tokens")
    texts = chunk_texts + contexts
    vectors, tokens = encode_with_progress(
        embedder, texts, progress, len(chunk_texts) if with_tokens else None
    )
    out = {}
    at, sentence_at = 0, len(chunk_texts)
    for doc, chunks, spans in plans:
        chunk_vectors = [v.tobytes() for v in vectors[at : at + len(chunks)]]
        at += len(chunks)
        sentences = []
        headers = table_headers(doc.text, spans) if with_tokens else []
        for i, (a, b) in enumerate(spans):
            own = offsets = None
            if with_tokens:
                context, start = sentence_reading(doc.title, doc.text, spans, i, headers[i])
                read = tokens[sentence_at].slice_from(start).words_only(context[start:])
                own, offsets = read.int8(), read.offsets_bytes()
            sentences.append((a, b, vectors[sentence_at].tobytes(), own, offsets))
            sentence_at += 1
        stored = replace(doc, ingested_at=now)
        out[doc.source] = store.IndexedDocument(stored, chunks, chunk_vectors, sentences)
    return out


def _without_tokens(doc: store.IndexedDocument) -> store.IndexedDocument:
    return replace(doc, sentences=[(a, b, v, None, None) for a, b, v, *_ in doc.sentences])


def _within_token_budget(docs: dict[str, store.IndexedDocument], limit: int, dimension: int) -> bool:
    """Whether every sentence has its token vectors and all of them fit under `limit` tokens;
    otherwise the generation stores none and the reader computes them when it needs them."""
    total = 0
    for doc in docs.values():
        for sentence in doc.sentences:
            if sentence[3] is None:
                return False
            total += len(sentence[3]) // max(dimension, 1)
    return total <= limit


def _language(config: IndexConfig, docs: Sequence[Document]) -> str:
    if config.language != "auto":
        return config.language
    return detect_language(" ".join(d.text[:2000] for d in docs[:200]))


def sentence_contexts(doc: Document, spans: list[tuple[int, int]]) -> list[str]:
    """Each sentence in the context it is embedded with (bot.documents.sentence_reading)."""
    headers = table_headers(doc.text, spans)
    return [sentence_reading(doc.title, doc.text, spans, i, headers[i])[0] for i in range(len(spans))]


def encode_with_progress(
    embedder, texts: list[str], progress: bool | None, tokens_from: int | None = None
) -> tuple[np.ndarray, list]:
    """Embed in batches, with a progress bar (passages/s) on a terminal or when asked.

    Each distinct text is embedded once: a document that repeats one sentence (a
    template, a footer on every page, a hostile page) would otherwise cost a pass per
    copy, tens of thousands for 1 MB. Texts go longest first, so that each batch pads to
    a length close to its own texts' (chunks of 800 characters and single sentences are
    mixed otherwise); the vectors come back in the order of `texts`, with the Tokens of
    texts from `tokens_from` on (None for the others, and for all when it is None).
    """
    show = sys.stderr.isatty() if progress is None else progress
    batch = 64
    distinct = list(dict.fromkeys(texts))
    row_of = {text: row for row, text in enumerate(distinct)}
    wanted = [False] * len(distinct)
    if tokens_from is not None:
        for text in texts[tokens_from:]:
            wanted[row_of[text]] = True
    order = sorted(range(len(distinct)), key=lambda i: -len(distinct[i]))
    vectors = np.zeros((len(distinct), embedder.dimension), np.float32)
    found: list = [None] * len(distinct)
    bar = tqdm(total=len(distinct), disable=not show, unit="passage", unit_scale=False, desc="Encodage")
    with bar:
        for i in range(0, len(order), batch):
            rows = order[i : i + batch]
            chosen = [distinct[r] for r in rows]
            if any(wanted[r] for r in rows):
                vectors[rows], tokens = embedder.encode_with_tokens(chosen, False)
                for r, t in zip(rows, tokens, strict=True):
                    found[r] = t if wanted[r] else None
            else:
                vectors[rows] = embedder.encode_passages(chosen)
            bar.update(len(rows))
    at = [row_of[t] for t in texts]
    start = len(texts) if tokens_from is None else tokens_from
    return vectors[at], [found[r] if k >= start else None for k, r in enumerate(at)]


def ensure_index(config: IndexConfig, embedder_factory) -> IngestSummary:
    """Build the index when it is missing; sync it with its sources when they changed.

    Sources that have disappeared (a deleted temporary folder) are left alone rather
    than emptying the index.
    """
    target = open_store(config)
    generation = target.current()  # raises if CURRENT is broken
    if generation is None:
        roots = [config.documents_dir]
    else:
        roots = [Path(r) for r in target.read_manifest(generation).roots]
        if not roots or not all(r.exists() for r in roots):
            return IngestSummary(version=generation)
    # Another ingest running: serve what is published rather than wait for it.
    wait = 0.0 if generation is not None else 600.0
    try:
        return ingest(roots, config, embedder_factory, progress=False, wait=wait)
    except store.IngestBusy:
        if generation is None:
            raise
        log.warning("index not brought up to date (another ingest is running)")
        return IngestSummary(version=generation)
