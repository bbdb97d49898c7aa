"""URLs a crawl may visit: http(s) only, normalised, inside the scope of its start URLs,
and (unless allowed) never at a loopback, link-local, private or reserved address.

The address check runs where the connection is made (`bot.crawl.fetch`), on every
address the name resolves to, so a name that resolves to 127.0.0.1 or 169.254.169.254
(or is made to, between two lookups) is refused like the literal address. An IPv6
address that carries an IPv4 one (mapped, translated, compatible, NAT64, 6to4, Teredo)
is refused when the IPv4 address is: behind NAT64 or a 6to4 relay it reaches that host.

A URL that does not parse is never an exception: `normalize` gives None (a link or a
redirect is then left out) and `check_start` refuses it.
"""

from __future__ import annotations

import ipaddress
import posixpath
import re
import socket
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit, urlunsplit

import httpx

from bot.errors import UserError

SCHEMES = ("http", "https")
_SCHEME = re.compile(r"[a-z][a-z0-9+.-]*")  # RFC 3986, 3.1
# Refused though `ipaddress` may call them global: site-local (deprecated, RFC 3879), the
# 6to4 relay anycast (deprecated, RFC 7526), local-use NAT64 (RFC 8215: any prefix length
# inside it, so the IPv4 address cannot be read back from a fixed place).
_REFUSED = tuple(ipaddress.ip_network(n) for n in ("fec0::/10", "192.88.99.0/24", "64:ff9b:1::/48"))
# IPv6 ranges whose last 32 bits are an IPv4 address: IPv4-translated (RFC 2765),
# IPv4-compatible (deprecated, RFC 4291) and the well-known NAT64 prefix (RFC 6052).
_LOW_32_BITS = tuple(ipaddress.ip_network(n) for n in ("::ffff:0:0:0/96", "::/96", "64:ff9b::/96"))


class CrawlRefused(UserError):
    """A start URL the crawl will not visit. `reason` is « French — English »."""

    status = 422
    exit_code = 2

    def __init__(self, reason: str, code: str = "crawl_refused") -> None:
        french, _, english = reason.partition(" — ")
        super().__init__(code, french, english or french)
        self.reason = reason


def scheme_refused(url: str) -> str:
    scheme = url.strip().partition(":")[0].lower() if ":" in url else ""
    shown = scheme if _SCHEME.fullmatch(scheme) else "sans schéma"
    return f"schéma non autorisé ({shown}) : http ou https seulement — only http and https URLs"


def malformed(url: str) -> str:
    shown = url if len(url) <= 200 else url[:200] + "…"
    return f"adresse web mal formée ({shown}) : vérifiez-la — malformed web address"


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
    except ValueError:  # "http://[::1", a port out of range
        return None
    if parts.scheme.lower() not in SCHEMES or not parts.hostname:
        return None
    scheme = parts.scheme.lower()
    host = parts.hostname.lower()
    if host.isascii() and ":" not in host:
        try:  # the resolver's own check (an empty or 64-letter label), which httpx leaves to it
            host.encode("idna")
        except UnicodeError:
            return None
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
    normal = urlunsplit((scheme, host, path, parts.query, ""))
    try:
        httpx.URL(normal)  # what urllib lets through and the HTTP client would not (control characters)
    except (httpx.InvalidURL, ValueError):
        return None
    return normal


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
        try:
            parts = urlsplit(url)
        except ValueError:  # not from `normalize` (a hand-edited crawl.json): outside any scope
            return False
        return f"{parts.scheme}://{parts.netloc}" == self.origin and parts.path.startswith(self.prefix)


def in_scope(url: str, scopes: list[Scope]) -> bool:
    return any(s.contains(url) for s in scopes)


def embedded_ipv4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address carries to an IPv4 host, by any transition mechanism."""
    found = [ip.ipv4_mapped, ip.sixtofour, *(ip.teredo or ())]  # Teredo: its server and its client
    if any(ip in net for net in _LOW_32_BITS):
        found.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    return [a for a in found if a is not None]


def is_public(address: str) -> bool:
    """Whether an IP address is on the public internet, and so is every IPv4 address it embeds."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    checked = [ip, *(embedded_ipv4(ip) if isinstance(ip, ipaddress.IPv6Address) else ())]
    return all(a.is_global and not a.is_multicast and not any(a in net for net in _REFUSED) for a in checked)


def resolve(host: str, port: int) -> list[str]:
    """Every address `host` resolves to (a literal address is itself)."""
    host = host.strip("[]")
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(info[4][0] for info in infos))


def check_start(url: str, allow_private: bool) -> str:
    """A start URL, normalised, or CrawlRefused: a scheme other than http(s), a URL that
    does not parse, or a host that resolves to a non-public address without `allow_private`."""
    normal = normalize(url)
    if normal is None:
        if url.strip().partition(":")[0].lower() in SCHEMES:
            raise CrawlRefused(malformed(url), "crawl_url")
        raise CrawlRefused(scheme_refused(url), "crawl_scheme")
    if not allow_private:
        parts = urlsplit(normal)
        try:
            addresses = resolve(parts.hostname or "", parts.port or 443)
        except UnicodeError as exc:  # a host name the resolver cannot even encode
            raise CrawlRefused(malformed(url), "crawl_url") from exc
        except OSError as exc:
            raise CrawlRefused(
                f"nom d'hôte introuvable ({parts.hostname}) — unknown host", "crawl_dns"
            ) from exc
        for address in addresses:
            if not is_public(address):
                raise CrawlRefused(private_refused(address), "crawl_private_address")
    return normal
