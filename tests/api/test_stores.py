"""Answers never depend on the optional stores: a real server while its real Redis or real
PostgreSQL is absent, frozen (SIGSTOP) or stopped, and what the log holds afterwards."""

from __future__ import annotations

import contextlib
import shutil
import signal
import threading
import time
import uuid

import httpx
import pytest

from tests.servers import start_redis, start_server, stop_server

QUESTION = "Quel objectif de développement durable le Groupe veut-il éclairer ?"
# Each answer within this many seconds: a frozen store used to cost 5 s (Redis) or 20 s (votes).
# The bench (bench/chaos.py) measures the 1 s target on a quiet machine; a test on a loaded one
# keeps a margin.
SLOW = 2.5


def timed_ask(url: str, question: str = QUESTION) -> tuple[int, float, str | None]:
    began = time.monotonic()
    r = httpx.post(f"{url}/ask", json={"question": question}, timeout=30)
    answer_id = r.json().get("id") if r.status_code == 200 else None
    return r.status_code, time.monotonic() - began, answer_id


def health(url: str) -> dict:
    r = httpx.get(f"{url}/health", timeout=10)
    assert r.status_code == 200
    return r.json()


@pytest.fixture
def redis_server(tmp_path):
    """A real redis-server on a free port; yields (process, URL)."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed")
    proc, url = start_redis(tmp_path)
    yield proc, url
    proc.send_signal(signal.SIGCONT)
    proc.kill()
    proc.wait(timeout=10)


def test_questions_are_answered_while_redis_is_frozen_or_killed(assistant, settings, redis_server, tmp_path):
    """Every /ask got 500 with Redis absent or killed, after 5 s each with Redis frozen."""
    redis, redis_url = redis_server
    proc, url = start_server(
        settings.index_dir,
        settings.documents_dir,
        ALLIANCE_REDIS_URL=redis_url,
        ALLIANCE_RATE_LIMIT="1000",
        ALLIANCE_DATA_DIR=str(tmp_path / "data"),
    )
    try:
        assert timed_ask(url)[0] == 200 and health(url)["status"] == "ready"
        results = {}
        redis.send_signal(signal.SIGSTOP)
        results["frozen"] = [timed_ask(url) for _ in range(6)]
        assert health(url)["status"] == "degraded"
        redis.kill()
        redis.wait(timeout=10)
        time.sleep(5.5)  # past the retry pause: Redis is tried again, and refused
        results["killed"] = [timed_ask(url) for _ in range(6)]
        for phase, rows in results.items():
            assert [status for status, _, _ in rows] == [200] * 6, phase
            assert max(seconds for _, seconds, _ in rows) < SLOW, (phase, rows)
        reasons = health(url)["reasons"]
        assert any("rate-limit" in reason for reason in reasons)
        metrics = httpx.get(f"{url}/metrics", timeout=10).text
        fallbacks = next(
            line for line in metrics.splitlines() if line.startswith("alliance_ratelimit_fallback_total")
        )
        assert float(fallbacks.split()[-1]) >= 11
    finally:
        stop_server(proc)


def count_logged(database_url: str, ids: list[str]) -> int:
    from sqlalchemy import create_engine, select
    from sqlalchemy.exc import ProgrammingError

    from bot.operator.log.tables import answers

    engine = create_engine(database_url, connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as db:
            return len(db.execute(select(answers.c.id).where(answers.c.id.in_(ids))).all())
    except ProgrammingError:  # the server has not created the tables yet
        return 0
    finally:
        engine.dispose()


def vote(url: str, answer_id: str, http=httpx) -> tuple[httpx.Response, float]:
    began = time.monotonic()
    r = http.post(f"{url}/feedback", json={"answer_id": answer_id, "rating": "up"}, timeout=30)
    return r, time.monotonic() - began


def test_questions_are_answered_and_logged_through_postgresql_outages(assistant, settings, tmp_path):
    """PostgreSQL down at start (the server never started), frozen (votes hung, then /ask),
    stopped (answers lost): now every question is answered and every answer is logged."""
    from tests.postgres import Cluster, postgres_missing_reason

    if (reason := postgres_missing_reason()) is not None:
        pytest.skip(reason)
    cluster = Cluster()
    database_url = cluster.init()  # not started: down when the server starts
    proc = None
    sent: list[str] = []
    try:
        proc, url = start_server(
            settings.index_dir,
            settings.documents_dir,
            ALLIANCE_DATABASE_URL=database_url,
            ALLIANCE_RATE_LIMIT="0",
            ALLIANCE_LIMIT_PER_CLIENT="100",  # 45 votes at once from here
            ALLIANCE_DATA_DIR=str(tmp_path / "data"),
        )

        def phase(name: str) -> None:
            rows = [timed_ask(url) for _ in range(5)]
            assert [status for status, _, _ in rows] == [200] * 5, name
            assert max(seconds for _, seconds, _ in rows) < SLOW, (name, rows)
            sent.extend(answer_id for _, _, answer_id in rows)

        phase("down at start")
        status = health(url)
        assert status["status"] == "degraded" and "log database" in status["reasons"][0]
        cluster.resume()

        cluster.signal_all(signal.SIGSTOP)
        try:
            phase("frozen")
            r, seconds = vote(url, sent[-1])
            assert r.status_code == 503 and r.json()["code"] == "log_unavailable", r.text
            assert int(r.headers["retry-after"]) > 0 and seconds < 5
            # 45 votes at once no longer take the worker threads that questions need.
            with httpx.Client(limits=httpx.Limits(max_connections=50)) as http:
                votes = [threading.Thread(target=vote, args=(url, sent[-1], http)) for _ in range(45)]
                for t in votes:
                    t.start()
                time.sleep(0.5)  # all sent: the server holds them, or has refused them
                phase("frozen, 45 votes sent")
                for t in votes:
                    t.join()
        finally:
            cluster.signal_all(signal.SIGCONT)

        cluster.pause()
        phase("stopped")
        cluster.resume()

        deadline = time.monotonic() + 60
        while count_logged(database_url, sent) < len(sent) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert count_logged(database_url, sent) == len(sent) == 20
        assert (
            httpx.post(
                f"{url}/feedback", json={"answer_id": sent[0], "rating": "down"}, timeout=30
            ).status_code
            == 200
        )
        assert health(url)["status"] == "ready"
        fake = str(uuid.uuid4())
        assert vote(url, fake)[0].status_code == 404
    finally:
        if proc is not None:
            stop_server(proc)
        cluster.stop()


class FullDisk:
    """The log's folder, on a 4 MB tmpfs of its own filled with zeros where this process may
    mount one (root); elsewhere a server whose file-size limit (RLIMIT_FSIZE, set from outside
    with prlimit) drops to 0: every write to a file then fails, as on a full disk."""

    def __init__(self, folder):
        import os
        import subprocess

        self.folder = folder
        folder.mkdir()
        self.mounted = (
            os.geteuid() == 0
            and (
                subprocess.run(
                    ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(folder)], capture_output=True
                )
            ).returncode
            == 0
        )

    def fill(self, pid: int) -> None:
        import errno
        import resource

        if not self.mounted:
            resource.prlimit(pid, resource.RLIMIT_FSIZE, (0, resource.RLIM_INFINITY))
            return
        with open(self.folder / "filler", "wb", buffering=0) as f:
            for size in (65536, 4096, 512, 1):  # down to the last byte
                try:
                    while True:
                        f.write(b"\0" * size)
                except OSError as e:
                    assert e.errno == errno.ENOSPC

    def free(self, pid: int) -> None:
        import resource

        if self.mounted:
            (self.folder / "filler").unlink()
        else:
            resource.prlimit(pid, resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))

    def close(self) -> None:
        import subprocess

        if self.mounted:
            subprocess.run(["umount", "-l", str(self.folder)], check=False)


@pytest.fixture
def full_disk(tmp_path):
    disk = FullDisk(tmp_path / "disk")
    yield disk
    disk.close()


def test_answers_asked_while_the_log_disk_is_full_are_all_logged_once_space_returns(
    assistant, settings, full_disk
):
    """With the SQLite log on a full disk, 21 of 26 answers were never logged, each with a
    traceback. Now they wait in memory (within the pending file's bound), /health says so, and
    they are written when space returns."""
    small_disk = full_disk.folder
    proc, url = start_server(
        settings.index_dir, settings.documents_dir, ALLIANCE_RATE_LIMIT="0", ALLIANCE_DATA_DIR=str(small_disk)
    )

    def count(ids: list[str]) -> int:
        import sqlite3

        with contextlib.closing(sqlite3.connect(small_disk / "log.sqlite", timeout=5)) as db:
            marks = ",".join("?" * len(ids))
            return db.execute(f"SELECT count(*) FROM answers WHERE id IN ({marks})", ids).fetchone()[0]

    try:
        status, _, first = timed_ask(url)
        assert status == 200
        deadline = time.monotonic() + 10
        while count([first]) < 1 and time.monotonic() < deadline:
            time.sleep(0.2)
        full_disk.fill(proc.pid)
        sent = []
        for i in range(26):
            status, _, answer_id = timed_ask(url, f"{QUESTION} ({i})")
            assert status == 200
            sent.append(answer_id)
        deadline = time.monotonic() + 10
        while not health(url)["log"]["in_memory"] and time.monotonic() < deadline:
            time.sleep(0.2)
        full = health(url)
        assert full["status"] == "degraded" and full["log"]["in_memory"] > 0, full
        assert any("in memory" in reason for reason in full["reasons"]), full
        assert full["log"]["dropped"] == 0

        full_disk.free(proc.pid)
        deadline = time.monotonic() + 60
        while count(sent) < len(sent) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert count(sent) == len(sent) == 26
        deadline = time.monotonic() + 15
        while health(url)["status"] != "ready" and time.monotonic() < deadline:
            time.sleep(0.5)
        after = health(url)
        assert after["status"] == "ready" and after["log"]["pending"] == 0, after
    finally:
        stop_server(proc)
    errors = proc.stderr.read()
    assert "Traceback" not in errors, errors[-3000:]
