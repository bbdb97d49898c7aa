"""Incremental and atomic ingest on a real SQLite + FAISS index with the real model."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from bot.answer.assistant import Assistant
from bot.config import Settings
from bot.errors import IndexUnavailable
from bot.index.store import CURRENT, LoadedIndex, current_generation
from bot.ingest.chunking import embedding_text
from bot.ingest.pipeline import encode_with_progress, ingest
from tests.deadline import within

DOCS = {
    "histoire.md": "---\ntitle: Histoire\n---\n# Histoire\n\nLe projet Tilleul a été lancé en 2011 "
    "par la coopérative Arbres Unis. Il a fêté ses dix ans en 2021.\n",
    "equipe.md": "---\ntitle: Équipe\n---\n# Équipe\n\nLa coopérative Arbres Unis compte douze "
    "salariés. Sa présidente s'appelle Jeanne MOREAU.\n",
}


def write_corpus(folder: Path, docs: dict[str, str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in docs.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


class CountingEmbedder:
    """The real model, counting what it is asked to embed."""

    def __init__(self, embedder):
        self.inner = embedder
        self.dimension = embedder.dimension
        self.passages = 0

    def encode_passages(self, texts, **kwargs):
        self.passages += len(texts)
        return self.inner.encode_passages(texts, **kwargs)


@pytest.fixture
def corpus(tmp_path) -> Path:
    return write_corpus(tmp_path / "docs", DOCS)


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(index_dir=tmp_path / "index")


def test_second_ingest_embeds_nothing_and_writes_nothing(corpus, settings, embedder):
    counting = CountingEmbedder(embedder)
    first = ingest([corpus], settings.index, lambda: counting, progress=False)
    assert sorted(first.added) == ["docs/equipe.md", "docs/histoire.md"] and first.chunks >= 2
    embedded = counting.passages
    assert embedded > 0

    def no_model():
        raise AssertionError("the model must not be loaded when nothing changed")

    second = ingest([corpus], settings.index, no_model, progress=False)
    assert not second.changed and sorted(second.unchanged) == ["docs/equipe.md", "docs/histoire.md"]
    assert second.version == first.version
    assert counting.passages == embedded


def test_changed_document_replaced_and_deleted_one_removed(corpus, settings, embedder):
    counting = CountingEmbedder(embedder)
    ingest([corpus], settings.index, lambda: counting, progress=False)
    before = counting.passages
    (corpus / "equipe.md").write_text(
        "---\ntitle: Équipe\n---\n# Équipe\n\nLa coopérative compte vingt salariés.\n", "utf-8"
    )
    (corpus / "histoire.md").unlink()
    summary = ingest([corpus], settings.index, lambda: counting, progress=False)
    assert summary.updated == ["docs/equipe.md"] and summary.removed == ["docs/histoire.md"]
    assert 0 < counting.passages - before <= 4  # only the changed document was embedded
    index = LoadedIndex(current_generation(settings.index_dir))
    assert set(index.documents) == {"docs/equipe.md"}
    assert "vingt" in index.documents["docs/equipe.md"].text
    assert all(c.source == "docs/equipe.md" for c in index.chunks)
    assert index.faiss.ntotal == len(index.chunks) == index.bm25.weights.shape[0]


def test_removing_every_document_leaves_an_empty_index_that_answers(corpus, settings, embedder):
    """Removing the last document gave `cannot reshape array of size 0` and kept serving it."""
    ingest([corpus], settings.index, lambda: embedder, progress=False)
    assistant = Assistant(settings.answer, embedder=embedder)
    assert assistant.ask("Quand le projet Tilleul a-t-il été lancé ?").status == "answered"
    for path in corpus.iterdir():
        path.unlink()
    summary = ingest([corpus], settings.index, lambda: embedder, progress=False)
    assert sorted(summary.removed) == ["docs/equipe.md", "docs/histoire.md"] and summary.chunks == 0
    index = LoadedIndex(current_generation(settings.index_dir))
    assert not index.documents and not index.chunks and index.faiss.ntotal == 0
    assistant.refresh_if_changed()
    answer = assistant.ask("Quand le projet Tilleul a-t-il été lancé ?")
    assert answer.status == "no_answer" and not answer.citations
    assert assistant.search("Tilleul").passages == []
    # Documents come back: the empty index is built on like any other.
    write_corpus(corpus, DOCS)
    assert len(ingest([corpus], settings.index, lambda: embedder, progress=False).added) == 2


def test_index_built_with_another_model_is_refused(corpus, settings, embedder):
    ingest([corpus], settings.index, lambda: embedder, progress=False)
    other = settings.model_copy(update={"embedding_model": "some/other-model"})
    with pytest.raises(IndexUnavailable, match="ingest --rebuild"):
        Assistant(other.answer, embedder=embedder)
    with pytest.raises(IndexUnavailable, match="ingest --rebuild"):
        ingest([corpus], other.index, lambda: embedder, progress=False)


def test_missing_index_says_what_to_run(settings, embedder):
    with pytest.raises(IndexUnavailable, match="alliance-bot ingest"):
        Assistant(settings.answer, embedder=embedder)


def test_killed_ingest_leaves_previous_index_answering(corpus, settings, embedder, tmp_path):
    ingest([corpus], settings.index, lambda: embedder, progress=False)
    pointer = (settings.index_dir / CURRENT).read_text()
    # A bigger change, so that the second ingest is still running when it is killed.
    for i in range(40):
        (corpus / f"ajout-{i}.md").write_text(
            f"# Ajout {i}\n\n" + "Une phrase de plus sur la coopérative Arbres Unis. " * 30, "utf-8"
        )
    env = os.environ | {"ALLIANCE_INDEX_DIR": str(settings.index_dir)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot", "ingest", str(corpus)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(4)  # model loaded, embedding under way
    assert proc.poll() is None, "ingest finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()

    assert (settings.index_dir / CURRENT).read_text() == pointer
    answer = Assistant(settings.answer, embedder=embedder).ask("Combien de salariés compte la coopérative ?")
    assert answer.status == "answered" and "douze" in answer.answer

    # The next ingest completes and cleans up whatever the killed one left.
    summary = ingest([corpus], settings.index, lambda: embedder, progress=False)
    assert len(summary.added) == 40
    leftovers = [p.name for p in settings.index_dir.iterdir() if p.name.startswith(".staging-")]
    assert leftovers == []
    assert len([p for p in settings.index_dir.iterdir() if p.name.startswith("gen-")]) == 1


REPEATED = "L'Alliance Dynamique réunit des partenaires de l'économie sociale et solidaire. "


def test_a_file_repeating_one_sentence_ingests_in_seconds(corpus, settings, embedder):
    """1.35 MB of one sentence (17,000 copies; a crawled page can serve the same): every copy
    of a chunk or a sentence cost a pass of the model, minutes under the ingest lock."""
    (corpus / "repetition.md").write_text(REPEATED * (1_350_000 // len(REPEATED.encode())), "utf-8")
    counting = CountingEmbedder(embedder)
    with within(60):
        summary = ingest([corpus], settings.index, lambda: counting, progress=False)
    assert "docs/repetition.md" in summary.added and summary.chunks > 1_500
    assert summary.embedded_passages > 17_000 and counting.passages < 20  # each distinct text once

    index = LoadedIndex(current_generation(settings.index_dir))
    assert index.faiss.ntotal == len(index.chunks) == index.bm25.weights.shape[0]
    for source in ("docs/repetition.md", "docs/histoire.md"):  # each vector is its own text's
        doc = index.documents[source]
        rows = [i for i, c in enumerate(index.chunks) if c.source == source][-2:]
        expected = embedder.encode_passages(
            [embedding_text(doc.title, index.chunks[i], doc.text) for i in rows]
        )
        assert np.all(np.sum(index.vectors[rows] * expected, axis=1) > 0.99)
    answer = Assistant(settings.answer, embedder=embedder).ask("Quand le projet Tilleul a-t-il été lancé ?")
    assert answer.status == "answered" and "2011" in answer.answer


class HashEmbedder:
    """A vector that only depends on the text, counting the texts it is given."""

    dimension = 8

    def __init__(self) -> None:
        self.texts: list[str] = []

    def encode_passages(self, texts, **kwargs):
        self.texts += texts
        return np.array([self.vector(t) for t in texts], np.float32)

    @staticmethod
    def vector(text: str) -> np.ndarray:
        return np.random.default_rng(list(text.encode())).random(8, dtype=np.float32)


def test_each_distinct_text_is_embedded_once_and_every_text_gets_its_vector():
    texts = ["b", "a", "b", "ccc", "a", "b"] * 50
    fake = HashEmbedder()
    vectors, tokens = encode_with_progress(fake, texts, progress=False)
    assert tokens == [None] * len(texts)
    assert sorted(fake.texts) == ["a", "b", "ccc"]
    assert vectors.shape == (len(texts), 8)
    for text, vector in zip(texts, vectors, strict=True):
        assert np.array_equal(vector, HashEmbedder.vector(text))
