"""Replicas on the PostgreSQL store: a real `alliance-bot serve` with ALLIANCE_STORE_URL and no
index folder of its own, a database of its own (pgserver) that the test stops and starts,
and `alliance-bot index copy` between the two stores."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from bot.answer.retrieval import Retriever
from bot.config import Settings
from bot.index.stores import open_store
from bot.ingest.pipeline import ingest
from tests.ingest.test_pipeline import DOCS, write_corpus
from tests.servers import start_server, stop_server

ROOT = Path(__file__).resolve().parents[2]
QUESTION = "Quand le projet Tilleul a-t-il été lancé ?"


@pytest.fixture
def database(tmp_path):
    """A PostgreSQL of this test's own, that it may stop: (pgdata, url)."""
    pgserver = pytest.importorskip("pgserver")
    pgdata = tmp_path / "pgdata"
    server = pgserver.get_server(pgdata, cleanup_mode="stop")
    yield pgdata, server.get_uri()
    pgserver.get_server(pgdata, cleanup_mode="stop").cleanup()


def test_a_replica_serves_from_the_database_alone_and_survives_its_restart(tmp_path, database, embedder):
    pgdata, url = database
    corpus = write_corpus(tmp_path / "docs", DOCS)
    settings = Settings(index_dir=tmp_path / "ingester", documents_dir=corpus, store_url=url)
    first = ingest([corpus], settings.index, lambda: embedder, progress=False).version
    local = tmp_path / "replica-index"  # the replica's index folder: never written
    proc, base = start_server(
        local, tmp_path / "no-documents", ALLIANCE_STORE_URL=url, ALLIANCE_RATE_LIMIT="0"
    )
    try:
        health = httpx.get(f"{base}/health", timeout=10).json()
        assert health["store"] == "postgresql" and health["index"]["version"] == first
        answer = httpx.post(f"{base}/ask", json={"question": QUESTION}, timeout=60).json()
        assert answer["status"] == "answered" and "2011" in answer["answer"]
        assert not any(local.glob("gen-*")) and not (local / "CURRENT").exists()

        # An ingest elsewhere is served within a second, without a restart.
        (corpus / "chenes.md").write_text("# Chênes\n\nLe projet Chêne est né en 2019 à Lyon.\n", "utf-8")
        second = ingest([corpus], settings.index, lambda: embedder, progress=False).version
        published = time.monotonic()
        while httpx.get(f"{base}/health", timeout=10).json()["index"]["version"] != second:
            assert time.monotonic() - published < 1.0, "the new generation was not served within 1 s"
            time.sleep(0.05)
        answer = httpx.post(
            f"{base}/ask", json={"question": "Où est né le projet Chêne ?"}, timeout=60
        ).json()
        assert answer["status"] == "answered" and "Lyon" in answer["answer"]

        # The database stopped: clean 503s, never a 500; answers again once it is back.
        import pgserver

        pgserver.get_server(pgdata, cleanup_mode="stop").cleanup()
        for _ in range(3):
            down = httpx.post(f"{base}/ask", json={"question": QUESTION}, timeout=60)
            assert down.status_code == 503, down.text
            assert down.json()["code"] == "index_unavailable"
        assert httpx.get(f"{base}/health", timeout=10).status_code == 503
        pgserver.get_server(pgdata, cleanup_mode="stop")
        deadline = time.monotonic() + 10
        while (back := httpx.post(f"{base}/ask", json={"question": QUESTION}, timeout=60)).status_code != 200:
            assert back.status_code == 503 and time.monotonic() < deadline, back.text
            time.sleep(0.2)
        assert back.json()["status"] == "answered" and back.json()["index"]["version"] == second
    finally:
        stop_server(proc)


