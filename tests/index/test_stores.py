"""One test suite, both index stores (bot/index/stores.py): the generation folder and
PostgreSQL with pgvector (a real server from `pgserver`, started once for the session).
Each test on the database store gets a collection of its own, so they share the server."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import replace
from pathlib import Path

import pytest

from bot.answer.assistant import Assistant
from bot.answer.retrieval import Retriever
from bot.config import Settings
from bot.errors import IndexUnavailable
from bot.index.stores import open_store
from bot.ingest.pipeline import ingest
from tests.ingest.test_pipeline import DOCS, write_corpus

ROOT = Path(__file__).resolve().parents[2]
QUESTIONS = ["Qui a lancé le projet Tilleul ?", "Combien de salariés compte la coopérative ?", "Arbres Unis"]


@pytest.fixture
def corpus(tmp_path) -> Path:
    return write_corpus(tmp_path / "docs", DOCS)


@pytest.fixture(params=["folder", "postgresql"])
def settings(request, tmp_path, corpus) -> Settings:
    """Settings on a fresh index in either store."""
    base = Settings(index_dir=tmp_path / "index", documents_dir=corpus)
    if request.param == "folder":
        return base
    url = request.getfixturevalue("pgvector_url")
    return base.model_copy(update={"store_url": url, "collection": f"t{uuid.uuid4().hex[:12]}"})


def run(settings: Settings, corpus: Path, embedder):
    return ingest([corpus], settings.index, lambda: embedder, progress=False)


def test_an_ingest_publishes_a_generation_that_answers(settings, corpus, embedder):
    summary = run(settings, corpus, embedder)
    target = open_store(settings.index)
    assert target.current() == summary.version
    assistant = Assistant(settings.answer, embedder=embedder)
    answer = assistant.ask("Quand le projet Tilleul a-t-il été lancé ?")
    assert answer.status == "answered" and "2011" in answer.answer
    for citation in answer.citations:  # quotes are the stored text at their offsets
        doc = assistant.index.documents[citation.source]
        assert doc.text[citation.char_start : citation.char_end] == citation.quote
    assert assistant.info().version == summary.version


def test_both_stores_rank_and_score_alike(tmp_path, corpus, embedder, pgvector_url):
    """The same documents in both stores: the same hits, the same dense and BM25 scores."""
    folder = Settings(index_dir=tmp_path / "index", documents_dir=corpus)
    database = folder.model_copy(update={"store_url": pgvector_url, "collection": "alike"})
    for s in (folder, database):
        run(s, corpus, embedder)
    a, b = open_store(folder.index).load(), open_store(database.index).load()
    assert type(a) is not type(b)
    for question in QUESTIONS:
        vector = embedder.encode_queries([question])
        ha, hb = Retriever(a).search(vector, question, 5), Retriever(b).search(vector, question, 5)
        assert [h.chunk for h in ha] == [h.chunk for h in hb]
        for x, y in zip(ha, hb, strict=True):
            assert (x.dense_rank, x.bm25_rank) == (y.dense_rank, y.bm25_rank)
            assert x.dense_score == pytest.approx(y.dense_score, abs=1e-5)
            assert x.bm25_score == y.bm25_score  # the same float32 sums
    for row in range(len(a.sentence_source)):
        assert a.sentence_source[row] == b.sentence_source[row]
        assert list(a.sentence_spans[row]) == list(b.sentence_spans[row])
    assert [a.chunk_sentences[r] for r in range(len(a.chunks))] == [
        b.chunk_sentences[r] for r in range(len(b.chunks))
    ]
    assert (a.sentence_tokens.vectors(3) == b.sentence_tokens.vectors(3)).all()
    assert a.bm25.term_idf("tilleul") == b.bm25.term_idf("tilleul")
    for source in a.documents:
        assert a.chunks_of(source) == b.chunks_of(source) and a.chunks_of(source)
        same = [replace(x.documents[source], ingested_at="") for x in (a, b)]  # ingested apart
        assert same[0] == same[1]


def test_an_unchanged_document_is_not_embedded_again(settings, corpus, embedder):
    first = run(settings, corpus, embedder)
    (corpus / "histoire.md").write_text("# Histoire\n\nLe projet Tilleul a été lancé en 2012.\n", "utf-8")
    second = run(settings, corpus, embedder)
    assert len(second.updated) == 1 and second.updated[0].endswith("histoire.md")
    assert 0 < second.embedded_passages < first.embedded_passages
    third = run(settings, corpus, embedder)
    assert not third.changed and third.version == second.version


def test_two_ingests_at_once_are_serialised(settings, corpus, embedder):
    results: list = []

    def one() -> None:
        results.append(run(settings, corpus, embedder))

    threads = [threading.Thread(target=one) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 2
    assert sorted(len(r.added) for r in results) == [0, 2]  # the second built on the first's
    assert open_store(settings.index).current() == results[0].version == results[1].version


def test_older_generations_are_collected(settings, corpus, embedder, monkeypatch):
    monkeypatch.setattr("bot.index.pg.GRACE_SECONDS", 0.0)  # the database store waits this long
    versions = []
    for year in (2012, 2013, 2014):
        (corpus / "histoire.md").write_text(f"# Histoire\n\nLe projet Tilleul a été lancé en {year}.\n")
        versions.append(run(settings, corpus, embedder).version)
    target = open_store(settings.index)
    with pytest.raises(IndexUnavailable):
        target.read_manifest(versions[0])  # gone
    assert target.read_manifest(versions[-1]).version == versions[-1]


_KILLED_INGEST = """
import sys, time
from pathlib import Path
from bot.config import Settings
from bot.index import pg, store
from bot.ingest.pipeline import ingest

