"""Shared fixtures: one real model, one small real index and one real server per session."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bot.config import REPO_ROOT, Settings
from tests.servers import start_server, stop_server

SHARED = REPO_ROOT.parent / "shared"


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not SHARED.is_dir():
        pytest.skip(f"{SHARED} (evaluation data) is not present")
    return SHARED


@pytest.fixture(scope="session")
def e5_cache(tmp_path_factory) -> Path:
    """A fresh, empty model cache for the tests of building and loading the model."""
    return tmp_path_factory.mktemp("model-cache")


@pytest.fixture(scope="session")
def built(e5_cache) -> Path:
    """One real conversion and ONNX export per session, into the fresh cache."""
    from bot.embedding.build.cache import ensure_model
    from bot.embedding.build.onnx_export import ensure_onnx

    directory = ensure_model(e5_cache)
    ensure_onnx(directory)
    return directory


@pytest.fixture(scope="session")
def embedder():
    """The default model and backend (converted multilingual-e5-small, int8 ONNX), built
    once in the user cache."""
    from bot.embedding import load_embedder

    return load_embedder(Settings().embedding)


@pytest.fixture(scope="session")
def corpus_dir(tmp_path_factory) -> Path:
    """A copy of the default corpus, so tests never touch the repository's files."""
    target = tmp_path_factory.mktemp("corpus") / "documents"
    shutil.copytree(REPO_ROOT / "documents", target)
    return target


@pytest.fixture(scope="session")
def settings(tmp_path_factory, corpus_dir) -> Settings:
    return Settings(index_dir=tmp_path_factory.mktemp("index"), documents_dir=corpus_dir)


@pytest.fixture(scope="session")
def assistant(settings, embedder):
    """An assistant over the default corpus, indexed once for the session."""
    from bot.answer.assistant import Assistant
    from bot.ingest.pipeline import ingest

    ingest([settings.documents_dir], settings.index, lambda: embedder, progress=False)
    return Assistant(settings.answer, embedder=embedder)


@pytest.fixture(scope="session")
def live_server(assistant, settings):
    """A real uvicorn serving the app on the session's index, rate limit off."""
    proc, url = start_server(settings.index_dir, settings.documents_dir, ALLIANCE_RATE_LIMIT="0")
    yield url
    stop_server(proc)


@pytest.fixture(scope="session")
def postgres_url():
    """A throwaway PostgreSQL cluster for the session (skipped when PostgreSQL is not installed)."""
    from tests.postgres import Cluster, postgres_missing_reason

    if (reason := postgres_missing_reason()) is not None:
        pytest.skip(reason)
    cluster = Cluster()
    yield cluster.start()
    cluster.stop()


@pytest.fixture(scope="session")
def pgvector_url(tmp_path_factory):
    """A throwaway PostgreSQL 16 with pgvector for the session, from the `pgserver` package
    (Debian's PostgreSQL here has no pgvector); skipped when pgserver is not installed."""
    pgserver = pytest.importorskip("pgserver")
    server = pgserver.get_server(tmp_path_factory.mktemp("pgvector"), cleanup_mode="stop")
    yield server.get_uri()
    server.cleanup()


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def database_url(request, tmp_path_factory) -> str:
    """The log's database: a SQLite file, then a PostgreSQL cluster (every log test runs on both)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path_factory.mktemp('log') / 'log.sqlite'}"
    return request.getfixturevalue("postgres_url")


ADMIN_TOKEN = "test-admin-token-0123456789"


@pytest.fixture(scope="session")
def operator_server(assistant, settings, tmp_path_factory):
    """A real server with the admin routes on (token ADMIN_TOKEN) and its own SQLite log and data
    folder (uploads go there). Yields (url, data_dir)."""
    data = tmp_path_factory.mktemp("operator-data")
    index = tmp_path_factory.mktemp("operator-index") / "index"
    shutil.copytree(settings.index_dir, index)  # its uploads never touch the session's index
    proc, url = start_server(
        index,
        settings.documents_dir,
        ALLIANCE_RATE_LIMIT="0",
        ALLIANCE_ADMIN_TOKEN=ADMIN_TOKEN,
        ALLIANCE_DATA_DIR=str(data),
    )
    yield url, data
    stop_server(proc)
