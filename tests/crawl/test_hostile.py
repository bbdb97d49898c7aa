"""The crawl against a hostile site on 127.0.0.1 (issue 28): compression bombs, headers sent
one byte at a time, link-heavy pages, URLs that do not parse."""

from __future__ import annotations

import time
import zlib

import brotli
import pytest
import zstandard

from bot.config import Settings
from bot.crawl import fetch
from bot.crawl.crawler import CrawlOptions, crawl
from bot.crawl.fetch import Fetcher
from bot.crawl.pages import MAX_PAGE_LINKS
from bot.crawl.urls import Scope
from tests.crawl.hostile import measure
from tests.crawl.site import FixtureSite, Resource, SlowHeaders, gzip, page

BUDGET_MB = 50  # peak resident memory of a crawl over what it had at its start


def test_compression_bombs_are_cut_at_the_page_limit_with_memory_near_it() -> None:
    """Bombs of every coding decode to 200 MB from a few hundred bytes to a few hundred KB:
    each is cut once 1 MB is decoded, a stacked coding and an unknown one are refused."""
    got = measure("bombs", "--max-bytes", "1000000")
    assert got["growth_mb"] < BUDGET_MB, got
    reasons = {url.rsplit("/", 1)[1]: reason for url, reason in got["skipped"].items()}
    for bomb in ("br.html", "gzip.html", "zstd.html", "deflate.html"):
        assert reasons[bomb].startswith("page trop volumineuse (plus de 1"), reasons
    assert reasons["gzip-gzip.html"] == (
        "compressions empilées (gzip, gzip) : refusées — stacked content encodings refused"
    )
    assert reasons["compress.html"] == (
        "compression non prise en charge (compress) — unsupported content encoding"
    )


def test_pages_in_every_coding_are_read_whole() -> None:
    body = page("Compression", "<p>Les haies du canal.</p>" * 2_000)
    coded = {
        "gzip": gzip(body),
        "br": brotli.compress(body),
        "zstd": zstandard.ZstdCompressor().compress(body),
        "deflate": zlib.compress(body),
        "identity": body,
    }
    with FixtureSite() as site:
        site.resources["/robots.txt"] = Resource(gzip(b"User-agent: *\nDisallow: /prive/\n"), "text/plain")
        site.resources["/robots.txt"].headers["Content-Encoding"] = "gzip"
        for coding, data in coded.items():
            site.resources[f"/{coding}.html"] = Resource(data, headers={"Content-Encoding": coding})
        site.resources["/corrompu.html"] = Resource(
            b"\x1f\x8b pas du gzip", headers={"Content-Encoding": "gzip"}
        )
        fetcher = Fetcher([Scope.of(site.url + "/")], allow_private=True, delay=0, max_bytes=200_000)
        for coding in coded:
            got = fetcher.get(f"{site.url}/{coding}.html")
            assert (got.kind, got.body) == ("ok", body), coding
        assert fetcher.get(f"{site.url}/prive/x.html").reason.startswith("interdit par robots.txt")
        corrupt = fetcher.get(f"{site.url}/corrompu.html")
        assert corrupt.kind == "transient" and "contenu compressé illisible" in corrupt.reason
        fetcher.close()


@pytest.mark.parametrize("slow", ["/page.html", "/robots.txt"])
def test_headers_sent_one_byte_at_a_time_end_at_the_deadline(slow: str) -> None:
    """One deadline for a whole response, head included: a server that sends a header byte
    every half second (for 20 s) is cut at 2 s, for a page as for robots.txt."""
    fast = ("/robots.txt",) if slow != "/robots.txt" else ()
    with SlowHeaders(interval=0.5, seconds=20, fast=fast) as server:
        fetcher = Fetcher(
            [Scope.of(server.url + "/")], allow_private=True, delay=0, max_bytes=10_000, deadline=2
        )
        began = time.monotonic()
        got = fetcher.get(server.url + "/page.html")
        took = time.monotonic() - began
        fetcher.close()
    assert took < 3.5, took
    if slow == "/robots.txt":  # unreachable robots.txt: the site is left alone (RFC 9309)
        assert got.kind == "skipped" and got.reason.startswith("robots.txt injoignable (échec passager")
    else:
        assert got.kind == "transient" and got.reason.startswith("échec passager (délai dépassé)")


