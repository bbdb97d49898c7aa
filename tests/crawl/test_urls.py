"""URLs: one spelling, the scope of a start URL, and the addresses a crawl may reach."""

from __future__ import annotations

import pytest

from bot.crawl import urls
from bot.crawl.urls import CrawlRefused, Scope, check_start, is_public, normalize


def test_normalize() -> None:
    assert normalize("HTTP://Example.ORG:80/a/./b/../c.html#x") == "http://example.org/a/c.html"
    assert normalize("https://example.org") == "https://example.org/"
    assert normalize("../d/?q=1", "https://example.org/a/b/") == "https://example.org/a/d/?q=1"
    assert normalize("https://example.org:8443/") == "https://example.org:8443/"
    for other in (
        "mailto:a@example.org",
        "file:///etc/passwd",
        "data:text/html,<p>x</p>",
        "javascript:alert(1)",
        "ftp://example.org/",
        "http://",
    ):
        assert normalize(other) is None, other


def test_scope_is_the_host_and_the_folder_of_the_start_url() -> None:
    blog = Scope.of("https://example.org/blog/article.html")
    assert blog.contains("https://example.org/blog/autre.html")
    assert blog.contains("https://example.org/blog/2024/page.html")
    assert not blog.contains("https://example.org/boutique/")
    assert not blog.contains("https://sub.example.org/blog/x")
    assert not blog.contains("http://example.org/blog/x")  # another scheme is another site
    assert Scope.of("https://example.org/").contains("https://example.org/tout/ici")


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",
        "::1",
        "fe80::1",
        "fd00::1",
        "::ffff:127.0.0.1",
        "224.0.0.1",
    ],
)
def test_non_public_addresses(address: str) -> None:
    assert not is_public(address)


def test_public_addresses() -> None:
    assert is_public("93.184.215.14") and is_public("2606:4700::1111")


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000/",
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.5/",
        "http://[::1]/",
        "http://localhost/",
        "http://192.168.0.10/intranet/",
    ],
)
def test_start_urls_at_private_addresses_are_refused_without_the_flag(url: str) -> None:
    with pytest.raises(CrawlRefused) as refused:
        check_start(url, allow_private=False)
    assert refused.value.detail.startswith("adresse locale, privée ou réservée refusée (")
    assert "--allow-private" in refused.value.detail
    assert refused.value.status == 422
    assert check_start(url, allow_private=True) == normalize(url)


@pytest.mark.parametrize("url", ["file:///etc/passwd", "data:text/html,bonjour", "ftp://example.org/x"])
def test_other_schemes_are_refused_even_with_the_flag(url: str) -> None:
    with pytest.raises(CrawlRefused, match="schéma non autorisé"):
        check_start(url, allow_private=True)


# IPv6 forms that carry a private IPv4 address (behind NAT64 or a 6to4 relay they reach it),
# and ranges `ipaddress` calls global that are deprecated or local: each refused.
HIDDEN_PRIVATE = {
    "64:ff9b::a00:5": "NAT64 (RFC 6052) of 10.0.0.5",
    "64:ff9b::a9fe:a9fe": "NAT64 of 169.254.169.254",
    "64:ff9b:1::a00:5": "local-use NAT64 (RFC 8215)",
    "64:ff9b:1:a00:5::": "local-use NAT64, a /48 prefix",
    "::a00:5": "IPv4-compatible 10.0.0.5",
    "::127.0.0.1": "IPv4-compatible loopback",
    "::ffff:0:a00:5": "IPv4-translated 10.0.0.5",
    "::ffff:0:127.0.0.1": "IPv4-translated loopback",
    "2002:a00:5::": "6to4 of 10.0.0.5",
    "2002:7f00:1::": "6to4 of 127.0.0.1",
    "2002:a9fe:a9fe:1::1": "6to4 of 169.254.169.254",
    "fec0::1": "site-local (deprecated)",
    "192.88.99.1": "6to4 relay anycast (deprecated)",
    "2002:c058:6301::": "6to4 of the relay anycast",
}
STILL_PUBLIC = ["93.184.215.14", "2606:4700::1111", "64:ff9b::5db8:d70e", "2002:5db8:d70e::1"]


def _literal(address: str) -> str:
    return f"http://[{address}]/" if ":" in address else f"http://{address}/"


def test_ipv6_forms_of_private_ipv4_addresses_are_refused_from_a_literal() -> None:
    """Checked without connecting: a literal resolves to itself."""
    accepted = []
    for address, form in HIDDEN_PRIVATE.items():
        try:
            check_start(_literal(address), allow_private=False)
            accepted.append(f"{address} ({form})")
        except CrawlRefused as refused:
            assert refused.code == "crawl_private_address"
    assert not accepted
    assert all(is_public(a) for a in STILL_PUBLIC)


def test_ipv6_forms_of_private_ipv4_addresses_are_refused_from_a_dns_answer(monkeypatch) -> None:
    answer: list[str] = []
    monkeypatch.setattr(urls, "resolve", lambda host, port: answer)
    accepted = []
    for address, form in HIDDEN_PRIVATE.items():
        answer[:] = ["93.184.215.14", address]  # one bad address among good ones is enough
        try:
            check_start("https://intranet.example/", allow_private=False)
            accepted.append(f"{address} ({form})")
        except CrawlRefused as refused:
            assert address in refused.detail
    assert not accepted


@pytest.mark.parametrize(
    "url", ["http://[::1", "http://[::1]:99999/", "https://", "http://exa\x01mple.org/", "http://a..b/"]
)
def test_a_malformed_start_url_is_refused_not_raised(url: str) -> None:
    with pytest.raises(CrawlRefused) as refused:
        check_start(url, allow_private=True)
    assert refused.value.code == "crawl_url" and refused.value.status == 422
    assert refused.value.exit_code == 2
    assert refused.value.detail.startswith("adresse web mal formée (")
