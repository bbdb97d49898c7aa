"""`alliance-bot ask` and `search` as a user runs them: a new process each time, timed whole.

Runs this checkout and, with --baseline, another checkout of the code (say old main:
`git archive main | tar -x -C /tmp/main`) in alternating rounds on the same index, so that
both see the same machine load. Wall time moves with the load of a shared machine; user +
sys CPU time of the process (its threads included) much less, so both are printed, with
the load average before each run.

    python bench/cli_startup.py --runs 10 --baseline /tmp/main
    python bench/cli_startup.py --profile     # where one `ask` spends its time, step by step
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
QUESTION = "Qui a lancé l'Alliance Dynamique ?"


def timed(checkout: Path, args: list[str], env: dict) -> tuple[float, float, float]:
    """(wall s, user+sys s, load average) of one `python -m bot ARGS` run from `checkout`."""
    load = os.getloadavg()[0]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "bot", *args], cwd=checkout, env=env, check=True, stdout=subprocess.DEVNULL
    )
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, load


PROFILE = """
import os, sys, time
started = time.perf_counter(), time.process_time()
last = list(started)
rows = []


def step(name):
    now = time.perf_counter(), time.process_time()
    rows.append((name, now[0] - last[0], now[1] - last[1]))
    last[:] = now


import click  # noqa
import bot.cli  # noqa
step("import click, bot.cli (what --version loads)")
from bot.config import Settings  # noqa
step("import bot.config (pydantic)")
settings = Settings()
step("Settings()")
from bot.embedding import load_embedder  # noqa
import onnxruntime, tokenizers  # noqa
from bot.embedding import onnx_backend  # noqa
step("import numpy, onnxruntime, tokenizers")
embedder = load_embedder(settings.embedding)
step("load the model: pruned tokenizer + ONNX session (optimized graph, mapped weights)")
import faiss  # noqa
from bot.answer.assistant import Assistant  # noqa
from bot.ingest import freshness  # noqa
step("import faiss and the answer modules")
assert freshness.unchanged(settings.index), "run `alliance-bot ask` once first"
step("documents unchanged? (file signature)")
assistant = Assistant(settings.answer, embedder=embedder)
step("load the index (SQLite, FAISS, BM25 arrays)")
assistant.ask(sys.argv[1], None)
step("answer (embed, search, read)")
print("| step | wall | CPU (user+sys, all threads) |")
print("|---|---|---|")
for name, wall, cpu in rows:
    print(f"| {name} | {wall * 1000:.0f} ms | {cpu * 1000:.0f} ms |")
total = time.perf_counter() - started[0], time.process_time() - started[1]
print(f"| total, one step after another (`ask` overlaps the model with the imports) "
      f"| {total[0] * 1000:.0f} ms | {total[1] * 1000:.0f} ms |")
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--baseline", type=Path, help="another checkout, run in alternation")
    parser.add_argument("--index", type=Path, help="index to answer from (default: a fresh one)")
    parser.add_argument("--profile", action="store_true", help="time one ask step by step, in-process")
    args = parser.parse_args()
    index = args.index or Path(tempfile.mkdtemp(prefix="cli-startup-")) / "index"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | {
        "ALLIANCE_INDEX_DIR": str(index),
        "ALLIANCE_DOCUMENTS_DIR": str(ROOT / "documents"),
        "ALLIANCE_LOG": "0",
    }
    checkouts = {"this": ROOT} | ({"baseline": args.baseline.resolve()} if args.baseline else {})
    commands = {"ask": ["ask", QUESTION], "search": ["search", QUESTION], "--version": ["--version"]}
    for checkout in checkouts.values():  # builds the index, then lets each remember it is fresh
        subprocess.run(
            [sys.executable, "-m", "bot", "ask", QUESTION],
            cwd=checkout,
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
        )
    if args.profile:
        print(f"load average {os.getloadavg()[0]:.1f}")
        subprocess.run([sys.executable, "-c", PROFILE, QUESTION], cwd=ROOT, env=env, check=True)
        return
    results: dict[tuple[str, str], list[tuple[float, float, float]]] = {}
    for _ in range(args.runs):
        for command, argv in commands.items():
            for name, checkout in checkouts.items():
                results.setdefault((command, name), []).append(timed(checkout, argv, env))
    print(f"{args.runs} runs each, alternating; index {index}")
    print("| command | code | wall median (min–max) | user+sys median | load average (min–max) |")
    print("|---|---|---|---|---|")
    for (command, name), runs in results.items():
        walls, cpus, loads = zip(*runs, strict=True)
        wall = f"{statistics.median(walls):.2f} s ({min(walls):.2f}–{max(walls):.2f})"
        load = f"{statistics.median(loads):.1f} ({min(loads):.1f}–{max(loads):.1f})"
        print(f"| `{command}` | {name} | {wall} | {statistics.median(cpus):.2f} s | {load} |")


if __name__ == "__main__":
    main()