def test_the_default_deadline_covers_the_head(monkeypatch) -> None:
    """The deadline every crawl gets (REQUEST_SECONDS: 30 s, 1.5 s here) covers the head too:
    before, headers at a byte every 0.3 s held the fetch for the server's whole 20 s."""
    monkeypatch.setattr(fetch, "REQUEST_SECONDS", 1.5)
    with SlowHeaders(interval=0.3, seconds=20, fast=("/robots.txt",)) as server:
        fetcher = Fetcher([Scope.of(server.url + "/")], allow_private=True, delay=0, max_bytes=10_000)
        began = time.monotonic()
        got = fetcher.get(server.url + "/page.html")
        took = time.monotonic() - began
        fetcher.close()
    assert got.kind == "transient" and took < 3, took


def test_a_link_heavy_site_keeps_memory_and_crawl_json_small() -> None:
    """Ten pages of 20,000 links each (each page's links lead to ten thousand more)."""
    got = measure("links", "--max-pages", "10")
    assert got["growth_mb"] < BUDGET_MB, got
    assert got["state_bytes"] < 1_000_000, got  # 20,000 links a page kept made it 9 MB
    assert got["links_dropped"] == 10 * (20_000 - MAX_PAGE_LINKS)
    assert f"{20_000 - MAX_PAGE_LINKS} liens ignorés sur " in got["stderr"]
    # The queue took what --max-pages could still visit; the others are counted, not kept.
    assert len(got["skipped"]) == 10 and got["not_visited"] >= MAX_PAGE_LINKS


def test_urls_that_do_not_parse_anywhere_in_a_crawl_are_left_out(tmp_path, embedder) -> None:
    """Links, a canonical URL, a redirect, a sitemap, robots.txt and crawl.json with URLs
    urllib or the HTTP client refuses: the crawl reads what it can and says why it left the rest."""
    bad = ["http://[::1", "http://127.0.0.1:99999/", "/a&#1;b.html", "/c&#x1b;d.html", "http://[zz]/"]
    anchors = "".join(f'<a href="{u}">lien</a>' for u in bad) + '<a href="/ok.html">ok</a>'
    with FixtureSite() as site:
        site.resources["/robots.txt"] = Resource(
            b"User-agent: *\nDisallow: http://[::1\nSitemap: http://[::1\nCrawl-delay: abc\n", "text/plain"
        )
        site.resources["/"] = Resource(
            b'<html><head><title>Accueil</title><link rel="canonical" href="http://[::1"></head><body>'
            + f"<p>Les vergers de Bagnolet.</p>{anchors}</body></html>".encode()
        )
        site.resources["/ok.html"] = Resource(b"", status=302, location="http://[::1")
        site.resources["/sitemap.xml"] = Resource(
            b'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"><url><loc>http://[::1</loc></url>'
            b"<url><loc>http://x\x01y/</loc></url></urlset>",
            "application/xml",
        )
        index = tmp_path / "index"
        index.mkdir()  # a crawl.json edited by hand
        (index / "crawl.json").write_text('{"format": 1, "urls": {"http://[::1": {}}}', encoding="utf-8")
        summary = crawl(
            CrawlOptions([f"{site.url}/", f"{site.url}/sitemap.xml"], delay=0, allow_private=True),
            Settings(index_dir=index),
            lambda: embedder,
            progress=False,
        )
    assert summary.added == [f"{site.url}/"]
    reasons = {s.path: s.reason for s in summary.skipped}
    assert reasons == {f"{site.url}/ok.html": "redirection hors du périmètre (?) — redirect out of scope"}
