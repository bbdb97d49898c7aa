"""The storage module under faults: broken pointers, corrupt generations, racing ingests,
garbage collection that respects loaded snapshots, durable and refused publishes."""

from __future__ import annotations

import gc
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from bot.answer.assistant import Assistant
from bot.config import Settings
from bot.errors import IndexUnavailable
from bot.index import store
from bot.ingest.pipeline import ingest
from tests.ingest.test_pipeline import DOCS, write_corpus


@pytest.fixture
def corpus(tmp_path) -> Path:
    return write_corpus(tmp_path / "docs", DOCS)


@pytest.fixture
def settings(tmp_path, corpus) -> Settings:
    return Settings(index_dir=tmp_path / "index", documents_dir=corpus)


def generations(index_dir: Path) -> list[str]:
    return sorted(p.name for p in index_dir.iterdir() if p.name.startswith(("gen-", ".staging-")))


def cli(settings: Settings, *args: str) -> subprocess.CompletedProcess:
    env = os.environ | {
        "ALLIANCE_INDEX_DIR": str(settings.index_dir),
        "ALLIANCE_DOCUMENTS_DIR": str(settings.documents_dir),
    }
    return subprocess.run(
        [sys.executable, "-m", "bot", *args], env=env, capture_output=True, text=True, timeout=300
    )


def test_dangling_current_is_an_error_never_a_rebuild_or_a_deletion(corpus, settings, embedder):
    ingest([corpus], settings.index, lambda: embedder, progress=False)
    before = generations(settings.index_dir)
    (settings.index_dir / store.CURRENT).write_text("gen-20990101T000000-abcdef")
    result = cli(settings, "search", "Arbres Unis")
    assert result.returncode == 1
    assert "ingest --rebuild" in result.stderr and "Traceback" not in result.stderr
    assert generations(settings.index_dir) == before  # nothing deleted, nothing rebuilt
    with pytest.raises(IndexUnavailable, match="rien n'a été supprimé"):
        ingest([corpus], settings.index, lambda: embedder, progress=False)
    assert generations(settings.index_dir) == before


def test_corrupt_sqlite_at_start_is_one_clear_line(corpus, settings, embedder):
    ingest([corpus], settings.index, lambda: embedder, progress=False)
    generation = store.current_generation(settings.index_dir)
    (generation / store.SQLITE).write_bytes(b"this is not a database" * 100)
    result = cli(settings, "search", "Arbres Unis")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "corrompue" in result.stderr and "ingest --rebuild" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_server_keeps_its_snapshot_when_a_new_generation_is_corrupt(corpus, settings, embedder):
    ingest([corpus], settings.index, lambda: embedder, progress=False)
    assistant = Assistant(settings.answer, embedder=embedder)
    served = assistant.snapshot.index.name
    # A newer, broken generation gets published (disk error, hand edit...).
    (corpus / "nouveau.md").write_text("# Nouveau\n\nLe verger compte trente pommiers.\n", "utf-8")
    ingest([corpus], settings.index, lambda: embedder, progress=False)
    broken = store.current_generation(settings.index_dir)
    (broken / store.FAISS).write_bytes(b"\0" * 64)
    for _ in range(3):
        assistant.refresh_if_changed()
        answer = assistant.ask("Combien de salariés compte la coopérative ?")
        assert answer.status == "answered" and answer.index.version == served
    assert assistant.reload_error == "IndexUnavailable"


def test_two_ingests_at_once_are_serialised(corpus, settings, embedder):
    ingest([corpus], settings.index, lambda: embedder, progress=False)
    for i in range(6):
        (corpus / f"ajout-{i}.md").write_text(f"# Ajout {i}\n\nLe verger numéro {i} a des pommiers.\n")
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "bot", "ingest", str(corpus)],
            env=os.environ | {"ALLIANCE_INDEX_DIR": str(settings.index_dir)},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    index = store.load_current(settings.index_dir)
    sources = [c.source for c in index.chunks]
    assert set(index.documents) == {f"docs/{n}" for n in [*DOCS, *(f"ajout-{i}.md" for i in range(6))]}
    assert len(set(sources)) == len(index.documents)  # each document's chunks, once
    assert len(sources) == len({(c.source, c.char_start) for c in index.chunks})
    assert generations(settings.index_dir) == [index.name]


