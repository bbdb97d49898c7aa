"""A real fixture website served on 127.0.0.1 by a thread of the test process.

Its pages can be changed or removed between two crawls; it answers conditional requests
(ETag, Last-Modified) with 304 and counts every response by kind, so a test can tell
how many bodies were sent in full. The hostile site's parts are here too: compression
bombs, link-heavy pages, and a server that sends its headers one byte at a time.
"""

from __future__ import annotations

import hashlib
import socket
import threading
import time
import zlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import brotli
import zstandard

from tests.ingest.loaders.helpers import make_pdf

BOILERPLATE_NAV = (
    '<nav><a href="/">Accueil</a> <a href="/actualites/projet.html">Actualités</a>'
    ' <a href="/a-propos.html">À propos</a></nav>'
)
COOKIES = '<div id="cookie-banner" class="cookie-banner">Nous utilisons des cookies. Accepter</div>'
FOOTER = "<footer>Mentions légales · Plan du site · © Coopérative des Tilleuls</footer>"


def page(title: str, body: str, extra_head: str = "", date: str | None = None) -> bytes:
    meta = f'<meta property="article:published_time" content="{date}">' if date else ""
    return (
        f'<!doctype html><html lang="fr"><head><meta charset="utf-8"><title>{title}</title>'
        f"{meta}{extra_head}</head><body>{COOKIES}<header>{BOILERPLATE_NAV}</header>"
        f"<main><article><h1>{title}</h1>{body}</article></main>{FOOTER}</body></html>"
    ).encode()


@dataclass
class Resource:
    body: bytes
    content_type: str = "text/html; charset=utf-8"
    status: int = 200
    location: str | None = None
    mtime: float = 1_700_000_000.0
    headers: dict[str, str] = field(default_factory=dict)  # Content-Encoding, for one


class FixtureSite:
    def __init__(self) -> None:
        self.resources: dict[str, Resource] = {}
        self.generated: Callable[[str], Resource | None] = lambda path: None  # past `resources`
        self.hits: Counter[tuple[str, int]] = Counter()  # (path, status) -> responses
        self.user_agents: set[str] = set()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FixtureSite:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def full_bodies(self) -> int:
        """Responses that carried a whole page or document (200), robots.txt left out."""
        return sum(n for (path, status), n in self.hits.items() if status == 200 and path != "/robots.txt")

    def _handler(self):
        site = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # quiet
                pass

            def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
                site.user_agents.add(self.headers.get("User-Agent", ""))
                res = site.resources.get(self.path) or site.generated(self.path)
                if res is None:
                    return self._send(404, b"<h1>Introuvable</h1>", "text/html")
                if res.status in (301, 302):
                    self.send_response(res.status)
                    self.send_header("Location", res.location or "/")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    site.hits[(self.path, res.status)] += 1
                    return
                if res.status != 200:
                    return self._send(res.status, b"<h1>Erreur</h1>", "text/html")
                etag = '"' + hashlib.sha256(res.body).hexdigest()[:16] + '"'
                modified = formatdate(res.mtime, usegmt=True)
                if self.headers.get("If-None-Match") == etag:
                    site.hits[(self.path, 304)] += 1
                    self.send_response(304)
                    self.send_header("ETag", etag)
                    self.end_headers()
                    return
                headers = {"ETag": etag, "Last-Modified": modified, **res.headers}
                self._send(200, res.body, res.content_type, headers)

            def _send(self, status: int, body: bytes, content_type: str, headers: dict | None = None) -> None:
                site.hits[(self.path, status)] += 1
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                try:
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):  # the crawler stopped reading
                    pass

        return Handler


