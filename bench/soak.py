"""Soak: many clients for minutes, with ingests in between; errors, latency and memory.

    python bench/soak.py [--minutes 10] [--clients 16] [--ingest-every 60] [--postgres]

Serves a copy of the default corpus on 127.0.0.1 (rate limit off), sends questions from
`--clients` clients, edits a document and ingests it every `--ingest-every` seconds, and
samples the server's resident memory. Prints a Markdown table per minute and a summary:
errors, p99, and RSS growth from the end of the first minute (warm) to the end.

`--postgres`: the conversation log in a throwaway PostgreSQL cluster (tests/postgres.py),
stopped for `--outage` seconds at half time, then started again; the summary adds how many
answers were sent and how many are in its log once the pending ones are written (30 s at most).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.assistant_speed import QUESTIONS  # noqa: E402
from bot.config import REPO_ROOT  # noqa: E402
from tests.postgres import Cluster, postgres_missing_reason  # noqa: E402
from tests.servers import start_server, stop_server  # noqa: E402


def logged(database_url: str, ids: set[str]) -> int:
    """How many of `ids` the PostgreSQL log holds (0 while it cannot be read)."""
    from sqlalchemy import create_engine, select
    from sqlalchemy.exc import SQLAlchemyError

    from bot.operator.log.tables import answers

    engine = create_engine(database_url, connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as db:
            return len(ids & set(db.execute(select(answers.c.id)).scalars()))
    except SQLAlchemyError:
        return 0
    finally:
        engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--ingest-every", type=float, default=60)
    parser.add_argument("--postgres", action="store_true", help="log in PostgreSQL, restarted midway")
    parser.add_argument("--outage", type=float, default=20, help="seconds PostgreSQL is stopped")
    args = parser.parse_args()
    if args.postgres and (reason := postgres_missing_reason()) is not None:
        sys.exit(reason)
    with tempfile.TemporaryDirectory(prefix="alliance-soak-") as tmp:
        corpus, index_dir = Path(tmp) / "documents", Path(tmp) / "index"
        shutil.copytree(REPO_ROOT / "documents", corpus)
        env = os.environ | {"ALLIANCE_INDEX_DIR": str(index_dir)}
        subprocess.run(
            [sys.executable, "-m", "bot", "ingest", str(corpus)], env=env, check=True, capture_output=True
        )
        cluster = Cluster() if args.postgres else None
        database_url = cluster.start() if cluster else None
        log_env = {"ALLIANCE_DATABASE_URL": database_url} if database_url else {}
        try:
            proc, url = start_server(index_dir, corpus, ALLIANCE_RATE_LIMIT="0", **log_env)
        except BaseException:
            if cluster:
                cluster.stop()
            raise
        server = psutil.Process(proc.pid)
        began = time.monotonic()
        stop_at = began + args.minutes * 60
        samples: list[tuple[float, float, bool, float]] = []  # (t, latency ms, ok, rss)
        sent: set[str] = set()  # ids of the answers received
        outage: list[float] = []  # when PostgreSQL was stopped, when it was started again
        lock = threading.Lock()

        def client(k: int) -> None:
            i = k
            with httpx.Client(timeout=60) as http:
                while time.monotonic() < stop_at:
                    t = time.perf_counter()
                    try:
                        r = http.post(f"{url}/ask", json={"question": QUESTIONS[i % len(QUESTIONS)]})
                        ok = r.status_code == 200
                        answer_id = r.json().get("id") if ok else None
                    except (httpx.HTTPError, ValueError):
                        ok, answer_id = False, None
                    with lock:
                        samples.append((time.monotonic() - began, (time.perf_counter() - t) * 1000, ok, 0))
                        if answer_id:
                            sent.add(answer_id)
                    i += 1

        def restart_postgres() -> None:
            time.sleep(args.minutes * 30)
            outage.append(time.monotonic() - began)
            cluster.pause()
            time.sleep(args.outage)
            cluster.resume()
            outage.append(time.monotonic() - began)

        rss: list[tuple[float, float]] = []
        threads = [threading.Thread(target=client, args=(k,)) for k in range(args.clients)]
        if cluster:
            threads.append(threading.Thread(target=restart_postgres))
        for th in threads:
            th.start()
        ingests, next_ingest = 0, began + args.ingest_every
        try:
            while time.monotonic() < stop_at:
                time.sleep(5)
                rss.append((time.monotonic() - began, server.memory_info().rss / 1e6))
                if time.monotonic() >= next_ingest:
                    note = corpus / "soak-note.md"
                    note.write_text(f"# Note {ingests}\n\nLa note de soak numéro {ingests} est à jour.\n")
                    subprocess.run(
                        [sys.executable, "-m", "bot", "ingest", str(corpus)],
                        env=env,
                        check=True,
                        capture_output=True,
                    )
                    ingests += 1
                    next_ingest = time.monotonic() + args.ingest_every
        finally:
            for th in threads:
                th.join()
            in_log = 0
            if cluster:
                deadline = time.monotonic() + 30
                while (in_log := logged(database_url, sent)) < len(sent) and time.monotonic() < deadline:
                    time.sleep(1)
            stop_server(proc)
            if cluster:
                cluster.stop()

    print("| minute | requests | errors | p50 ms | p99 ms | RSS MB (end) |\n|---|---|---|---|---|---|")
    minutes = int(np.ceil(args.minutes))
    for m in range(minutes):
        window = [s for s in samples if m * 60 <= s[0] < (m + 1) * 60]
        if not window:
            continue
        lat = [s[1] for s in window]
        end_rss = [r for t, r in rss if t < (m + 1) * 60][-1:] or [float("nan")]
        print(
            f"| {m + 1} | {len(window)} | {sum(not s[2] for s in window)} | "
            f"{np.percentile(lat, 50):.0f} | {np.percentile(lat, 99):.0f} | {end_rss[0]:.0f} |"
        )
    warm = next((r for t, r in rss if t >= 60), rss[0][1])
    growth = (rss[-1][1] - warm) / warm * 100
    errors = sum(not s[2] for s in samples)
    print(
        f"\n{len(samples)} requests, {errors} errors, p99 "
        f"{np.percentile([s[1] for s in samples], 99):.0f} ms, {ingests} ingests; RSS {warm:.0f} MB "
        f"after the first minute → {rss[-1][1]:.0f} MB at the end ({growth:+.1f} %)."
    )
    if args.postgres:
        stopped = (
            f"stopped at {outage[0]:.0f} s, started at {outage[1]:.0f} s"
            if len(outage) == 2
            else "not restarted"
        )
        print(f"PostgreSQL {stopped}: {len(sent)} answers sent, {in_log} in its log after recovery.")


if __name__ == "__main__":
    main()
