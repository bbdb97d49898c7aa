"""Load the HTTP API from another process on loopback, on the default corpus.

    python bench/api_load.py [--seconds 30] [--clients 16] [--backend onnx-int8]
    python bench/api_load.py --log-overhead [--rounds 8] [--sequential 100]
    python bench/api_load.py --chat-overhead [--rounds 8] [--sequential 100]
    python bench/api_load.py --collections 3 [--seconds 30] [--clients 16]
    python bench/api_load.py --postgres [--seconds 30] [--clients 16]

Starts `alliance-bot serve` on 127.0.0.1 (rate limit off), then: one client asking one
question after another (p50, p99), and N concurrent clients for S seconds (errors, p99,
requests per second); finally the server's resident memory after all those requests.
Prints a Markdown table. Traffic stays on 127.0.0.1 and stops by itself.

`--log-overhead`: two servers on one index, ALLIANCE_LOG=0 and ALLIANCE_LOG=1 (SQLite log),
asked in alternating rounds of one client each (so that machine load hits both alike);
prints POST /ask p50 for each and the difference.

`--collections N`: the default corpus's index also published as N-1 more collections (its
generation copied, nothing embedded again), each loaded by one question before the load;
prints the server's resident memory with 1, 2, … N collections loaded.

`--postgres`: the index ingested into a throwaway PostgreSQL with pgvector (`pgserver`) and
served from it (ALLIANCE_STORE_URL), the server holding no index of its own.

`--chat-overhead`: one server, each question asked on `POST /ask` and on `POST
/v1/chat/completions` (OpenAI's shape) back to back by one client, in alternating order
(`--rounds` × `--sequential` questions); prints each p50 and the difference.
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
from tests.servers import start_server, stop_server  # noqa: E402


def sequential(url: str, n: int, chat_model: str | None = None) -> tuple[list[float], list[float]]:
    """`POST /ask`, or `POST /v1/chat/completions` for `chat_model`, one after another."""
    latencies, embed = [], []
    with httpx.Client(timeout=30) as client:
        for i in range(n):
            question = QUESTIONS[i % len(QUESTIONS)]
            t = time.perf_counter()
            if chat_model is None:
                r = client.post(f"{url}/ask", json={"question": question})
            else:
                r = client.post(
                    f"{url}/v1/chat/completions",
                    json={"model": chat_model, "messages": [{"role": "user", "content": question}]},
                )
            latencies.append((time.perf_counter() - t) * 1000)
            r.raise_for_status()
            embed.append(r.json()["timings_ms"]["embed"] if chat_model is None else 0.0)
    return latencies, embed


def chat_overhead(index: Path, documents: Path, rounds: int, n: int) -> None:
    """Each question on both routes, back to back in alternating order, so that both see the
    same load on a shared machine."""
    proc, url = start_server(index, documents, ALLIANCE_RATE_LIMIT="0")
    latencies: dict[str, list[float]] = {"/ask": [], "/v1/chat/completions": []}
    try:
        model = httpx.get(f"{url}/v1/models").json()["data"][0]["id"]
        sequential(url, 20), sequential(url, 20, model)  # warm-up
        with httpx.Client(timeout=30) as client:
            for i in range(rounds * n):
                question = QUESTIONS[i % len(QUESTIONS)]
                bodies = {
                    "/ask": {"question": question},
                    "/v1/chat/completions": {
                        "model": model,
                        "messages": [{"role": "user", "content": question}],
                    },
                }
                for route in sorted(bodies, reverse=i % 2 == 1):
                    t = time.perf_counter()
                    client.post(f"{url}{route}", json=bodies[route]).raise_for_status()
                    latencies[route].append((time.perf_counter() - t) * 1000)
    finally:
        stop_server(proc)
    ask, chat = (float(np.percentile(latencies[r], 50)) for r in latencies)
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the end (a shared machine).\n")
    print("| measure | value |\n|---|---|")
    print(f"| POST /ask p50 (n={len(latencies['/ask'])}) | {ask:.2f} ms |")
    print(f"| POST /v1/chat/completions p50 (n={len(latencies['/v1/chat/completions'])}) | {chat:.2f} ms |")
    print(f"| the OpenAI shape adds (p50) | {chat - ask:+.2f} ms |")


def concurrent(url: str, clients: int, seconds: float) -> tuple[list[float], int, float]:
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds

    def worker(k: int) -> None:
        nonlocal errors
        with httpx.Client(timeout=30) as client:
            i = k
            while time.monotonic() < stop_at:
                t = time.perf_counter()
                try:
                    ok = (
                        client.post(
                            f"{url}/ask", json={"question": QUESTIONS[i % len(QUESTIONS)]}
                        ).status_code
                        == 200
                    )
                except httpx.HTTPError:
                    ok = False
                with lock:
                    latencies.append((time.perf_counter() - t) * 1000)
                    errors += not ok
                i += 1

    began = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(k,)) for k in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return latencies, errors, time.perf_counter() - began


def log_overhead(index: Path, documents: Path, data: Path, rounds: int, n: int) -> None:
    servers = {
        flag: start_server(
            index,
            documents,
            ALLIANCE_RATE_LIMIT="0",
            ALLIANCE_LOG=flag,
            ALLIANCE_DATA_DIR=str(data / f"log{flag}"),
        )
        for flag in ("0", "1")
    }
    latencies: dict[str, list[float]] = {"0": [], "1": []}
    try:
        for _, url in servers.values():
            sequential(url, 20)  # warm-up
        for r in range(rounds):
            for flag in ("0", "1") if r % 2 == 0 else ("1", "0"):
                latencies[flag] += sequential(servers[flag][1], n)[0]
    finally:
        for proc, _ in servers.values():
            stop_server(proc)
    off, on = (float(np.percentile(latencies[f], 50)) for f in ("0", "1"))
    print("| measure | value |\n|---|---|")
    print(f"| POST /ask p50, ALLIANCE_LOG=0 (n={len(latencies['0'])}) | {off:.2f} ms |")
    print(f"| POST /ask p50, ALLIANCE_LOG=1 (n={len(latencies['1'])}) | {on:.2f} ms |")
    print(f"| logging adds (p50) | {on - off:+.2f} ms |")
    logged = data / "log1" / "log.sqlite"
    print(f"| answers in the log | {_count_rows(logged)} |")


def _count_rows(path: Path) -> int:
    import sqlite3

    with sqlite3.connect(path) as db:
        return db.execute("SELECT count(*) FROM answers").fetchone()[0]


def add_collections(index: Path, n: int) -> list[str]:
    """N-1 more public collections, each a copy of the default one's published generation."""
    from bot.collections import FOLDER, Registry, default_name
    from bot.index import store

    registry = Registry(index, default_name(None))
    generation = store.current_generation(index)
    names = []
    for k in range(2, n + 1):
        name = f"copie{k}"
        target = index / FOLDER / name
        shutil.copytree(generation, target / generation.name)
        (target / store.CURRENT).write_text(generation.name, encoding="utf-8")
        registry.create(name, "public")
        names.append(name)
    return names