def alliance_site(site: FixtureSite, tmp: Path) -> None:
    """The pages of the tests: see test_crawl.py for what each one is for."""
    r = site.resources
    r["/robots.txt"] = Resource(b"User-agent: *\nDisallow: /prive/\n", "text/plain")
    r["/"] = Resource(
        page(
            "Coopérative des Tilleuls",
            (
                "<p>Bienvenue sur le site de la coopérative.</p><ul>"
                '<li><a href="/actualites/projet.html">Le projet</a></li>'
                '<li><a href="/a-propos.html#equipe">Équipe</a></li>'
                '<li><a href="/prive/secret.html">Espace privé</a></li>'
                '<li><a href="/ancienne-adresse.html">Ancienne page</a></li>'
                '<li><a href="/vers-ailleurs.html">Partenaire</a></li>'
                '<li><a href="/absente.html">Absente</a></li><li><a href="/panne.html">En panne</a></li>'
                '<li><a href="/enorme.html">Archive</a></li><li><a href="/docs/rapport.pdf">Rapport</a></li>'
                '<li><a href="/logo.png">Logo</a></li><li><a href="/evolue.html">Évolue</a></li>'
                '<li><a href="/disparait.html">Éphémère</a></li>'
                '<li><a href="mailto:contact@example.org">Écrire</a></li>'
                '<li><a href="file:///etc/passwd">Fichier</a></li></ul>'
            ),
        )
    )
    r["/actualites/projet.html"] = Resource(
        page(
            "Le projet Tilleul",
            "<h2>Origines</h2><p>Le projet Tilleul a été lancé en 2011 par la coopérative Arbres Unis,"
            " à Montreuil, pour replanter des arbres dans les cours d'école.</p>"
            "<h2>Chiffres</h2><table><tr><th>Année</th><th>Arbres</th></tr>"
            "<tr><td>2011</td><td>40</td></tr><tr><td>2021</td><td>1200</td></tr></table>",
            extra_head='<link rel="canonical" href="/actualites/projet.html">',
            date="2021-03-15",
        )
    )
    r["/a-propos.html"] = Resource(
        page(
            "À propos",
            '<h2 id="equipe">Équipe</h2><p>La coopérative Arbres Unis compte douze salariés.'
            " Sa présidente s'appelle Jeanne Moreau.</p>",
        )
    )
    r["/prive/secret.html"] = Resource(page("Secret", "<p>Le code du coffre est 1234.</p>"))
    r["/ancienne-adresse.html"] = Resource(b"", status=301, location="/nouvelle-adresse.html")
    r["/nouvelle-adresse.html"] = Resource(
        page("Nouvelle adresse", "<p>Les ateliers de greffe ont lieu chaque samedi au jardin partagé.</p>")
    )
    r["/vers-ailleurs.html"] = Resource(b"", status=302, location="http://partenaire.example/accueil")
    r["/panne.html"] = Resource(b"", status=500)
    r["/enorme.html"] = Resource(page("Archive", "<p>Archive.</p>" * 80_000))  # about 1 MB
    make_pdf(tmp / "rapport.pdf", ["Rapport annuel 2022 : la coopérative a planté 300 arbres fruitiers."])
    r["/docs/rapport.pdf"] = Resource((tmp / "rapport.pdf").read_bytes(), "application/pdf")
    r["/logo.png"] = Resource(b"\x89PNG\r\n\x1a\n" + b"\x00" * 100, "image/png")
    r["/evolue.html"] = Resource(page("Agenda", "<p>La prochaine plantation aura lieu le 12 mars.</p>"))
    r["/disparait.html"] = Resource(page("Éphémère", "<p>Une exposition temporaire sur les haies.</p>"))
    r["/sitemap.xml"] = Resource(
        b'<?xml version="1.0" encoding="UTF-8"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        b"<url><loc>"
        + site.url.encode()
        + b"/</loc></url><url><loc>"
        + site.url.encode()
        + b"/plan/seulement-dans-le-plan.html</loc></url></urlset>",
        "application/xml",
    )
    r["/plan/seulement-dans-le-plan.html"] = Resource(
        page(
            "Page du plan",
            "<p>Cette page n'est listée que dans le plan du site : les vergers de Bagnolet.</p>",
        )
    )


# ------------------------------------------------------------------------ the hostile site

BOMB_BYTES = 200 * 1024 * 1024  # what each bomb decodes to: far over any page limit
_MB = b"\0" * (1024 * 1024)


