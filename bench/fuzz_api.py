"""Long fuzzing run: schemathesis generates requests for every route of the served OpenAPI
schema and sends them to a real server; every response is checked (no 5xx, no stack trace,
status, content type, headers and body as documented).

    python bench/fuzz_api.py [--examples 800]

Serves a copy of the default corpus on 127.0.0.1 (rate limit off). `--examples` is per
operation (three POST routes take them all: 800 gives about 2,400 requests). Prints a Markdown table per
operation, the failures found, and /health afterwards. Exits 1 on any failure.
"""

from __future__ import annotations

import argparse
import collections
import shutil
import sys
import tempfile
import time
from pathlib import Path

import httpx
import schemathesis
from hypothesis import HealthCheck, given, settings

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bot.config import REPO_ROOT  # noqa: E402
from tests.api.test_fuzz import CHECKS, cases  # noqa: E402
from tests.servers import start_server, stop_server  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--examples", type=int, default=800, help="generated requests per operation")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="alliance-fuzz-") as tmp:
        corpus, index_dir = Path(tmp) / "documents", Path(tmp) / "index"
        shutil.copytree(REPO_ROOT / "documents", corpus)
        proc, url = start_server(index_dir, corpus, ALLIANCE_RATE_LIMIT="0")
        try:
            rows, failures, health = run(url, args.examples)
        finally:
            stop_server(proc)
    print("| operation | requests | 2xx | 4xx | 5xx | failed checks | seconds |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for label, row in rows.items():
        print(
            f"| `{label}` | {row['requests']} | {row[2]} | {row[4]} | {row[5]} | {row['failed']} "
            f"| {row['seconds']:.0f} |"
        )
    total = sum(r["requests"] for r in rows.values())
    errors = sum(r[5] for r in rows.values())
    print(
        f"\n{total} generated requests, {errors} server errors, {len(failures)} failed checks; "
        f"/health afterwards: {health}"
    )
    for failure in failures[:20]:
        print(f"- {failure}")
    sys.exit(1 if failures or errors or health != 200 else 0)


def run(url: str, examples: int):
    schema = schemathesis.openapi.from_url(f"{url}/openapi.json")
    rows: dict[str, collections.Counter] = {}
    failures: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        row = rows[operation.label] = collections.Counter()
        began = time.monotonic()

        send = fuzz_operation(operation, examples, row, failures)
        send()
        row["seconds"] = time.monotonic() - began
    health = httpx.get(f"{url}/health", timeout=10).status_code
    return rows, failures, health


def fuzz_operation(operation, examples: int, row: collections.Counter, failures: list[str]):
    @given(case=cases(operation))
    @settings(max_examples=examples, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    def send(case):
        response = case.call(timeout=60)
        row["requests"] += 1
        row[response.status_code // 100] += 1
        try:
            case.validate_response(response, checks=CHECKS)
        except Exception as e:  # counted, not raised: the run goes on
            row["failed"] += 1
            failures.append(f"{operation.label} -> {response.status_code}: {str(e).splitlines()[0][:200]}")

    return send


if __name__ == "__main__":
    main()
