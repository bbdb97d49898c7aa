"""A crawl of the hostile site (tests/crawl/site.py), measured in a process of its own:

    python -m tests.crawl.hostile bombs|links|slow [--max-bytes N] [--max-pages N]
        [--bomb br.html ...] [--deadline SECONDS]

prints one JSON object: the resident memory at the start of the crawl and its peak during
it (the kernel's own high-water mark, VmHWM, reset at the start: no short spike is missed
between two samples, and `ru_maxrss` would count the parent's memory before the exec),
the crawl's seconds, its skipped pages and the size of crawl.json. Everything a crawl
imports is imported, and the site built, before the start is measured. What is measured
is the crawl itself, fetching and reading, then crawl.json written; the hostile site has
nothing to index, so the index step (which refuses to publish an empty index) is left
out. Used by tests/crawl/test_hostile.py and bench/chaos.py.
"""

from __future__ import annotations

import argparse
import json
import logging
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent


def measure(kind: str, *args: str, timeout: float = 300) -> dict:
    """Run one measured crawl in a fresh Python process; its JSON line, as a dict."""
    done = subprocess.run(
        [sys.executable, "-m", "tests.crawl.hostile", kind, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["stderr"] = done.stderr
    return result


def _reset_peak() -> None:
    """The high-water mark brought down to the current resident memory (Linux 4.0 and later)."""
    Path("/proc/self/clear_refs").write_text("5")


def _peak() -> int:
    """The process's peak resident memory in bytes since `_reset_peak`."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024  # kB
    raise RuntimeError("no VmHWM in /proc/self/status")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("kind", choices=["bombs", "links", "slow"])
    parser.add_argument("--max-bytes", type=int, default=1_000_000)
    parser.add_argument("--max-pages", type=int, default=10)
    parser.add_argument("--bomb", action="append", default=[], help="only these bombs (br.html, ...)")
    parser.add_argument("--deadline", type=float, help="seconds for a whole response (default: the crawl's)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(message)s")

    import protego  # noqa: F401  (what the crawl imports lazily, imported before the start)
    import psutil
    import selectolax.lexbor  # noqa: F401
    import trafilatura  # noqa: F401

    from bot.config import Settings
    from bot.crawl import fetch
    from bot.crawl.crawler import CrawlOptions, _Crawl
    from bot.crawl.state import STATE_FILE, save_state
    from tests.crawl.site import FixtureSite, SlowHeaders, bomb_site, link_heavy_site

    if args.deadline:
        fetch.REQUEST_SECONDS = args.deadline
    slow = SlowHeaders(interval=1.0, seconds=600, fast=("/robots.txt",))
    with FixtureSite() as site, slow, tempfile.TemporaryDirectory() as tmp:
        if args.kind == "bombs":
            bomb_site(site, only=tuple(args.bomb))
            start = f"{site.url}/sitemap.xml"
        elif args.kind == "links":
            link_heavy_site(site)
            start = f"{site.url}/liens/0.html"
        else:  # one header byte a second, robots.txt answered at once
            start = f"{slow.url}/page.html"
        options = CrawlOptions(
            [start], max_pages=args.max_pages, max_bytes=args.max_bytes, delay=0, allow_private=True
        )
        settings = Settings(index_dir=Path(tmp) / "index")
        _reset_peak()
        rss = psutil.Process().memory_info().rss
        began = time.monotonic()
        run = _Crawl(options, settings.index, progress=False)
        run.run()
        run.fetcher.close()
        save_state(settings.index_dir, run.new_state)
        seconds = time.monotonic() - began
        peak = _peak()
        summary, state = run.summary, settings.index_dir / STATE_FILE
        print(
            json.dumps(
                {
                    "start_mb": rss / 2**20,
                    "peak_mb": peak / 2**20,
                    "growth_mb": max(0, peak - rss) / 2**20,
                    "seconds": seconds,
                    "skipped": {s.path: s.reason for s in summary.skipped},
                    "not_visited": summary.not_visited,
                    "links_dropped": getattr(summary, "links_dropped", None),
                    "state_bytes": state.stat().st_size if state.exists() else 0,
                },
                ensure_ascii=False,
            )
        )


if __name__ == "__main__":
    main()
