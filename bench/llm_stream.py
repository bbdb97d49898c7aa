"""Time to first token and total time with the LLM writer on, streamed and as today (the
whole reply read before anything is sent), on `/ask/stream` and on the `/v1` stream.

    python bench/llm_stream.py [--runs 10] [--every 0.02]

The LLM is the tests' fake OpenAI-compatible server (tests/answer/test_llm.py) on 127.0.0.1 writing
a 40-token answer at one token every `--every` seconds: streamed (`stream: true`, one
chat.completion.chunk per token) or whole (one JSON body once the last token is written, what
the writer waited for before). Prints a Markdown table of medians.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from http.server import ThreadingHTTPServer
from pathlib import Path

import httpx
import numpy as np
import openai

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.answer.test_llm import QUESTION, SENT, FakeCompletions, reply  # noqa: E402
from tests.servers import start_server, stop_server  # noqa: E402

ANSWER = (
    "Le Groupe La Poste a lancé l'Alliance Dynamique en 2014 [1], avec des entreprises et des "
    "associations de l'économie sociale et solidaire qui partagent ses objectifs [2]. Elle "
    "réunit aujourd'hui des partenaires de toute la France autour de projets communs [1]."
)


def ask_stream(url: str) -> tuple[float, float, float]:
    """(time to first delta, total, first delta after the LLM's first token), in seconds."""
    began, first = time.monotonic(), None
    with httpx.stream("POST", f"{url}/ask/stream", json={"question": QUESTION}, timeout=60) as r:
        for line in r.iter_lines():
            if line == "event: delta" and first is None:
                first = time.monotonic()
    end = time.monotonic()
    return first - began, end - began, first - SENT[0] if SENT else float("nan")


def v1_stream(client: openai.OpenAI, model: str) -> tuple[float, float, float]:
    began, first = time.monotonic(), None
    for chunk in client.chat.completions.create(
        model=model, stream=True, messages=[{"role": "user", "content": QUESTION}]
    ):
        if first is None and chunk.choices and chunk.choices[0].delta.content:
            first = time.monotonic()
    end = time.monotonic()
    return first - began, end - began, first - SENT[0] if SENT else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--every", type=float, default=0.02)
    args = parser.parse_args()
    tokens = re.findall(r"\s*\S+", ANSWER)
    fake = ThreadingHTTPServer(("127.0.0.1", 0), FakeCompletions)
    fake.daemon_threads = True
    threading.Thread(target=fake.serve_forever, daemon=True).start()
    llm = f"http://127.0.0.1:{fake.server_address[1]}/v1"
    repo = Path(__file__).resolve().parent.parent
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        env = os.environ | {"ALLIANCE_INDEX_DIR": tmp}
        subprocess.run(
            [sys.executable, "-m", "bot", "ingest", str(repo / "documents")],
            env=env,
            check=True,
            capture_output=True,
        )
        proc, url = start_server(
            Path(tmp),
            repo / "documents",
            ALLIANCE_RATE_LIMIT="0",
            ALLIANCE_LOG="0",
            ALLIANCE_LLM_URL=llm,
            ALLIANCE_LLM_TIMEOUT="20",
        )
        try:
            client = openai.OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0)
            model = client.models.list().data[0].id
            modes = {
                "streamed": lambda: reply(tokens=tokens, every=args.every),
                "whole reply (before)": lambda: reply(ANSWER, after=len(tokens) * args.every),
            }
            routes = {"/ask/stream": lambda: ask_stream(url), "/v1 stream": lambda: v1_stream(client, model)}
            for mode, arm in modes.items():
                for route, run in routes.items():
                    arm()
                    run()  # warm-up
                    samples = []
                    for _ in range(args.runs):
                        arm()
                        SENT.clear()
                        samples.append(run())
                    first, total, lag = (np.median([s[i] for s in samples]) * 1000 for i in range(3))
                    rows.append((mode, route, first, total, lag))
        finally:
            stop_server(proc)
            fake.shutdown()
    print(
        f"{len(tokens)} tokens, one every {args.every * 1000:.0f} ms; medians of {args.runs} runs; "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} (a shared machine).\n"
    )
    print("| LLM reply | route | time to first token | total | first token after the LLM sent it |")
    print("|---|---|---|---|---|")
    for mode, route, first, total, lag in rows:
        shown = f"{lag:.0f} ms" if lag == lag else "–"
        print(f"| {mode} | {route} | {first:.0f} ms | {total:.0f} ms | {shown} |")


if __name__ == "__main__":
    main()
