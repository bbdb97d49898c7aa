"""The crawl against a hostile site on 127.0.0.1 (issue 28): compression bombs, headers sent
one byte at a time, link-heavy pages, URLs that do not parse."""

from __future__ import annotations

import time
import zlib

import brotli
import pytest
import zstandard

from bot.crawl import fetch
from bot.crawl.fetch import Fetcher
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
    """The module's REQUEST_SECONDS is the deadline a Fetcher gets when none is given."""
    monkeypatch.setattr(fetch, "REQUEST_SECONDS", 1.5)
    with SlowHeaders(interval=0.3, seconds=20, fast=("/robots.txt",)) as server:
        fetcher = Fetcher([Scope.of(server.url + "/")], allow_private=True, delay=0, max_bytes=10_000)
        began = time.monotonic()
        got = fetcher.get(server.url + "/page.html")
        took = time.monotonic() - began
        fetcher.close()
    assert got.kind == "transient" and took < 3, took