def test_index_copy_moves_an_index_both_ways_without_embedding(tmp_path, database, embedder):
    _, url = database
    corpus = write_corpus(tmp_path / "docs", DOCS)
    folder = Settings(index_dir=tmp_path / "index", documents_dir=corpus)
    ingest([corpus], folder.index, lambda: embedder, progress=False)
    back = tmp_path / "back"
    env = os.environ | {"PYTHONPATH": str(ROOT), "ALLIANCE_MODEL_CACHE": str(tmp_path / "no-model")}
    for source, target in ((str(folder.index_dir), url), (url, str(back))):
        done = subprocess.run(
            [sys.executable, "-m", "bot", "index", "copy", source, target],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            cwd=ROOT,
        )
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["version"].startswith("gen-")
    stores = [
        open_store(folder.index),
        open_store(folder.model_copy(update={"store_url": url}).index),
        open_store(folder.model_copy(update={"index_dir": back}).index),
    ]
    loaded = [s.load() for s in stores]
    assert [type(x).__name__ for x in loaded] == ["LoadedIndex", "PgIndex", "LoadedIndex"]
    vector = embedder.encode_queries([QUESTION])
    hits = [Retriever(x).search(vector, QUESTION, 5) for x in loaded]
    for other in hits[1:]:
        assert [(h.chunk, round(h.score, 4)) for h in other] == [
            (h.chunk, round(h.score, 4)) for h in hits[0]
        ]
    assert (loaded[0].vectors == loaded[2].vectors).all()  # the very vectors, there and back


def test_two_replicas_share_one_database(tmp_path, database, embedder):
    """An upload through one replica is answered by the other within a second; an ingest
    killed mid-write (kill -9) leaves both serving the generation published before it."""
    from tests.conftest import ADMIN_TOKEN
    from tests.index.test_stores import _KILLED_INGEST

    _, url = database
    corpus = write_corpus(tmp_path / "docs", DOCS)
    settings = Settings(index_dir=tmp_path / "ingester", documents_dir=corpus, store_url=url)
    ingest([corpus], settings.index, lambda: embedder, progress=False)
    replicas = [
        start_server(
            tmp_path / f"replica-{i}",
            tmp_path / "no-documents",
            ALLIANCE_STORE_URL=url,
            ALLIANCE_RATE_LIMIT="0",
            ALLIANCE_ADMIN_TOKEN=ADMIN_TOKEN,
            ALLIANCE_DATA_DIR=str(tmp_path / f"data-{i}"),
        )
        for i in range(2)
    ]
    (_, a), (_, b) = replicas
    version = lambda base: httpx.get(f"{base}/health", timeout=10).json()["index"]["version"]  # noqa: E731
    try:
        uploaded = httpx.post(
            f"{a}/admin/documents",
            params={"filename": "erables.md"},
            content="# Érables\n\nLe projet Érable a planté 640 arbres à Nantes.\n".encode(),
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
            timeout=300,
        )
        assert uploaded.status_code == 201, uploaded.text
        new, done = uploaded.json()["version"], time.monotonic()
        while version(b) != new:
            assert time.monotonic() - done < 1.0, "the other replica did not serve the upload within 1 s"
            time.sleep(0.05)
        answer = httpx.post(
            f"{b}/ask", json={"question": "Combien d'arbres le projet Érable a-t-il plantés ?"}, timeout=60
        )
        assert answer.json()["status"] == "answered" and "640" in answer.json()["answer"]

        (corpus / "hetres.md").write_text("# Hêtres\n\nLe projet Hêtre est né en 2022.\n", "utf-8")
        flag = tmp_path / "writing"
        env = os.environ | {
            "ALLIANCE_INDEX_DIR": str(settings.index_dir),
            "ALLIANCE_DOCUMENTS_DIR": str(corpus),
            "ALLIANCE_STORE_URL": url,
            "PYTHONPATH": str(ROOT),
        }
        proc = subprocess.Popen([sys.executable, "-c", _KILLED_INGEST, str(flag)], env=env, cwd=ROOT)
        try:
            deadline = time.monotonic() + 120
            while not flag.exists():
                assert proc.poll() is None and time.monotonic() < deadline, (
                    "the ingest ended before it was killed"
                )
                time.sleep(0.2)
        finally:
            proc.kill()
            proc.wait()
        time.sleep(0.6)  # past the replicas' poll interval
        for base in (a, b):
            assert version(base) == new
            asked = httpx.post(f"{base}/ask", json={"question": QUESTION}, timeout=60).json()
            assert asked["status"] == "answered" and asked["index"]["version"] == new
    finally:
        for proc, _ in replicas:
            stop_server(proc)
