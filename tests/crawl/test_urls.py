"""URLs: one spelling, the scope of a start URL, and the addresses a crawl may reach."""

from __future__ import annotations

import pytest

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
