"""Issue 20's twelve faults against a real server, real PostgreSQL and real Redis; prints a table.

    python bench/chaos.py [--slowloris-seconds 25] [--connections 210] [--asks 20]

Indexes the repository's documents/ in a temporary folder, then, each on its own server:
1. slowloris: `--connections` half-sent heads from 127.0.0.1, re-opened as they are closed,
   while another client (127.0.0.3) asks /health every 0.2 s;
2-4. Redis absent, frozen (SIGSTOP), killed; PostgreSQL down at start, frozen, stopped:
   `--asks` questions each, the share answered 200 within 1 s and the p99, the votes' status,
   and after recovery the answers sent and the answers stored;
5-12. on a server whose only document is an upload: a `javascript:` link and the pages'
   headers, ESC sequences in a question printed by `alliance-bot report`, a corrupt re-upload,
   removing the last document, /metrics lines after 1,000 random methods and paths, a
   200,000-level nested HTML upload (with /health polled meanwhile), a malformed eval file,
   and an upload larger than the server may write (RLIMIT_FSIZE, the same errno as a full disk);
13. (issue 28) a NUL question through MCP with a PostgreSQL log: refused, the answers after it
   logged; and a row PostgreSQL refuses fed to the log writer: set aside, the rows behind written.


Issue 28's crawl rows (`--only crawl`, no server, no model), each a crawl of the hostile
site of tests/crawl/site.py in a process of its own (tests/crawl/hostile.py): a brotli bomb
and a stacked-gzip bomb (200 MB each) under the default 10 MB page limit, peak resident
memory over the crawl's start; a server sending its headers one byte a second, under the
default 30 s deadline for a whole response.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bot.config import REPO_ROOT  # noqa: E402
from bot.crawl.fetch import REQUEST_SECONDS  # noqa: E402
from bot.crawl.limits import DEFAULT_MAX_BYTES  # noqa: E402
from tests.api.test_guards import Slowloris  # noqa: E402
from tests.api.test_mcp import rpc  # noqa: E402
from tests.crawl.hostile import measure  # noqa: E402
from tests.postgres import Cluster  # noqa: E402
from tests.servers import _free_port, start_redis, start_server, stop_server  # noqa: E402

QUESTION = "Quel objectif de développement durable le Groupe veut-il éclairer ?"
TOKEN = "chaos-admin-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
FILE_LIMIT = 1024 * 1024
ESC_BEL = "\x1b\x07"
LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
rows: list[tuple[str, str, str]] = []


def row(case: str, measured: str, target: str = "") -> None:
    rows.append((case, measured, target))
    print(f"  {case}: {measured}", file=sys.stderr)


def asks(url: str, n: int) -> tuple[list[int], list[float], list[str]]:
    statuses, seconds, ids = [], [], []
    with httpx.Client(timeout=30) as http:
        for i in range(n):
            began = time.monotonic()
            try:
                r = http.post(f"{url}/ask", json={"question": f"{QUESTION} ({i})"})
                statuses.append(r.status_code)
                if r.status_code == 200:
                    ids.append(r.json()["id"])
            except httpx.HTTPError:
                statuses.append(0)
            seconds.append(time.monotonic() - began)
    return statuses, seconds, ids


def p99(values: list[float]) -> float:
    return sorted(values)[max(0, int(len(values) * 0.99 + 0.5) - 1)] if values else float("nan")


def ask_row(name: str, statuses: list[int], seconds: list[float]) -> None:
    fast = sum(s == 200 and t < 1 for s, t in zip(statuses, seconds, strict=True))
    row(
        name,
        f"{fast}/{len(statuses)} answered 200 within 1 s; p99 {p99(seconds) * 1000:.0f} ms; "
        f"median {statistics.median(seconds) * 1000:.0f} ms",
        "100 %, each < 1 s",
    )


def slowloris(index: Path, docs: Path, seconds: float, connections: int) -> None:
    proc, url = start_server(index, docs, ALLIANCE_RATE_LIMIT="0")
    statuses: list = []
    try:
        with Slowloris(url, connections) as attack:
            time.sleep(1)
            with httpx.Client(transport=httpx.HTTPTransport(local_address="127.0.0.3"), timeout=10) as other:
                deadline = time.monotonic() + seconds
                while time.monotonic() < deadline:
                    try:
                        statuses.append(other.get(f"{url}/health").status_code)
                    except httpx.HTTPError as e:
                        statuses.append(type(e).__name__)
                    time.sleep(0.2)
    finally:
        stop_server(proc)
    ok = statuses.count(200)
    row(
        f"1. slowloris: {connections} half-sent heads from one client for {seconds:.0f} s "
        f"({attack.opened} opened)",
        f"other client: {ok}/{len(statuses)} × 200 ({100 * ok / max(len(statuses), 1):.1f} %)",
        ">= 99 %",
    )


def redis_faults(index: Path, docs: Path, data: Path, n: int) -> None:
    port = _free_port()
    url_redis = f"redis://127.0.0.1:{port}/0"
    proc, url = start_server(
        index,
        docs,
        ALLIANCE_REDIS_URL=url_redis,
        ALLIANCE_RATE_LIMIT="100000",
        ALLIANCE_DATA_DIR=str(data / "redis"),
    )
    redis = None
    try:
        ask_row("2. Redis absent (URL set, nothing listening)", *asks(url, n)[:2])
        redis, _ = start_redis(data, port)
        time.sleep(6)  # past the limiter's retry pause: Redis is used again
        ask_row("2. Redis up", *asks(url, n)[:2])
        redis.send_signal(signal.SIGSTOP)
        ask_row("2. Redis frozen (SIGSTOP)", *asks(url, n)[:2])
        health = httpx.get(f"{url}/health", timeout=10).json()
        row("2. /health while Redis is frozen", f"{health['status']}: {'; '.join(health['reasons'])}")
        redis.kill()
        redis.wait()
        time.sleep(5.5)
        ask_row("2. Redis killed", *asks(url, n)[:2])
        metric = next(
            line
            for line in httpx.get(f"{url}/metrics", timeout=10).text.splitlines()
            if line.startswith("alliance_ratelimit_fallback_total")
        )
        row("2. limiter checks made in memory", metric.split()[-1])
    finally:
        stop_server(proc)
        if redis is not None and redis.poll() is None:
            redis.send_signal(signal.SIGCONT)
            redis.kill()


def stored(database_url: str, ids: list[str]) -> int:
    from sqlalchemy import create_engine, select
    from sqlalchemy.exc import ProgrammingError

    from bot.operator.log.tables import answers

    engine = create_engine(database_url)
    try:
        with engine.connect() as db:
            return len(db.execute(select(answers.c.id).where(answers.c.id.in_(ids))).all())
    except ProgrammingError:  # the server has not created the tables yet
        return 0
    finally:
        engine.dispose()


def postgres_faults(index: Path, docs: Path, data: Path, n: int) -> None:
    cluster = Cluster()
    database_url = cluster.init()
    sent: list[str] = []
    proc = None
    try:
        began = time.monotonic()
        proc, url = start_server(
            index,
            docs,
            ALLIANCE_DATABASE_URL=database_url,
            ALLIANCE_RATE_LIMIT="0",
            ALLIANCE_LIMIT_PER_CLIENT="100",
            ALLIANCE_DATA_DIR=str(data / "pg"),
        )
        row("3-4. server start with PostgreSQL down", f"ready in {time.monotonic() - began:.0f} s")
        statuses, seconds, ids = asks(url, n)
        sent += ids
        ask_row("4. PostgreSQL down at start", statuses, seconds)
        cluster.resume()
        cluster.signal_all(signal.SIGSTOP)
        try:
            statuses, seconds, ids = asks(url, n)
            sent += ids
            ask_row("3. PostgreSQL frozen (SIGSTOP)", statuses, seconds)
            t = time.monotonic()
            r = httpx.post(f"{url}/feedback", json={"answer_id": sent[-1], "rating": "up"}, timeout=60)
            row(
                "3. a vote while it is frozen",
                f"{r.status_code} {r.json().get('code')} in "
                f"{time.monotonic() - t:.1f} s, Retry-After {r.headers.get('retry-after')}",
                "503 with Retry-After, no hang",
            )
            with httpx.Client(limits=httpx.Limits(max_connections=50), timeout=60) as http:
                votes = [
                    threading.Thread(
                        target=http.post,
                        args=(f"{url}/feedback",),
                        kwargs={"json": {"answer_id": sent[-1], "rating": "up"}},
                    )
                    for _ in range(45)
                ]
                for v in votes:
                    v.start()
                time.sleep(0.5)
                statuses, seconds, ids = asks(url, n)
                sent += ids
                for v in votes:
                    v.join()
            ask_row("3. PostgreSQL frozen, 45 votes sent at once", statuses, seconds)
            health = httpx.get(f"{url}/health", timeout=10).json()
            row(
                "3. /health while PostgreSQL is frozen", f"{health['status']}: {'; '.join(health['reasons'])}"
            )
        finally:
            cluster.signal_all(signal.SIGCONT)
        cluster.pause()
        statuses, seconds, ids = asks(url, n)
        sent += ids
        ask_row("3. PostgreSQL stopped (pg_ctl stop -m fast)", statuses, seconds)
        cluster.resume()
        t = time.monotonic()
        while stored(database_url, sent) < len(sent) and time.monotonic() - t < 120:
            time.sleep(0.5)
        row(
            "3-4. answers sent during the outages / stored after recovery",
            f"{len(sent)} / {stored(database_url, sent)} (all in {time.monotonic() - t:.1f} s)",
            "equal",
        )
    finally:
        if proc is not None:
            stop_server(proc)
        cluster.stop()


def small_files() -> None:
    resource.setrlimit(resource.RLIMIT_FSIZE, (FILE_LIMIT, FILE_LIMIT))


def upload(url: str, name: str, body: bytes) -> httpx.Response:
    return httpx.post(
        f"{url}/admin/documents", params={"filename": name}, content=body, headers=AUTH, timeout=300
    )


def upload_faults(root: Path) -> None:
    data, index = root / "data", root / "index-uploads"
    uploads = data / "uploads"
    uploads.mkdir(parents=True)
    keep = "# Le verger\n\nLe verger de Tilleul compte quarante-deux pommiers depuis 2019.\n"
    (uploads / "keep.md").write_text(keep, encoding="utf-8")
    env = os.environ | {"ALLIANCE_INDEX_DIR": str(index), "ALLIANCE_DATA_DIR": str(data)}
    subprocess.run(
        [sys.executable, "-m", "bot", "ingest", str(uploads)], env=env, check=True, capture_output=True
    )
    proc, url = start_server(
        index,
        uploads,
        preexec_fn=small_files,
        ALLIANCE_RATE_LIMIT="0",
        ALLIANCE_ADMIN_TOKEN=TOKEN,
        ALLIANCE_DATA_DIR=str(data),
    )
    try:
        r = upload(url, "piege.md", b'---\nurl: "javascript:alert(document.domain)"\n---\n\nUn lien.\n')
        page = httpx.get(f"{url}/sources/uploads/piege.md", timeout=30)
        policy = page.headers.get("content-security-policy", "")
        row(
            "5. `javascript:` URL in front matter",
            f"upload {r.status_code}; link on the page: "
            f"{'javascript:' in page.text}; CSP frame-ancestors 'none': {'frame-ancestors' in policy}; "
            f"nosniff: {page.headers.get('x-content-type-options') == 'nosniff'}",
            "no link; headers sent",
        )
        httpx.delete(f"{url}/admin/documents/uploads/piege.md", headers=AUTH, timeout=300)

        answer_id = httpx.post(
            f"{url}/ask", json={"question": "Question\x1b]0;pwned\x07\x1b[2J ?"}, timeout=60
        ).json()["id"]
        httpx.post(
            f"{url}/feedback",
            timeout=30,
            json={"answer_id": answer_id, "rating": "down", "comment": "\x1b]52;c;ZXZpbA==\x07"},
        )
        time.sleep(1)  # the log's writer thread puts them in the database
        report = subprocess.run(
            [sys.executable, "-m", "bot", "report"], env=env, capture_output=True, text=True
        )
        row(
            "6. ESC sequences in a question and a comment, `alliance-bot report`",
            f"exit {report.returncode}; raw ESC/BEL printed: {any(c in report.stdout for c in ESC_BEL)}",
            "none",
        )

        r = upload(url, "keep.md", random.Random(20).randbytes(3000))
        intact = (uploads / "keep.md").read_text(encoding="utf-8") == keep
        row(
            "7. corrupt re-upload of keep.md",
            f"{r.status_code} {r.json().get('code')}; good file intact: "
            f"{intact}; server path in reply: {str(root) in r.text}",
            "4xx, intact, no path",
        )

        rng = random.Random(9)
        with httpx.Client(timeout=30) as http:

            def send(k: int) -> None:
                for _ in range(k):
                    method = "".join(rng.choice(LETTERS) for _ in range(rng.randint(3, 12)))
                    path = "/" + "".join(rng.choice("abcdefghij/") for _ in range(rng.randint(1, 30)))
                    http.request(method, f"{url}{rng.choice([path, '/ask', '/health'])}")

            send(50)
            http.get(f"{url}/metrics")
            before = len(http.get(f"{url}/metrics").text.splitlines())
            send(1000)
            after = len(http.get(f"{url}/metrics").text.splitlines())
        row(
            "9. /metrics lines before / after 1,000 random methods and paths",
            f"{before} / {after}",
            "unchanged",
        )

        health: list = []
        done = threading.Event()

        def probe() -> None:
            with httpx.Client(timeout=5) as http:
                while not done.is_set():
                    try:
                        health.append(http.get(f"{url}/health").status_code)
                    except httpx.HTTPError as e:
                        health.append(type(e).__name__)
                    time.sleep(0.1)

        prober = threading.Thread(target=probe)
        prober.start()
        t = time.monotonic()
        r = upload(url, "profond.html", b"<html><body>" + b"<div>" * 200_000 + b"x" + b"</div>" * 200_000)
        took = time.monotonic() - t
        done.set()
        prober.join()
        row(
            "10. 200,000-level nested HTML upload (2.2 MB)",
            f"{r.status_code} in {took:.2f} s; /health {health.count(200)}/{len(health)} × 200",
            "refused < 2 s, /health answering",
        )

        big = b"# Gros\n\n" + b"Une phrase du gros fichier.\n\n" * (FILE_LIMIT // 29 + 2000)
        r = upload(url, "gros.md", big)
        left = sorted(p.name for p in uploads.iterdir() if p.name != "keep.md")
        row(
            "12. upload over what the disk takes (RLIMIT_FSIZE 1 MB: EFBIG)",
            f"{r.status_code} {r.json().get('code')}; files left besides keep.md: {left}",
            "no .part left",
        )

        r = httpx.delete(f"{url}/admin/documents/uploads/keep.md", headers=AUTH, timeout=300)
        answer = httpx.post(f"{url}/ask", json={"question": "Combien de pommiers ?"}, timeout=60)
        row(
            "8. DELETE of the last document",
            f"{r.status_code}; /documents "
            f"{len(httpx.get(f'{url}/documents', timeout=30).json())} left; /ask {answer.status_code} "
            f"{answer.json().get('status')}",
            "200; 0; 200 no_answer",
        )
        missing = subprocess.run(
            [sys.executable, "-m", "bot", "ingest", "/nonexistent"], env=env, capture_output=True, text=True
        )
        row(
            "8. `alliance-bot ingest /nonexistent` over an index",
            f"exit {missing.returncode}; {missing.stderr.count(chr(10))} line(s): "
            f"{missing.stderr.strip()[:70]}",
            "one line",
        )
    finally:
        stop_server(proc)
    bad = root / "questions.jsonl"
    bad.write_text('{"question": "Qui ?"}\n{"question": \n', encoding="utf-8")
    r = subprocess.run(
        [sys.executable, "-m", "bot", "eval", str(bad)], env=env, capture_output=True, text=True
    )
    row(
        "11. `alliance-bot eval` on a malformed JSONL",
        f"exit {r.returncode}; {r.stderr.count(chr(10))} "
        f"line(s); traceback: {'Traceback' in r.stderr}; names line 2: {'ligne 2' in r.stderr}",
        "one line",
    )


def crawl_faults() -> None:
    for bomb, what in (
        ("br.html", "brotli bomb (Content-Encoding: br)"),
        ("gzip-gzip.html", "stacked-gzip bomb"),
    ):
        got = measure("bombs", "--bomb", bomb, "--max-bytes", str(DEFAULT_MAX_BYTES))
        reason = next(iter(got["skipped"].values()))
        row(
            f"28.2 crawl of a {what} decoding to 200 MB, page limit {DEFAULT_MAX_BYTES // 10**6} MB",
            f"peak RSS +{got['growth_mb']:.1f} MB over the start ({got['start_mb']:.0f} MB); "
            f"{got['seconds']:.2f} s; {reason.split(' — ')[0]}",
            "+ < 50 MB",
        )
    got = measure("slow", timeout=REQUEST_SECONDS + 120)
    row(
        "28.4 crawl of a page whose headers come one byte a second",
        f"ended after {got['seconds']:.1f} s; peak RSS +{got['growth_mb']:.1f} MB; "
        f"{next(iter(got['skipped'].values())).split(' — ')[0]}",
        f"~{REQUEST_SECONDS:.0f} s (the deadline for a whole response)",
    )


def mcp_nul(index: Path, docs: Path, data: Path, n: int) -> None:
    """Issue 28: one MCP question with a NUL stopped the PostgreSQL log for good."""
    from bot.operator.log import ConversationLog
    from bot.schema import Answer

    cluster = Cluster()
    database_url = cluster.start()
    proc = None
    try:
        proc, url = start_server(
            index,
            docs,
            ALLIANCE_DATABASE_URL=database_url,
            ALLIANCE_RATE_LIMIT="0",
            ALLIANCE_DATA_DIR=str(data / "mcp"),
        )
        refused = rpc(url, "ask", {"question": f"{QUESTION}\x00"})["result"]
        ids = []
        for i in range(n):
            result = rpc(url, "ask", {"question": f"{QUESTION} ({i})"})["result"]
            if not result.get("isError"):
                ids.append(result["structuredContent"]["answer_id"])
        t = time.monotonic()
        while stored(database_url, ids) < len(ids) and time.monotonic() - t < 30:
            time.sleep(0.2)
        health = httpx.get(f"{url}/health", timeout=10).json()
        row(
            "13. NUL question through MCP `ask` (HTTP), PostgreSQL log",
            f"refused: {refused.get('isError')} ({refused['content'][0]['text'][:40]}…); "
            f"{len(ids)} answers after it, {stored(database_url, ids)} logged; /health {health['status']}, "
            f"quarantined {health['log']['quarantined']}",
            "refused; all logged",
        )
        # A row the database refuses all the same (a way in that forgot the check): set aside.
        log = ConversationLog(database_url, pending_path=data / "mcp" / "direct-pending.sqlite")
        poisoned = Answer(status="no_answer", answer="")
        behind = [Answer(status="no_answer", answer="") for _ in range(n)]
        log.record(poisoned, "\x00")
        for answer in behind:
            log.record(answer, QUESTION)
        log.flush()
        t = time.monotonic()
        while stored(database_url, [a.id for a in behind]) < n and time.monotonic() - t < 30:
            time.sleep(0.2)
        row(
            "13. a row PostgreSQL refuses (DataError) fed to the log writer",
            f"{stored(database_url, [a.id for a in behind])}/{n} rows behind it logged; "
            f"quarantined {log.counts()['quarantined']}; pending {log.pending.count}",
            f"{n}/{n}; quarantined 1; pending 0",
        )
        log.close()
    finally:
        if proc is not None:
            stop_server(proc)
        cluster.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--slowloris-seconds", type=float, default=25)
    parser.add_argument("--connections", type=int, default=210)
    parser.add_argument("--asks", type=int, default=20)
    groups = ["slowloris", "redis", "postgres", "uploads", "crawl", "mcp"]
    parser.add_argument("--only", choices=groups, action="append")
    args = parser.parse_args()
    only = set(args.only or groups)
    with tempfile.TemporaryDirectory(prefix="alliance-chaos-") as tmp:
        root = Path(tmp)
        docs, index = root / "documents", root / "index"
        shutil.copytree(REPO_ROOT / "documents", docs)
        env = os.environ | {"ALLIANCE_INDEX_DIR": str(index)}
        if only - {"crawl", "uploads"}:  # the servers' index (the crawl rows need none)
            subprocess.run(
                [sys.executable, "-m", "bot", "ingest", str(docs)], env=env, check=True, capture_output=True
            )
        if "slowloris" in only:
            slowloris(index, docs, args.slowloris_seconds, args.connections)
        if "redis" in only:
            redis_faults(index, docs, root, args.asks)
        if "postgres" in only:
            postgres_faults(index, docs, root, args.asks)
        if "uploads" in only:
            upload_faults(root)
        if "crawl" in only:
            crawl_faults()
        if "mcp" in only:
            mcp_nul(index, docs, root, args.asks)
    print(f"load average: {os.getloadavg()[0]:.1f} (1 min), cores: {os.cpu_count()}\n")
    print("| case | measured | target |\n|---|---|---|")
    for case, measured, target in rows:
        print(f"| {case} | {measured} | {target} |")


if __name__ == "__main__":
    socket.setdefaulttimeout(30)
    main()
