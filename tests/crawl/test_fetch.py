"""The crawl's HTTP: Crawl-delay obeyed, the address guard in the connection itself,
redirect loops cut, bodies cut at the byte limit."""

from __future__ import annotations

import time

from bot.crawl.fetch import MAX_REDIRECTS, Fetcher
from bot.crawl.urls import Scope
from tests.crawl.site import FixtureSite, Resource, page


def test_crawl_delay_from_robots_txt_spaces_the_requests() -> None:
    with FixtureSite() as site:
        site.resources["/robots.txt"] = Resource(b"User-agent: AllianceBot\nCrawl-delay: 0.4\n", "text/plain")
        for i in range(3):
            site.resources[f"/{i}.html"] = Resource(page(f"Page {i}", "<p>Texte.</p>"))
        fetcher = Fetcher([Scope.of(site.url + "/")], allow_private=True, delay=0, max_bytes=10_000)
        began = time.monotonic()
        assert [fetcher.get(f"{site.url}/{i}.html").kind for i in range(3)] == ["ok"] * 3
        # robots.txt, then three pages: three waits of 0.4 s at least
        assert time.monotonic() - began >= 3 * 0.4
        fetcher.close()


def test_the_connection_itself_refuses_private_addresses() -> None:
    """A link or redirect to a name that resolves to loopback is refused where the socket is
    opened, not only when the start URL is checked."""
    with FixtureSite() as site:
        port = site.url.rsplit(":", 1)[1]
        for host in ("127.0.0.1", "localhost"):
            fetcher = Fetcher(
                [Scope.of(f"http://{host}:{port}/")], allow_private=False, delay=0, max_bytes=10_000
            )
            got = fetcher.get(f"http://{host}:{port}/")
            fetcher.close()
            assert got.kind == "skipped" and got.reason.startswith(
                "adresse locale, privée ou réservée refusée"
            )
        assert not site.hits  # not even robots.txt was asked for


def test_redirect_loops_and_oversized_bodies() -> None:
    with FixtureSite() as site:
        site.resources["/robots.txt"] = Resource(b"", "text/plain")
        site.resources["/a"] = Resource(b"", status=302, location="/b")
        site.resources["/b"] = Resource(b"", status=302, location="/a")
        site.resources["/gros"] = Resource(b"x" * 50_000, "text/plain")
        fetcher = Fetcher([Scope.of(site.url + "/")], allow_private=True, delay=0, max_bytes=10_000)
        loop = fetcher.get(site.url + "/a")
        assert loop.kind == "skipped" and loop.reason.startswith(f"plus de {MAX_REDIRECTS} redirections")
        big = fetcher.get(site.url + "/gros")
        assert big.kind == "skipped" and big.reason.startswith("page trop volumineuse (50")
        assert fetcher.counters.bodies == 1  # robots.txt only
        fetcher.close()
