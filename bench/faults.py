"""Fault injection on ingest: kill -9 at random moments, racing ingests, ingests under load.

    python bench/faults.py [--files 300] [--kills 50] [--races 20] [--clients 8]

Builds a corpus of small Markdown files (PIAF passages when ../shared is there, else
generated French text), indexes it, then:
1. `--kills` rounds: change a few files, start `alliance-bot ingest`, kill -9 it after a
   random delay; after each kill the published index must open and hold each of its
   documents exactly once;
2. `--races` rounds: change a few files, start two ingests at once; both must succeed;
3. a server on 127.0.0.1 answers `--clients` clients while ingests publish new
   generations: no request may fail.
At the end a clean ingest must give exactly the corpus on disk. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bot.config import REPO_ROOT  # noqa: E402
from bot.index import store  # noqa: E402
from bot.training.evaluate import read_jsonl  # noqa: E402
from tests.servers import start_server, stop_server  # noqa: E402

PIAF = REPO_ROOT.parent / "shared" / "bench" / "piaf_fr" / "corpus.jsonl"


def make_corpus(folder: Path, n: int) -> None:
    folder.mkdir(parents=True)
    if PIAF.is_file():
        rows = read_jsonl(PIAF)[:n]
        texts = [(r["title"], r["text"]) for r in rows]
    else:
        texts = [(f"Fiche {i}", f"Le verger numéro {i} compte {i * 3} pommiers. " * 5) for i in range(n)]
    for i, (title, text) in enumerate(texts):
        (folder / f"doc-{i:04d}.md").write_text(f"# {title}\n\n{text}\n", encoding="utf-8")


def mutate(folder: Path, rng: random.Random, serial: int) -> None:
    """Edit three files, add one, delete one: a typical small update."""
    files = sorted(folder.glob("*.md"))
    for path in rng.sample(files, 3):
        path.write_text(path.read_text(encoding="utf-8") + f"\nMise à jour {serial}.\n", encoding="utf-8")
    rng.choice(files).unlink()
    (folder / f"new-{serial:04d}.md").write_text(
        f"# Ajout {serial}\n\nLe verger ajouté numéro {serial} compte {serial} pommiers.\n", encoding="utf-8"
    )


def run_ingest(corpus: Path, env: dict) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "bot", "ingest", str(corpus)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def check_index(index_dir: Path) -> tuple[int, int]:
    """The published index opens; returns (documents, duplicated chunks)."""
    index = store.load_current(index_dir)
    spans = [(c.source, c.char_start, c.char_end) for c in index.chunks]
    assert set(c.source for c in index.chunks) <= set(index.documents)
    return len(index.documents), len(spans) - len(set(spans))


def corpus_sources(corpus: Path) -> set[str]:
    return {f"{corpus.name}/{p.name}" for p in corpus.glob("*.md")}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=300)
    parser.add_argument("--kills", type=int, default=50)
    parser.add_argument("--races", type=int, default=20)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    rows: list[tuple[str, str]] = []
    with tempfile.TemporaryDirectory(prefix="alliance-faults-") as tmp:
        corpus, index_dir = Path(tmp) / "docs", Path(tmp) / "index"
        make_corpus(corpus, args.files)
        env = os.environ | {"ALLIANCE_INDEX_DIR": str(index_dir)}
        t = time.perf_counter()
        first = run_ingest(corpus, env)
        assert first.wait() == 0, first.stderr.read()
        rows.append((f"first ingest ({args.files} files)", f"{time.perf_counter() - t:.0f} s"))

        # A small update, timed, sets the range of the random kill moments.
        mutate(corpus, rng, 0)
        t = time.perf_counter()
        assert run_ingest(corpus, env).wait() == 0
        span = time.perf_counter() - t
        rows.append(("small update ingest (kill moments drawn in 0..1.2× this)", f"{span:.1f} s"))

        serial, duplicates, broken, finished = 1, 0, 0, 0
        for _ in range(args.kills):
            mutate(corpus, rng, serial)
            serial += 1
            proc = run_ingest(corpus, env)
            time.sleep(rng.uniform(0, 1.2 * span))
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
            else:
                finished += 1
            proc.wait()
            try:
                duplicates += check_index(index_dir)[1]
            except Exception as e:  # noqa: BLE001 - counted and shown
                broken += 1
                print("broken after kill:", e, file=sys.stderr)
        rows.append(
            (
                f"kill -9 during ingest ({args.kills} rounds; {finished} had finished)",
                f"{broken} unopenable, {duplicates} duplicated chunks",
            )
        )

        failed_races = 0
        for _ in range(args.races):
            mutate(corpus, rng, serial)
            serial += 1
            procs = [run_ingest(corpus, env) for _ in range(2)]
            failed_races += sum(p.wait() != 0 for p in procs)
            if check_index(index_dir)[1]:
                duplicates += 1
        rows.append((f"two ingests at once ({args.races} races)", f"{failed_races} failed ingests"))

        # Ingests while clients query a running server.
        proc, url = start_server(index_dir, corpus, ALLIANCE_RATE_LIMIT="0")
        done = threading.Event()
        counts = {"ok": 0, "failed": 0}
        reasons: dict[str, int] = {}
        lock = threading.Lock()
        versions: set[str] = set()

        def client(k: int) -> None:
            with httpx.Client(timeout=60) as http:
                while not done.is_set():
                    try:
                        question = f"Combien de pommiers compte le verger {k} ?"
                        r = http.post(f"{url}/ask", json={"question": question})
                        ok = r.status_code == 200
                        if ok:
                            versions.add(r.json()["index"]["version"])
                        reason = f"HTTP {r.status_code} {r.text[:80]}"
                    except httpx.HTTPError as e:
                        ok, reason = False, type(e).__name__
                    with lock:
                        counts["ok" if ok else "failed"] += 1
                        if not ok:
                            reasons[reason] = reasons.get(reason, 0) + 1

        threads = [threading.Thread(target=client, args=(k,)) for k in range(args.clients)]
        for th in threads:
            th.start()
        try:
            for _ in range(3):
                mutate(corpus, rng, serial)
                serial += 1
                assert run_ingest(corpus, env).wait() == 0
                time.sleep(2)
        finally:
            done.set()
            for th in threads:
                th.join()
            stop_server(proc)
        rows.append(
            (
                f"{args.clients} clients during 3 ingests: requests, failed, versions served",
                f"{counts['ok'] + counts['failed']}, {counts['failed']}, {len(versions)}",
            )
        )
        for reason, n in reasons.items():
            rows.append(("  failure", f"{n} × {reason}"))

        final = run_ingest(corpus, env)
        assert final.wait() == 0
        index = store.load_current(index_dir)
        expected = corpus_sources(corpus)
        lost = len(expected - set(index.documents))
        extra = len(set(index.documents) - expected)
        left = [p.name for p in index_dir.iterdir() if p.name.startswith((".staging-", "gen-"))]
        rows.append(
            (
                "final index vs corpus: lost, extra, duplicated chunks",
                f"{lost}, {extra}, {duplicates + check_index(index_dir)[1]}",
            )
        )
        rows.append(("generation folders left", str(len(left))))
    print("| fault | result |\n|---|---|")
    for name, value in rows:
        print(f"| {name} | {value} |")


if __name__ == "__main__":
    main()