def test_a_waiting_ingest_gives_up_with_a_clear_message(corpus, settings, embedder):
    with store.IngestLock(settings.index_dir, wait=0):
        with pytest.raises(store.IngestBusy, match="Un autre ingest est en cours"):
            ingest([corpus], settings.index, lambda: embedder, progress=False, wait=0.2)


def test_garbage_collection_spares_a_loaded_generation(corpus, settings, embedder):
    ingest([corpus], settings.index, lambda: embedder, progress=False)
    loaded = store.load_current(settings.index_dir)  # a live snapshot holds its lease
    (corpus / "nouveau.md").write_text("# Nouveau\n\nLe verger compte trente pommiers.\n", "utf-8")
    ingest([corpus], settings.index, lambda: embedder, progress=False)
    assert loaded.generation.is_dir() and len(generations(settings.index_dir)) == 2
    del loaded
    gc.collect()
    (corpus / "nouveau.md").write_text("# Nouveau\n\nLe verger compte quarante pommiers.\n", "utf-8")
    ingest([corpus], settings.index, lambda: embedder, progress=False)
    assert generations(settings.index_dir) == [store.current_generation(settings.index_dir).name]


def test_empty_first_ingest_publishes_nothing(tmp_path, settings, embedder):
    empty = tmp_path / "vide"
    empty.mkdir()
    with pytest.raises(IndexUnavailable, match="Aucun document lisible"):
        ingest([empty], settings.index, lambda: embedder, progress=False)
    assert not store.has_index(settings.index_dir)
    summary = ingest([settings.documents_dir], settings.index, lambda: embedder, progress=False)
    assert summary.chunks > 0  # a later ingest is not refused


def test_unreadable_file_keeps_its_indexed_version(corpus, settings, embedder):
    ingest([corpus], settings.index, lambda: embedder, progress=False)
    (corpus / "equipe.md").write_bytes(b"\0\1\2\3" * 200)  # now unreadable (binary)
    summary = ingest([corpus], settings.index, lambda: embedder, progress=False)
    assert summary.kept == ["docs/equipe.md"] and summary.removed == []
    assert [s.source for s in summary.skipped] == ["docs/equipe.md"]
    index = store.load_current(settings.index_dir)
    assert "douze" in index.documents["docs/equipe.md"].text
    (corpus / "equipe.md").unlink()  # gone for real: removed
    assert ingest([corpus], settings.index, lambda: embedder, progress=False).removed == ["docs/equipe.md"]


def test_disk_full_leaves_no_staging_and_the_previous_index(corpus, settings, embedder, monkeypatch):
    ingest([corpus], settings.index, lambda: embedder, progress=False)
    before = (settings.index_dir / store.CURRENT).read_text()
    (corpus / "nouveau.md").write_text("# Nouveau\n\nLe verger compte trente pommiers.\n", "utf-8")

    def full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(store.BM25, "save", full)  # the last file of a generation
    with pytest.raises(IndexUnavailable, match="Espace disque insuffisant"):
        ingest([corpus], settings.index, lambda: embedder, progress=False)
    assert (settings.index_dir / store.CURRENT).read_text() == before
    assert not [p for p in settings.index_dir.iterdir() if p.name.startswith(".staging-")]


def test_published_files_are_complete_and_consistent(corpus, settings, embedder):
    ingest([corpus], settings.index, lambda: embedder, progress=False)
    generation = store.current_generation(settings.index_dir)
    assert {p.name for p in generation.iterdir()} >= {store.SQLITE, store.FAISS, store.LEASE}
    db = sqlite3.connect(generation / store.SQLITE)
    assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    db.close()