def brotli_bomb(size: int = BOMB_BYTES) -> bytes:
    """A few hundred bytes that decode to `size` zero bytes (built a megabyte at a time)."""
    encoder = brotli.Compressor(quality=5)
    return b"".join(encoder.process(_MB) for _ in range(size // len(_MB))) + encoder.finish()


def gzip_bomb(size: int = BOMB_BYTES) -> bytes:
    """`size` zero bytes gzipped (about a thousandth of it: 200 MB in 200 KB)."""
    encoder = zlib.compressobj(9, zlib.DEFLATED, 31)
    return b"".join(encoder.compress(_MB) for _ in range(size // len(_MB))) + encoder.flush()


def zstd_bomb(size: int = BOMB_BYTES) -> bytes:
    encoder = zstandard.ZstdCompressor().compressobj()
    return b"".join(encoder.compress(_MB) for _ in range(size // len(_MB))) + encoder.flush()


def deflate_bomb(size: int = BOMB_BYTES) -> bytes:
    encoder = zlib.compressobj(9)
    return b"".join(encoder.compress(_MB) for _ in range(size // len(_MB))) + encoder.flush()


def gzip(body: bytes) -> bytes:
    encoder = zlib.compressobj(9, zlib.DEFLATED, 31)
    return encoder.compress(body) + encoder.flush()


def bomb_site(site: FixtureSite, size: int = BOMB_BYTES, only: tuple[str, ...] = ()) -> list[str]:
    """A sitemap listing bombs of every coding (one stacked) and an unknown coding, each
    served as an HTML page (or those of `only`, paths without their "/"); returns their paths."""
    single = gzip_bomb(size)
    bombs = {
        "/br.html": (brotli_bomb(size), "br"),
        "/gzip-gzip.html": (gzip(single), "gzip, gzip"),  # gzipped twice: 200 MB in 600 bytes
        "/gzip.html": (single, "gzip"),
        "/zstd.html": (zstd_bomb(size), "zstd"),
        "/deflate.html": (deflate_bomb(size), "deflate"),
        "/compress.html": (b"\x1f\x9d" + b"\0" * 100, "compress"),
    }
    bombs = {path: bomb for path, bomb in bombs.items() if not only or path[1:] in only}
    for path, (body, coding) in bombs.items():
        site.resources[path] = Resource(body, headers={"Content-Encoding": coding})
    locs = "".join(f"<url><loc>{site.url}{path}</loc></url>" for path in bombs)
    site.resources["/sitemap.xml"] = Resource(
        f'<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{locs}</urlset>'.encode(),
        "application/xml",
    )
    return list(bombs)


def link_heavy_site(site: FixtureSite, links: int = 20_000) -> None:
    """Every page /liens/N.html (noindex: no text to embed) links to `links` pages of its own."""

    def generated(path: str) -> Resource | None:
        if not (path.startswith("/liens/") and path.endswith(".html")):
            return None
        n = int(path[len("/liens/") : -len(".html")] or 0)
        anchors = "".join(f'<a href="/liens/{n * links + i + 1}.html">{i}</a>' for i in range(links))
        return Resource(
            f'<html><head><meta name="robots" content="noindex"></head><body>{anchors}</body></html>'.encode()
        )

    site.generated = generated


class SlowHeaders:
    """A server on 127.0.0.1 that sends a response's head one byte every `interval` seconds
    (for `seconds` at most, then the rest of it), except the paths in `fast` (a plain 404)."""

    def __init__(self, interval: float = 0.5, seconds: float = 20.0, fast: tuple[str, ...] = ()) -> None:
        self.interval, self.seconds, self.fast = interval, seconds, fast
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.stop = threading.Event()

    def __enter__(self) -> SlowHeaders:
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.listener.close()

    def _accept(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._drip, args=(conn,), daemon=True).start()

    def _drip(self, conn: socket.socket) -> None:
        try:
            path = conn.recv(65536).split(b" ", 2)[1].decode()
            if path in self.fast:
                conn.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
                return
            head = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nX-Lent: " + b"a" * 10_000
            ends = time.monotonic() + self.seconds
            for byte in head:
                if self.stop.is_set() or time.monotonic() > ends:
                    break
                conn.sendall(bytes([byte]))
                time.sleep(self.interval)
            conn.sendall(b"\r\nContent-Length: 2\r\n\r\nok")
        except OSError:  # the client gave up: what the test wants
            pass
        finally:
            conn.close()
