"""HTTP for the crawl: one request at a time, a polite delay per host, robots.txt obeyed,
redirects followed only inside the scope, bodies read up to a byte limit, conditional
requests (ETag, Last-Modified), and connections only to addresses allowed.

The address check is in the connection itself (a network backend for httpcore): each
address the host name resolves to is checked, and the socket connects to the address
checked, so DNS cannot answer one address to the check and another to the connection.

One deadline covers a whole response, head included: the network streams of that
backend give each read and write only the time left, so a server that sends its
headers one byte at a time is cut like one that drips its body. Bodies are read raw and
decoded here in bounded steps (`bot.crawl.decode`), never by the HTTP client in one go.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpcore
import httpx

from bot.crawl import urls
from bot.crawl.decode import ACCEPT_ENCODING, CorruptBody, Decoder, EncodingRefused, decoded, decoder_for
from bot.crawl.urls import Scope, in_scope, is_public, malformed, normalize, private_refused

log = logging.getLogger("bot.crawl")

USER_AGENT = "AllianceBot/0.1 (question-answering assistant; crawler of alliance-bot)"
ROBOTS_AGENT = "AllianceBot"  # the product token robots.txt groups are matched against
MAX_REDIRECTS = 5
MAX_ROBOTS_BYTES = 512 * 1024  # Google reads the first 500 KiB of a robots.txt
MAX_CRAWL_DELAY = 60.0  # a longer Crawl-delay is honoured as this
REQUEST_SECONDS = 30.0  # a whole response, head and body (a slow drip is cut)

# Skip reasons (French first, then English), shown to the operator as they are.
ROBOTS = "interdit par robots.txt — disallowed by robots.txt"
GONE = "page disparue (HTTP {status}) : retirée de l'index — page gone, removed from the index"
TRANSIENT = "échec passager ({what}) : version indexée conservée — transient failure, indexed version kept"
REFUSED = "refusée par le serveur (HTTP {status}) — refused by the server"
OUT_OF_SCOPE = "redirection hors du périmètre ({target}) — redirect out of scope"
TOO_MANY_REDIRECTS = f"plus de {MAX_REDIRECTS} redirections — too many redirects"
ROBOTS_UNREACHABLE = (
    "robots.txt injoignable ({what}) : site laissé de côté par prudence"
    " — robots.txt unreachable, site skipped"
)


def too_large(size: int | None, limit: int) -> str:
    got = f"{size:,} > " if size is not None else "plus de "
    return f"page trop volumineuse ({got}{limit:,} octets) — page over the byte limit".replace(",", "\u202f")


_BAD_LOCATION = "Invalid URL in location header"  # httpx's message for a Location that does not parse


class _OverLimit(Exception):
    """A body past the byte limit, encoded or decoded."""


class AddressRefused(Exception):
    """A connection to a non-public address, refused before it is made."""


class _Deadline:
    """When the current request must be over (None: no request under way)."""

    def __init__(self) -> None:
        self.at: float | None = None

    def left(self, timeout: float | None, expired: type[Exception]) -> float | None:
        """The time a network operation may take: its own timeout, or less (`expired` when none)."""
        if self.at is None:
            return timeout
        left = self.at - time.monotonic()
        if left <= 0:
            raise expired("délai de la réponse dépassé — response deadline passed")
        return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    def __init__(self, stream: httpcore.NetworkStream, deadline: _Deadline) -> None:
        self.stream = stream
        self.deadline = deadline

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self.stream.read(max_bytes, self.deadline.left(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self.stream.write(buffer, self.deadline.left(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self.stream.close()

    def start_tls(self, ssl_context, server_hostname=None, timeout=None) -> httpcore.NetworkStream:
        left = self.deadline.left(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(self.stream.start_tls(ssl_context, server_hostname, left), self.deadline)

    def get_extra_info(self, info: str):
        return self.stream.get_extra_info(info)


class _GuardedBackend(httpcore.SyncBackend):
    def __init__(self, allow_private: bool, deadline: _Deadline) -> None:
        self.allow_private = allow_private
        self.deadline = deadline

    def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        addresses = urls.resolve(host, port) if not self.allow_private else [host]
        if not self.allow_private:
            for address in addresses:
                if not is_public(address):
                    raise AddressRefused(private_refused(address))
        timeout = self.deadline.left(timeout, httpcore.ConnectTimeout)
        stream = super().connect_tcp(addresses[0], port, timeout, local_address, socket_options)
        return _DeadlineStream(stream, self.deadline)


class _GuardedTransport(httpx.HTTPTransport):
    def __init__(self, allow_private: bool, deadline: _Deadline) -> None:
        super().__init__(retries=0)
        ssl_context = self._pool._ssl_context
        self._pool = httpcore.ConnectionPool(
            ssl_context=ssl_context,
            max_connections=4,
            max_keepalive_connections=4,
            network_backend=_GuardedBackend(allow_private, deadline),
        )


@dataclass
class Fetched:
    """What one URL gave: `kind` is ok (a body), not_modified, gone (404/410), transient
    (5xx, timeout: keep what is indexed) or skipped (`reason` says why)."""

    url: str  # the final URL, after redirects inside the scope
    kind: str
    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    reason: str = ""


@dataclass
class Counters:
    requests: int = 0
    bodies: int = 0  # responses whose body was read in full (200s)
    bytes: int = 0
    not_modified: int = 0


class Fetcher:
    def __init__(
        self,
        scopes: list[Scope],
        *,
        allow_private: bool,
        delay: float,
        max_bytes: int,
        timeout: float = 10.0,
        deadline: float | None = None,
    ) -> None:
        self.scopes = scopes
        self.delay = delay
        self.max_bytes = max_bytes
        self.seconds = deadline or REQUEST_SECONDS  # a whole response, head included
        self.counters = Counters()
        self._robots: dict[str, object] = {}
        self._next: dict[str, float] = {}  # origin -> monotonic time of its next request
        self._deadline = _Deadline()
        self.client = httpx.Client(
            transport=_GuardedTransport(allow_private, self._deadline),
            timeout=httpx.Timeout(timeout),
            follow_redirects=False,
            trust_env=False,
            # the codings `bot.crawl.decode` reads in bounded steps, and no other
            headers={"User-Agent": USER_AGENT, "Accept-Encoding": ACCEPT_ENCODING},
        )

    def close(self) -> None:
        self.client.close()

    # ------------------------------------------------------------------ robots.txt

    def robots(self, url: str):
        """The parsed robots.txt of `url`'s origin, or a reason to skip the whole site."""
        from protego import Protego

        origin = _origin(url)
        if origin not in self._robots:
            got = self._request(f"{origin}/robots.txt", {}, limit=MAX_ROBOTS_BYTES, follow=True)
            if got.kind == "ok":
                rules = Protego.parse(got.body.decode("utf-8", errors="replace"))
            elif got.kind == "skipped" and not got.status:  # refused before any answer: say why
                rules = got.reason
            elif got.status and 400 <= got.status < 500:
                rules = Protego.parse("")  # no robots.txt: everything allowed (RFC 9309)
            else:  # unreachable or 5xx: everything disallowed (RFC 9309, 2.3.1.4)
                rules = ROBOTS_UNREACHABLE.format(what=got.reason or f"HTTP {got.status}")
            self._robots[origin] = rules
            # the request for robots.txt itself is the first one its Crawl-delay spaces
            self._next[origin] = time.monotonic() + max(self.delay, self._crawl_delay(origin))
        return self._robots[origin]

    def allowed(self, url: str) -> str | None:
        """None when robots.txt lets us fetch `url`, else the reason."""
        rules = self.robots(url)
        if isinstance(rules, str):
            return rules
        return None if rules.can_fetch(url, ROBOTS_AGENT) else ROBOTS

    def _crawl_delay(self, origin: str) -> float:
        rules = self._robots.get(origin)
        wanted = rules.crawl_delay(ROBOTS_AGENT) if rules is not None and not isinstance(rules, str) else None
        return min(float(wanted or 0), MAX_CRAWL_DELAY)

    # -------------------------------------------------------------------- fetching

    def get(self, url: str, etag: str | None = None, last_modified: str | None = None) -> Fetched:
        """GET `url` (robots.txt checked first), following redirects inside the scope."""
        headers = {}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        for _ in range(MAX_REDIRECTS + 1):
            if reason := self.allowed(url):
                return Fetched(url, "skipped", reason=reason)
            got = self._request(url, headers, limit=self.max_bytes)
            if got.kind != "redirect":
                return got
            target = normalize(got.headers.get("location", ""), url)
            if target is None or not in_scope(target, self.scopes):
                return Fetched(url, "skipped", got.status, reason=OUT_OF_SCOPE.format(target=target or "?"))
            url = target
        return Fetched(url, "skipped", reason=TOO_MANY_REDIRECTS)

    def _request(self, url: str, headers: dict[str, str], *, limit: int, follow: bool = False) -> Fetched:
        origin = _origin(url)
        wait = self._next.get(origin, 0.0) - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        self.counters.requests += 1
        self._deadline.at = time.monotonic() + self.seconds
        try:
            return self._send(url, headers, limit, follow)
        except AddressRefused as exc:
            return Fetched(url, "skipped", reason=str(exc))
        except (httpx.InvalidURL, ValueError):  # a redirect followed for robots.txt
            return Fetched(url, "skipped", reason=malformed(url))
        except httpx.RemoteProtocolError as exc:
            if str(exc).startswith(_BAD_LOCATION):  # httpx parses it even when not following
                return Fetched(url, "skipped", reason=OUT_OF_SCOPE.format(target="?"))
            return Fetched(url, "transient", reason=TRANSIENT.format(what=type(exc).__name__))
        except httpx.TimeoutException:
            return Fetched(url, "transient", reason=TRANSIENT.format(what="délai dépassé"))
        except CorruptBody:
            return Fetched(url, "transient", reason=TRANSIENT.format(what="contenu compressé illisible"))
        except (httpx.HTTPError, OSError) as exc:
            return Fetched(url, "transient", reason=TRANSIENT.format(what=type(exc).__name__))
        finally:
            self._deadline.at = None
            self._next[origin] = time.monotonic() + max(self.delay, self._crawl_delay(origin))

    def _send(self, url: str, headers: dict[str, str], limit: int, follow: bool) -> Fetched:
        with self.client.stream("GET", url, headers=headers, follow_redirects=follow) as response:
            status = response.status_code
            got = dict(response.headers)
            if status in (301, 302, 303, 307, 308) and "location" in response.headers and not follow:
                return Fetched(url, "redirect", status, got)
            if status == 304:
                self.counters.not_modified += 1
                return Fetched(url, "not_modified", status, got)
            if status in (404, 410):
                return Fetched(url, "gone", status, got, reason=GONE.format(status=status))
            if status >= 500 or status in (408, 429):
                return Fetched(url, "transient", status, got, reason=TRANSIENT.format(what=f"HTTP {status}"))
            if status != 200:
                return Fetched(url, "skipped", status, got, reason=REFUSED.format(status=status))
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > limit:
                return Fetched(url, "skipped", status, got, reason=too_large(int(declared), limit))
            try:
                decoder = decoder_for(response.headers.get_list("content-encoding", split_commas=True))
            except EncodingRefused as exc:
                return Fetched(url, "skipped", status, got, reason=str(exc))
            try:
                body = self._body(response, decoder, limit)
            except _OverLimit:
                return Fetched(url, "skipped", status, got, reason=too_large(None, limit))
            self.counters.bodies += 1
            return Fetched(str(response.url) if follow else url, "ok", status, got, body)

    def _body(self, response: httpx.Response, decoder: Decoder, limit: int) -> bytes:
        """Raw bytes (httpx would decode a whole chunk in one call), decoded in bounded steps,
        the limit checked after each one: at most a step past it is ever in memory."""
        parts, size = [], 0
        for step in decoded(self._raw(response, limit), decoder):
            size += len(step)
            if size > limit:
                raise _OverLimit
            parts.append(step)
        return b"".join(parts)

    def _raw(self, response: httpx.Response, limit: int) -> Iterator[bytes]:
        """The body as sent, counted, and cut past `limit` too: a stream of empty compressed
        blocks decodes to nothing and would otherwise be read until the deadline."""
        size = 0
        for chunk in response.iter_raw():
            size += len(chunk)
            self.counters.bytes += len(chunk)
            if size > limit:
                raise _OverLimit
            yield chunk


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"
