"""Two `serve` replicas on 127.0.0.1 sharing one index directory, PostgreSQL and Redis.

Clients are told apart by X-Forwarded-For, which the replicas believe from 127.0.0.1 only
because `ALLIANCE_TRUSTED_PROXIES` says so (as behind the reverse proxy of deploy/).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.servers import start_redis, start_server, stop_server

TOKEN = "replica-admin-token-0123456789"
REDIS_SERVER = Path(shutil.which("redis-server") or "/usr/bin/redis-server")


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory):
    if not REDIS_SERVER.exists():
        pytest.skip("redis-server is missing: `apt-get install -y redis-server`")
    proc, url = start_redis(tmp_path_factory.mktemp("redis"))
    yield url
    stop_server(proc)


@pytest.fixture(scope="module")
def replicas(assistant, settings, postgres_url, redis_url, tmp_path_factory):
    """Index and corpus copied to a shared folder; two replicas serving them."""
    shared = tmp_path_factory.mktemp("shared")
    corpus = shared / "documents"
    shutil.copytree(settings.documents_dir, corpus)
    env = os.environ | {"ALLIANCE_INDEX_DIR": str(shared / "index")}
    subprocess.run(
        [sys.executable, "-m", "bot", "ingest", str(corpus)],
        env=env,
        check=True,
        capture_output=True,
        timeout=600,
    )
    common = {
        "ALLIANCE_DATABASE_URL": postgres_url,
        "ALLIANCE_REDIS_URL": redis_url,
        "ALLIANCE_RATE_LIMIT": "20",
        "ALLIANCE_TRUSTED_PROXIES": "127.0.0.1",
        "ALLIANCE_ADMIN_TOKEN": TOKEN,
    }
    servers = [
        start_server(shared / "index", corpus, ALLIANCE_DATA_DIR=str(shared / f"data-{i}"), **common)
        for i in range(2)
    ]
    yield [url for _, url in servers], [proc for proc, _ in servers], corpus, env
    for proc, _ in servers:
        if proc.poll() is None:
            stop_server(proc)


def ask(url: str, question: str, client: str) -> httpx.Response:
    return httpx.post(
        f"{url}/ask", json={"question": question}, headers={"X-Forwarded-For": client}, timeout=60
    )


def test_rate_limit_holds_across_replicas(replicas):
    urls, _, _, _ = replicas
    codes = [
        ask(urls[i % 2], "Qui a lancé l'Alliance Dynamique ?", "203.0.113.10").status_code for i in range(40)
    ]
    assert set(codes) <= {200, 429}
    assert abs(codes.count(429) - 20) <= 1, codes
    # Another visitor behind the same proxy has a bucket of its own.
    assert ask(urls[1], "Qui a lancé l'Alliance Dynamique ?", "203.0.113.11").status_code == 200


def test_feedback_given_through_one_replica_is_in_the_other_ones_report(replicas):
    urls, _, _, _ = replicas
    answer = ask(urls[0], "En quelle année l'Alliance Dynamique a-t-elle été créée ?", "203.0.113.20")
    answer_id = answer.json()["id"]
    vote = httpx.post(
        f"{urls[0]}/feedback",
        headers={"X-Forwarded-For": "203.0.113.20"},
        json={"answer_id": answer_id, "rating": "down", "comment": "vu par l'autre réplique"},
    )
    assert vote.status_code in (200, 201, 204), vote.text
    report = httpx.get(
        f"{urls[1]}/admin/report",
        params={"format": "json"},
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=120,
    ).json()
    comments = [c for d in report["most_downvoted"] for c in d["comments"]]
    assert "vu par l'autre réplique" in str(comments)


def test_a_published_ingest_is_served_by_both_within_5_s(replicas):
    urls, _, corpus, env = replicas
    (corpus / "verger.md").write_text(
        "---\ntitle: Le verger partagé\n---\n\n# Le verger partagé\n\n"
        "Le verger partagé de l'Alliance compte exactement quarante-deux pommiers.\n",
        "utf-8",
    )
    subprocess.run(
        [sys.executable, "-m", "bot", "ingest", str(corpus)],
        env=env,
        check=True,
        capture_output=True,
        timeout=600,
    )
    published = time.monotonic()
    seen, failures, i = set(), 0, 0
    while len(seen) < 2 and time.monotonic() - published < 30:
        url = urls[i % 2]
        r = ask(url, "Combien de pommiers compte le verger partagé ?", f"198.51.100.{i % 250}")
        i += 1
        if r.status_code != 200:
            failures += 1
            continue
        if any(c["source"].endswith("verger.md") for c in r.json()["citations"]):
            seen.add(url)
    elapsed = time.monotonic() - published
    assert seen == set(urls) and failures == 0
    assert elapsed <= 5, f"both replicas answered from the new generation after {elapsed:.1f} s"


def test_kill_9_of_a_replica_loses_no_acknowledged_feedback(replicas):
    urls, procs, _, _ = replicas
    acknowledged = []
    for i in range(5):
        client = f"192.0.2.{i + 1}"
        answer_id = ask(urls[0], "Qui a lancé l'Alliance Dynamique ?", client).json()["id"]
        vote = httpx.post(
            f"{urls[0]}/feedback",
            headers={"X-Forwarded-For": client},
            json={"answer_id": answer_id, "rating": "down", "comment": f"avis {i}"},
        )
        if vote.status_code < 300:
            acknowledged.append(f"avis {i}")
    procs[0].send_signal(signal.SIGKILL)
    procs[0].wait()
    report = httpx.get(
        f"{urls[1]}/admin/report",
        params={"format": "json"},
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=120,
    ).json()
    comments = str([d["comments"] for d in report["most_downvoted"]])
    assert acknowledged and all(c in comments for c in acknowledged)
