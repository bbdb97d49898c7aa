"""Shared fixtures: one real model, one small real index and one real server per session."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from bot.config import REPO_ROOT, Settings

SHARED = REPO_ROOT.parent / "shared"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not SHARED.is_dir():
        pytest.skip(f"{SHARED} (evaluation data) is not present")
    return SHARED


@pytest.fixture(scope="session")
def embedder():
    """The default model (converted multilingual-e5-small), built once in the user cache."""
    from bot.embedding import load_embedder

    return load_embedder(Settings())


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
    from bot.assistant import Assistant
    from bot.ingest import ingest

    ingest([settings.documents_dir], settings, lambda: embedder, progress=False)
    return Assistant(settings, embedder=embedder)


def start_server(index_dir: Path, documents_dir: Path, **env: str) -> tuple[subprocess.Popen, str]:
    """`alliance-bot serve` in its own process on 127.0.0.1, waited for until /health is ready."""
    port = _free_port()
    environ = os.environ | {
        "ALLIANCE_INDEX_DIR": str(index_dir),
        "ALLIANCE_DOCUMENTS_DIR": str(documents_dir),
        **env,
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot", "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=environ, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {proc.stderr.read()[-2000:]}")
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    proc.kill()
    raise RuntimeError("server did not become ready in 120 s")


def stop_server(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture(scope="session")
def live_server(assistant, settings):
    """A real uvicorn serving the app on the session's index, rate limit off."""
    proc, url = start_server(settings.index_dir, settings.documents_dir, ALLIANCE_RATE_LIMIT="0")
    yield url
    stop_server(proc)
