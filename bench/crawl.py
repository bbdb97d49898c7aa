"""Crawl speed and memory on a local fixture site (README, "Measured").

Serves N generated pages on 127.0.0.1 (each a news article of about 2 KB of French text,
with navigation, a footer and links to 5 other pages), crawls them into a fresh index
with the packaged model, then crawls again with nothing changed. Prints a table: pages a
second for fetching and reading (trafilatura), for the whole first crawl (embedding
included) and for the re-crawl (all 304s), and the process's peak resident memory.

    python bench/crawl.py [--pages 200] [--runs 3]
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.config import Settings  # noqa: E402
from bot.crawl.crawler import CrawlOptions, crawl  # noqa: E402
from bot.embedding import load_embedder  # noqa: E402
from tests.crawl.site import FixtureSite, Resource, page  # noqa: E402

SENTENCES = [
    "La coopérative a réuni {n} bénévoles pour replanter des haies le long du canal.",
    "Le conseil d'administration a voté un budget de {n} 000 euros pour l'année suivante.",
    "Les ateliers de greffe accueillent chaque samedi une vingtaine d'habitants du quartier.",
    "Un partenariat avec l'école Jules-Ferry permet aux élèves de suivre la croissance des arbres.",
    "Le rapport d'activité détaille les {n} projets soutenus depuis la création de l'association.",
]


def build(site: FixtureSite, pages: int) -> None:
    site.resources["/robots.txt"] = Resource(b"User-agent: *\nAllow: /\n", "text/plain")
    links = lambda i: "".join(  # noqa: E731
        f'<li><a href="/articles/{(i * 7 + k) % pages}.html">Article {(i * 7 + k) % pages}</a></li>'
        for k in range(1, 6)
    )
    site.resources["/"] = Resource(
        page(
            "Accueil",
            "<ul>"
            + "".join(f'<li><a href="/articles/{i}.html">Article {i}</a></li>' for i in range(pages))
            + "</ul>",
        )
    )
    for i in range(pages):
        text = "".join(
            f"<h2>Partie {p}</h2><p>" + " ".join(s.format(n=i + p) for s in SENTENCES) + "</p>"
            for p in range(3)
        )
        site.resources[f"/articles/{i}.html"] = Resource(page(f"Article {i}", text + f"<ul>{links(i)}</ul>"))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pages", type=int, default=200)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    embedder = load_embedder(Settings().embedding)
    rss_model = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    rows = {"read": [], "first": [], "again": []}
    for _ in range(args.runs):
        with FixtureSite() as site, tempfile.TemporaryDirectory() as tmp:
            build(site, args.pages)
            settings = Settings(index_dir=Path(tmp) / "index")
            options = CrawlOptions([site.url + "/"], max_pages=args.pages + 10, delay=0, allow_private=True)
            first = crawl(options, settings, lambda: embedder, progress=False)
            again = crawl(options, settings, lambda: embedder, progress=False)
            count = len(first.added)
            assert count == args.pages + 1 and not again.fetched and again.embedded_passages == 0
            rows["read"].append(count / first.crawl_seconds)
            rows["first"].append(count / first.seconds)
            rows["again"].append(count / again.seconds)
    rss_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    load = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    print(f"{args.pages + 1} pages, {args.runs} runs, medians; {load}")
    print("| crawl phase | pages/s |")
    print("|---|---|")
    print(f"| fetch + main text (trafilatura), first crawl | {statistics.median(rows['read']):.1f} |")
    print(f"| whole first crawl, embedding included | {statistics.median(rows['first']):.1f} |")
    print(
        f"| re-crawl, nothing changed (all 304, nothing embedded) | {statistics.median(rows['again']):.1f} |"
    )
    print(f"| peak RSS: {rss_peak:.0f} MB (model loaded: {rss_model:.0f} MB) | |")


if __name__ == "__main__":
    began = time.perf_counter()
    main()
    print(f"({time.perf_counter() - began:.0f} s)")