def stalled(*args, **kwargs):  # half the generation written, then the process is killed
    Path(sys.argv[1]).write_text("writing")
    time.sleep(600)

pg._write_tables = lambda conn, manifest, docs, terms: stalled()
store._write_files = lambda *args: stalled()
settings = Settings()
ingest([settings.documents_dir], settings.index, progress=False,
       embedder_factory=lambda: __import__("bot.embedding", fromlist=["x"]).load_embedder(settings.embedding))
"""


def test_kill_9_mid_ingest_leaves_the_published_generation_serving(settings, corpus, embedder, tmp_path):
    published = run(settings, corpus, embedder).version
    (corpus / "nouveau.md").write_text("# Nouveau\n\nUn nouveau document sur les hêtres.\n", "utf-8")
    flag = tmp_path / "writing"
    env = os.environ | {
        "ALLIANCE_INDEX_DIR": str(settings.index_dir),
        "ALLIANCE_DOCUMENTS_DIR": str(corpus),
        "PYTHONPATH": str(ROOT),
    }
    if settings.store_url:
        env |= {"ALLIANCE_STORE_URL": settings.store_url, "ALLIANCE_COLLECTION": settings.collection}
    proc = subprocess.Popen([sys.executable, "-c", _KILLED_INGEST, str(flag)], env=env, cwd=ROOT)
    try:
        deadline = time.monotonic() + 120
        while not flag.exists():
            assert proc.poll() is None, "the ingest ended before it was killed"
            assert time.monotonic() < deadline
            time.sleep(0.2)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    assert open_store(settings.index).current() == published
    answer = Assistant(settings.answer, embedder=embedder).ask("Quand le projet Tilleul a-t-il été lancé ?")
    assert answer.status == "answered" and answer.index.version == published
    summary = run(settings, corpus, embedder)  # the lock died with the killed process
    assert len(summary.added) == 1 and summary.added[0].endswith("nouveau.md")


def test_a_replaced_generation_stays_readable_for_questions_in_flight(settings, corpus, embedder):
    """A question still reading an older generation (a replica that has not switched yet) is
    answered from it, even after two more ingests have each collected garbage."""
    run(settings, corpus, embedder)
    assistant = Assistant(settings.answer, embedder=embedder)
    held = assistant.snapshot
    for year in (2012, 2013):
        (corpus / "histoire.md").write_text(f"# Histoire\n\nLe projet Tilleul a été lancé en {year}.\n")
        run(settings, corpus, embedder)
    hits = held.retriever.search(embedder.encode_queries(["Tilleul"]), "Tilleul", 3)
    assert hits and "2011" in " ".join(held.index.documents[h.chunk.source].text for h in hits)


def test_requests_during_reloads_never_mix_generations(settings, corpus, embedder):
    """Readers take one snapshot per request while another thread publishes and reloads."""
    run(settings, corpus, embedder)
    assistant = Assistant(settings.answer, embedder=embedder)
    errors: list[BaseException] = []
    stop = threading.Event()

    def reader() -> None:
        while not stop.is_set():
            try:
                snapshot = assistant.snapshot
                answer = assistant.ask("Qui préside la coopérative Arbres Unis ?")
                for c in answer.citations:  # quotes come from the snapshot they were read in
                    assert c.quote.strip()
                    if answer.index.version == snapshot.index.name:
                        text = snapshot.index.documents[c.source].text
                        assert text[c.char_start : c.char_end] == c.quote
            except BaseException as e:  # noqa: BLE001 - the test reports any failure
                errors.append(e)

    threads = [threading.Thread(target=reader) for _ in range(2)]
    for t in threads:
        t.start()
    try:
        for i in range(3):
            (corpus / "equipe.md").write_text(
                f"# Équipe\n\nLa présidente de la coopérative s'appelle Personne{i} MOREAU.\n", "utf-8"
            )
            run(settings, corpus, embedder)
            time.sleep(0.6)  # past the database store's poll interval
            assistant.refresh_if_changed()
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert errors == []
    assert assistant.info().version == open_store(settings.index).current()
