"""A second server with other settings than the session's `live_server` (each start costs
about 20 s on the shared machine, so one server carries all of them), and a real uvicorn in
this process for the tests that watch the app's own objects."""

from __future__ import annotations

import contextlib
import shutil
import socket
import threading
import time

import pytest
import uvicorn

from tests.servers import start_server, stop_server


@contextlib.contextmanager
def served(app):
    """`app` on a real uvicorn on 127.0.0.1, in a thread of this process; yields its URL."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture(scope="session")
def guarded_server(assistant, settings, tmp_path_factory):
    """3 questions a minute per client, one allowed CORS origin, 127.0.0.2 as the one trusted
    proxy (tests connecting from it pick their identity with X-Forwarded-For, so their own
    rate-limit bucket), a request head must arrive within 2 s and a body within 1 s, 8
    connections at once. Serves its own copy of the index, which a test may break."""
    index_dir = tmp_path_factory.mktemp("guarded") / "index"
    shutil.copytree(settings.index_dir, index_dir)
    proc, url = start_server(
        index_dir,
        settings.documents_dir,
        ALLIANCE_RATE_LIMIT="3",
        ALLIANCE_CORS_ORIGINS="https://partenaire.example",
        ALLIANCE_TRUSTED_PROXIES="127.0.0.2",
        ALLIANCE_BODY_READ_TIMEOUT="1",
        ALLIANCE_HEAD_READ_TIMEOUT="2",
        ALLIANCE_LIMIT_CONCURRENCY="8",
    )
    yield url, index_dir
    stop_server(proc)


@pytest.fixture(scope="session")
def strict_server(guarded_server):
    """Clients identified by their socket (127.0.0.1 is not a trusted proxy), 3 a minute."""
    return guarded_server[0]


API_KEY = "sk-test-clients-0123456789"


@pytest.fixture(scope="session")
def keyed_server(assistant, settings):
    """The clients' routes behind keys (two of them), 3 questions a minute per client;
    127.0.0.1 is a trusted proxy, so each test picks its own client with X-Forwarded-For."""
    proc, url = start_server(
        settings.index_dir,
        settings.documents_dir,
        ALLIANCE_RATE_LIMIT="3",
        ALLIANCE_API_KEYS=f"other-key, {API_KEY}",
        ALLIANCE_TRUSTED_PROXIES="127.0.0.1",
    )
    yield url
    stop_server(proc)
