"""Soak: many clients for minutes, with ingests in between; errors, latency and memory.

    python bench/soak.py [--minutes 10] [--clients 16] [--ingest-every 60]

Serves a copy of the default corpus on 127.0.0.1 (rate limit off), sends questions from
`--clients` clients, edits a document and ingests it every `--ingest-every` seconds, and
samples the server's resident memory. Prints a Markdown table per minute and a summary:
errors, p99, and RSS growth from the end of the first minute (warm) to the end.
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
from tests.servers import start_server, stop_server  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--ingest-every", type=float, default=60)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="alliance-soak-") as tmp:
        corpus, index_dir = Path(tmp) / "documents", Path(tmp) / "index"
        shutil.copytree(REPO_ROOT / "documents", corpus)
        env = os.environ | {"ALLIANCE_INDEX_DIR": str(index_dir)}
        subprocess.run(
            [sys.executable, "-m", "bot", "ingest", str(corpus)], env=env, check=True, capture_output=True
        )
        proc, url = start_server(index_dir, corpus, ALLIANCE_RATE_LIMIT="0")
        server = psutil.Process(proc.pid)
        began = time.monotonic()
        stop_at = began + args.minutes * 60
        samples: list[tuple[float, float, bool, float]] = []  # (t, latency ms, ok, rss)
        lock = threading.Lock()

        def client(k: int) -> None:
            i = k
            with httpx.Client(timeout=60) as http:
                while time.monotonic() < stop_at:
                    t = time.perf_counter()
                    try:
                        r = http.post(f"{url}/ask", json={"question": QUESTIONS[i % len(QUESTIONS)]})
                        ok = r.status_code == 200
                    except httpx.HTTPError:
                        ok = False
                    with lock:
                        samples.append((time.monotonic() - began, (time.perf_counter() - t) * 1000, ok, 0))
                    i += 1

        rss: list[tuple[float, float]] = []
        threads = [threading.Thread(target=client, args=(k,)) for k in range(args.clients)]
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
            stop_server(proc)

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


if __name__ == "__main__":
    main()
