"""URLs a crawl may visit: http(s) only, normalised, inside the scope of its start URLs,
and (unless allowed) never at a loopback, link-local, private or reserved address.

The address check runs where the connection is made (`bot.crawl.fetch`), on every
address the name resolves to, so a name that resolves to 127.0.0.1 or 169.254.169.254
(or is made to, between two lookups) is refused like the literal address.
"""

from __future__ import annotations

import ipaddress
import posixpath
import socket
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit, urlunsplit

from bot.errors import UserError

SCHEMES = ("http", "https")


class CrawlRefused(UserError):
    """A start URL the crawl will not visit. `reason` is « French — English »."""

    status = 422
    exit_code = 2

    def __init__(self, reason: str, code: str = "crawl_refused") -> None:
        french, _, english = reason.partition(" — ")
        super().__init__(code, french, english or french)
        self.reason = reason


def scheme_refused(url: str) -> str:
    shown = (urlsplit(url).scheme or "sans schéma") if "://" in url or ":" in url else "sans schéma"
    return f"schéma non autorisé ({shown}) : http ou https seulement — only http and https URLs"


def private_refused(address: str) -> str:
    return (
        f"adresse locale, privée ou réservée refusée ({address}) : ajoutez --allow-private pour un"
        f" site interne — loopback, link-local or private address refused ({address})"
    )


def normalize(url: str, base: str | None = None) -> str | None:
    """The URL in one spelling (no fragment, lower-case scheme and host, no default port,
    `.` and `..` resolved, a path of at least "/"); None when it is not http(s)."""
    try:
        joined = urljoin(base, url.strip()) if base else url.strip()
        parts = urlsplit(joined)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme.lower() not in SCHEMES or not parts.hostname:
        return None
    scheme = parts.scheme.lower()
    host = parts.hostname.lower()
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    if port is not None and port != {"http": 80, "https": 443}[scheme]:
        host = f"{host}:{port}"
    path = parts.path or "/"
    trailing = path.endswith("/")
    path = posixpath.normpath(path)
    path = "/" if path in (".", "//") else path.replace("//", "/")
    if trailing and not path.endswith("/"):
        path += "/"
    return urlunsplit((scheme, host, path, parts.query, ""))


@dataclass(frozen=True)
class Scope:
    """Where a crawl may go: the start URL's host, under its folder (`/blog/` for
    `https://example.org/blog/` or `https://example.org/blog/page.html`)."""

    origin: str  # scheme://host[:port]
    prefix: str

    @classmethod
    def of(cls, start: str) -> Scope:
        parts = urlsplit(start)
        prefix = parts.path[: parts.path.rfind("/") + 1] or "/"
        return cls(f"{parts.scheme}://{parts.netloc}", prefix)

    def contains(self, url: str) -> bool:
        parts = urlsplit(url)
        return f"{parts.scheme}://{parts.netloc}" == self.origin and parts.path.startswith(self.prefix)


def in_scope(url: str, scopes: list[Scope]) -> bool:
    return any(s.contains(url) for s in scopes)


def is_public(address: str) -> bool:
    """Whether an IP address is on the public internet (IPv4 mapped in IPv6 checked as IPv4)."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def resolve(host: str, port: int) -> list[str]:
    """Every address `host` resolves to (a literal address is itself)."""
    host = host.strip("[]")
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(info[4][0] for info in infos))


def check_start(url: str, allow_private: bool) -> str:
    """A start URL, normalised, or CrawlRefused: a scheme other than http(s), or a host
    that resolves to a non-public address without `allow_private`."""
    normal = normalize(url)
    if normal is None:
        raise CrawlRefused(scheme_refused(url), "crawl_scheme")
    if not allow_private:
        parts = urlsplit(normal)
        try:
            addresses = resolve(parts.hostname or "", parts.port or 443)
        except OSError as exc:
            raise CrawlRefused(
                f"nom d'hôte introuvable ({parts.hostname}) — unknown host", "crawl_dns"
            ) from exc
        for address in addresses:
            if not is_public(address):
                raise CrawlRefused(private_refused(address), "crawl_private_address")
    return normal
