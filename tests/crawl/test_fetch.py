"""The crawl's HTTP: Crawl-delay obeyed, the address guard in the connection itself,
redirect loops cut, bodies cut at the byte limit."""

from __future__ import annotations

import time

import httpcore

from bot.crawl import urls
from bot.crawl.fetch import MAX_REDIRECTS, Fetcher
from bot.crawl.urls import Scope
from tests.crawl.site import FixtureSite, Resource, page
from tests.crawl.test_urls import HIDDEN_PRIVATE


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


class FakeNetwork:
    """Names resolved by the test (the guard's resolver patched) and connections recorded:
    the one public address given is routed to the fixture site, any other is a failure."""

    PUBLIC = "93.184.215.14"

    def __init__(self, monkeypatch, site: FixtureSite) -> None:
        self.connected: list[str] = []
        self.names: dict[str, list[str]] = {}
        port = int(site.url.rsplit(":", 1)[1])
        connect = httpcore.SyncBackend.connect_tcp

        def connect_tcp(backend, host, port_, timeout=None, local_address=None, socket_options=None):
            self.connected.append(host)
            if host != self.PUBLIC:
                raise AssertionError(f"connected to {host}")
            return connect(backend, "127.0.0.1", port, timeout, local_address, socket_options)

        monkeypatch.setattr(httpcore.SyncBackend, "connect_tcp", connect_tcp)
        monkeypatch.setattr(urls, "resolve", lambda host, port: self.names.get(host, [host.strip("[]")]))


def _where(address: str, port: str) -> str:
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


def test_the_connection_refuses_ipv6_forms_of_private_addresses_from_dns(monkeypatch) -> None:
    with FixtureSite() as site:
        port = site.url.rsplit(":", 1)[1]
        network, accepted = FakeNetwork(monkeypatch, site), []
        for address, form in HIDDEN_PRIVATE.items():
            network.names["intranet.example"] = [address]
            fetcher = Fetcher(
                [Scope.of(f"http://intranet.example:{port}/")], allow_private=False, delay=0, max_bytes=10_000
            )
            got = fetcher.get(f"http://intranet.example:{port}/")
            fetcher.close()
            if not got.reason.startswith(f"adresse locale, privée ou réservée refusée ({address})"):
                accepted.append(f"{address} ({form}): {got.kind} {got.reason}")
            assert not network.connected
        assert not accepted
        assert not site.hits


def test_the_connection_refuses_ipv6_forms_of_private_addresses_after_a_redirect(monkeypatch) -> None:
    """robots.txt is followed wherever it redirects: the guard is what stops it."""
    with FixtureSite() as site:
        port = site.url.rsplit(":", 1)[1]
        network, accepted = FakeNetwork(monkeypatch, site), []
        network.names["public.example"] = [FakeNetwork.PUBLIC]
        for address, form in HIDDEN_PRIVATE.items():
            network.connected.clear()
            target = f"http://{_where(address, port)}/robots.txt"
            site.resources["/robots.txt"] = Resource(b"", status=302, location=target)
            fetcher = Fetcher(
                [Scope.of(f"http://public.example:{port}/")], allow_private=False, delay=0, max_bytes=10_000
            )
            got = fetcher.get(f"http://public.example:{port}/page.html")
            fetcher.close()
            if not got.reason.startswith(f"adresse locale, privée ou réservée refusée ({address})"):
                accepted.append(f"{address} ({form}): {got.kind} {got.reason}")
            assert network.connected == [FakeNetwork.PUBLIC]  # the site itself, never the target
        assert not accepted
        assert site.hits[("/robots.txt", 302)] == len(HIDDEN_PRIVATE)