def load_collections(url: str, names: list[str], server: psutil.Process) -> list[float]:
    """The resident memory once each further collection is loaded (by one question, answered
    from that collection: a failed load would not weigh anything)."""
    sizes = []
    for name in names:
        r = httpx.post(f"{url}/ask", params={"collection": name}, json={"question": QUESTIONS[0]}, timeout=60)
        r.raise_for_status()
        if r.json().get("collection", name) != name:  # older servers do not name it
            raise RuntimeError(f"asked {name}, answered from {r.json()['collection']}")
        sizes.append(server.memory_info().rss / 2**20)
    return sizes


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument(
        "--sequential",
        type=int,
        default=None,
        help="Sequential requests (default 300; 100 with --log-overhead).",
    )
    parser.add_argument(
        "--backend",
        choices=["torch", "onnx", "onnx-int8"],
        default=None,
        help="ALLIANCE_EMBEDDING_BACKEND for the server (default: the product's).",
    )
    parser.add_argument("--log-overhead", action="store_true", help="Compare ALLIANCE_LOG=0 and =1.")
    parser.add_argument(
        "--chat-overhead", action="store_true", help="Compare POST /ask and POST /v1/chat/completions."
    )
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument(
        "--collections", type=int, default=1, help="Collections loaded (copies of the default)."
    )
    parser.add_argument("--postgres", action="store_true", help="Serve the index from PostgreSQL.")
    args = parser.parse_args()
    repo = Path(__file__).resolve().parent.parent
    backend = {"ALLIANCE_EMBEDDING_BACKEND": args.backend} if args.backend else {}
    with tempfile.TemporaryDirectory() as tmp:
        if args.postgres:
            import pgserver

            database = pgserver.get_server(Path(tmp) / "pg", cleanup_mode="stop")
            backend["ALLIANCE_STORE_URL"] = database.get_uri()
        env = os.environ | {"ALLIANCE_INDEX_DIR": tmp} | backend
        subprocess.run(
            [sys.executable, "-m", "bot", "ingest", str(repo / "documents")],
            env=env,
            check=True,
            capture_output=True,
        )
        if args.chat_overhead:
            return chat_overhead(Path(tmp), repo / "documents", args.rounds, args.sequential or 100)
        if args.log_overhead:
            return log_overhead(Path(tmp), repo / "documents", Path(tmp), args.rounds, args.sequential or 100)
        names = add_collections(Path(tmp), args.collections)
        proc, url = start_server(Path(tmp), repo / "documents", ALLIANCE_RATE_LIMIT="0", **backend)
        try:
            server = psutil.Process(proc.pid)
            ready_mb = server.memory_info().rss / 2**20
            sequential(url, 20)  # warm-up
            loaded = [server.memory_info().rss / 2**20, *load_collections(url, names, server)]
            seq, embed = sequential(url, args.sequential or 300)
            conc, errors, elapsed = concurrent(url, args.clients, args.seconds)
            served = 20 + len(seq) + len(conc)
            rss_mb = server.memory_info().rss / 2**20
        finally:
            stop_server(proc)
            if args.postgres:
                database.cleanup()
    print(
        f"store: {'postgresql' if args.postgres else 'folder'}; backend: {args.backend or 'default'}; "
        f"{os.cpu_count()} CPUs, load average "
        f"{os.getloadavg()[0]:.1f} at the end (a shared machine).\n"
    )
    print("| measure | value |\n|---|---|")
    print(f"| 1 client, POST /ask p50 (n={len(seq)}) | {np.percentile(seq, 50):.1f} ms |")
    print(f"| 1 client, POST /ask p99 | {np.percentile(seq, 99):.1f} ms |")
    print(f"| query embedding per request, p50 | {np.percentile(embed, 50):.1f} ms |")
    print(f"| {args.clients} clients × {args.seconds:.0f} s, requests | {len(conc)} |")
    print(f"| {args.clients} clients, errors | {errors} |")
    print(
        f"| {args.clients} clients, p50 / p99 | {np.percentile(conc, 50):.0f} / "
        f"{np.percentile(conc, 99):.0f} ms |"
    )
    print(f"| {args.clients} clients, requests per second | {len(conc) / elapsed:.1f} |")
    print(f"| server resident memory: ready / after {served} requests | {ready_mb:.0f} / {rss_mb:.0f} MB |")
    if names:
        steps = " / ".join(f"{mb:.0f}" for mb in loaded)
        print(f"| resident memory with 1 … {len(loaded)} collections loaded | {steps} MB |")


if __name__ == "__main__":
    main()
