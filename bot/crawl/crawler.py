"""The crawl: visit a site breadth first from its start URLs (or sitemap), read each page
or document, and publish the changes through the same incremental ingest as files.

Each URL known from the previous crawl is asked for conditionally; a 304 keeps its
indexed version without reading a body, a 404/410 removes it, a transient failure
(timeout, 5xx) keeps it. Known URLs no link leads to any more are asked for at the end,
so a page that disappears is noticed even once nothing links to it.

What a crawl holds stays bounded whatever the site: the first MAX_PAGE_LINKS links of a
page (the rest counted and named in a warning), a queue no longer than --max-pages can
still visit, and MAX_STATE_LINKS links in crawl.json.
"""

from __future__ import annotations

import logging
import sys
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace

from tqdm import tqdm

from bot.config import IndexConfig
from bot.crawl.fetch import GONE, Fetched, Fetcher
from bot.crawl.limits import DEFAULT_DELAY, DEFAULT_MAX_BYTES, DEFAULT_MAX_DEPTH, DEFAULT_MAX_PAGES
from bot.crawl.pages import (
    HTML_TYPES,
    MAX_PAGE_LINKS,
    MAX_SITEMAP_URLS,
    NOINDEX,
    document_suffix,
    is_sitemap,
    media_type,
    read_document,
    read_page,
    sitemap_urls,
    unsupported_type,
)
from bot.crawl.state import UrlState, load_state, save_state
from bot.crawl.urls import Scope, check_start, in_scope
from bot.documents import Document
from bot.index.stores import open_store
from bot.ingest.loaders import DocumentError, SkippedFile
from bot.ingest.pipeline import sync_index

log = logging.getLogger("bot.crawl")

DUPLICATE_PAGE = "même adresse canonique qu'une page déjà lue — duplicate canonical URL"
OUT_OF_SCOPE = ("redirection hors du périmètre", "adresse locale, privée", "interdit par robots.txt")
# Links remembered in crawl.json, all pages together (about 60 bytes each: 3 MB at most).
# Past it pages are remembered without their links; the pages those led to are still
# known, and asked for again at the end of the next crawl.
MAX_STATE_LINKS = 50_000
# Distinct URLs counted in `not_visited` that the queue had no room for (their hashes only).
MAX_COUNTED = 100_000


@dataclass
class CrawlOptions:
    urls: list[str]
    max_pages: int = DEFAULT_MAX_PAGES
    max_depth: int = DEFAULT_MAX_DEPTH
    max_bytes: int = DEFAULT_MAX_BYTES
    delay: float = DEFAULT_DELAY  # seconds between two requests to one host (robots.txt may ask more)
    allow_private: bool = False


@dataclass
class CrawlSummary:
    fetched: list[str] = field(default_factory=list)  # URLs whose body was downloaded in full
    unchanged: list[str] = field(default_factory=list)  # sources: 304, or the same content again
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)  # failed this time: indexed version kept
    skipped: list[SkippedFile] = field(default_factory=list)
    not_visited: int = 0  # URLs found but not visited at --max-pages
    links_dropped: int = 0  # links past the limit of links read from one page (MAX_PAGE_LINKS)
    requests: int = 0
    bytes: int = 0
    embedded_passages: int = 0
    chunks: int = 0
    version: str = ""
    crawl_seconds: float = 0.0  # fetching and reading, before the index is brought up to date
    seconds: float = 0.0

    def as_dict(self) -> dict:
        return asdict(self)


class _Crawl:
    def __init__(self, options: CrawlOptions, config: IndexConfig, progress: bool | None) -> None:
        self.options = options
        self.starts = list(dict.fromkeys(check_start(u, options.allow_private) for u in options.urls))
        self.scopes = [Scope.of(u) for u in self.starts]
        self.state = load_state(config.index_dir)
        target = open_store(config)
        generation = target.current()
        self.indexed = target.read_contents(generation)[1] if generation else {}
        self.fetcher = Fetcher(
            self.scopes, allow_private=options.allow_private, delay=options.delay, max_bytes=options.max_bytes
        )
        self.summary = CrawlSummary()
        self.docs: dict[str, Document] = {}
        self.drop: set[str] = set()
        self.new_state: dict[str, UrlState] = {}
        self.links_left = MAX_STATE_LINKS  # links crawl.json may still take
        self.show = sys.stderr.isatty() if progress is None else progress

    def run(self) -> None:
        queue = deque((u, 0) for u in self.starts)
        seen = set(self.starts)
        revisit = [u for u in self.state if u not in seen and in_scope(u, self.scopes)]
        no_room: set[int] = set()  # hashes of the URLs the queue had no room for
        visited = 0
        with tqdm(total=self.options.max_pages, disable=not self.show, unit="page", desc="Pages") as bar:
            while visited < self.options.max_pages:
                if not queue and revisit:  # known pages no link reached this time
                    queue.extend((u, self.options.max_depth) for u in revisit if u not in seen)
                    seen.update(revisit)
                    revisit = []
                if not queue:
                    break
                url, depth = queue.popleft()
                visited += 1
                links, follow = self.visit(url)
                bar.update(1)
                bar.set_postfix(lus=len(self.summary.fetched), inchangés=len(self.summary.unchanged))
                if not follow or depth >= self.options.max_depth:
                    continue
                # The queue holds no more than --max-pages can still visit: a URL past that
                # would never be fetched, and 20,000 links a page made it millions long.
                room = self.options.max_pages - visited - len(queue)
                for link in links:
                    if link in seen or not in_scope(link, self.scopes):
                        continue
                    if room <= 0:
                        if len(no_room) < MAX_COUNTED:
                            no_room.add(hash(link))
                        continue
                    seen.add(link)
                    queue.append((link, depth + 1))
                    room -= 1
        left = [u for u, _ in queue] + [u for u in revisit if u not in seen]
        self.summary.not_visited = len(left) + len(no_room)
        for url in left:  # not visited: what they gave stays as it was
            if url in self.state:
                self.remember(url, self.state[url], only_new=True)

    def visit(self, url: str) -> tuple[list[str], bool]:
        """Fetch one URL and record what it gives; returns its links and whether to follow them."""
        before = self.state.get(url)
        usable = before is not None and (
            before.source is None or self.indexed.get(before.source) == before.content_hash
        )
        got = self.fetcher.get(url, before.etag if usable else None, before.last_modified if usable else None)
        if got.kind == "not_modified" and usable:
            self.remember(url, before)
            if before.source:
                self.summary.unchanged.append(before.source)
            return before.links, True
        if got.kind == "ok":
            return self.read(url, got, before)
        known = before.source if before is not None and before.source in self.indexed else None
        if got.kind == "gone" or (got.kind == "skipped" and got.reason.startswith(OUT_OF_SCOPE)):
            if known:
                self.drop.add(known)
            self.skip(url, got.reason or GONE.format(status=got.status), None)
            return [], False
        # transient or refused: the indexed version stays, and so do its validators
        if before is not None:
            self.remember(url, before)
        if known:
            self.summary.kept.append(known)
        self.skip(url, got.reason, known)
        return (before.links if before is not None else []), True

    def read(self, url: str, got: Fetched, before: UrlState | None) -> tuple[list[str], bool]:
        self.summary.fetched.append(url)
        content_type = media_type(got.headers)
        entry = UrlState(etag=got.headers.get("etag"), last_modified=got.headers.get("last-modified"))
        doc, follow, reason, dropped, cap = None, True, "", 0, MAX_PAGE_LINKS
        unreadable = False  # readable no more this time (like a file): the indexed version stays
        try:
            if is_sitemap(got.url, content_type, got.body):
                entry.links, dropped = sitemap_urls(got.body, got.url, self.wanted)
                cap = MAX_SITEMAP_URLS
            elif content_type in HTML_TYPES:
                page = read_page(got.body, got.url, got.headers, self.wanted)
                doc, follow, reason, entry.links = page.document, page.follow, page.reason, page.links
                dropped = page.dropped
                unreadable = doc is None and reason != NOINDEX
            elif suffix := document_suffix(got.url, content_type):
                doc = read_document(got.body, got.url, suffix)
            else:
                reason = unsupported_type(content_type)
        except DocumentError as exc:
            reason, unreadable = str(exc), True
        except Exception as exc:  # a parser bug or an odd file must not stop the crawl
            log.warning("Erreur inattendue en lisant %s", got.url, exc_info=True)
            reason, unreadable = f"erreur inattendue ({type(exc).__name__}) — unexpected error", True
        if dropped:
            self.summary.links_dropped += dropped
            log.warning(
                "%d liens ignorés sur %s : seuls les %d premiers sont lus — %d links dropped",
                dropped,
                url,
                cap,
                dropped,
            )
        known = before.source if before is not None and before.source in self.indexed else None
        if unreadable and known:
            self.remember(url, before)
            self.summary.kept.append(known)
            self.skip(url, reason, known)
            return entry.links or before.links, follow
        if doc is not None:
            canonical = doc.url if doc.url and in_scope(doc.url, self.scopes) else got.url
            doc.source = doc.url = canonical
            if canonical in self.docs or canonical in self.summary.unchanged:
                doc, reason = None, DUPLICATE_PAGE
            else:
                self.docs[canonical] = doc
                entry.source, entry.content_hash = canonical, doc.content_hash
        if before is not None and before.source and before.source != entry.source:
            if before.source not in self.docs and before.source not in self.summary.unchanged:
                self.drop.add(before.source)  # this URL no longer gives that document
        if reason:
            self.skip(url, reason, None)
        links = entry.links
        self.remember(url, entry)
        return links, follow

    def wanted(self, url: str) -> bool:
        return in_scope(url, self.scopes)

    def remember(self, url: str, entry: UrlState, only_new: bool = False) -> None:
        """What crawl.json keeps of `url`: its links while MAX_STATE_LINKS has room."""
        if only_new and url in self.new_state:
            return
        kept = entry.links[: max(self.links_left, 0)]
        self.links_left -= len(kept)
        self.new_state[url] = entry if len(kept) == len(entry.links) else replace(entry, links=kept)

    def skip(self, url: str, reason: str, source: str | None) -> None:
        log.warning("Page ignorée : %s — %s", url, reason)
        self.summary.skipped.append(SkippedFile(url, reason, source))


def crawl(
    options: CrawlOptions,
    config: IndexConfig,
    embedder_factory: Callable[[], object],
    *,
    progress: bool | None = None,
    wait: float = 600.0,
) -> CrawlSummary:
    """Crawl the site(s) of `options.urls` and bring their pages in the index up to date.

    Raises `CrawlRefused` (before any request) for a start URL that is not http(s), or
    whose host resolves to a non-public address without `allow_private`.
    """
    began = time.perf_counter()
    run = _Crawl(options, config, progress)
    try:
        run.run()
    finally:
        run.fetcher.close()
    summary = run.summary
    summary.crawl_seconds = time.perf_counter() - began
    counters = run.fetcher.counters
    summary.requests, summary.bytes = counters.requests, counters.bytes
    docs = [d for s, d in sorted(run.docs.items())]
    synced = sync_index(
        docs, config, embedder_factory, roots=None, progress=progress, drop=run.drop, wait=wait
    )
    summary.added, summary.updated, summary.removed = synced.added, synced.updated, synced.removed
    summary.unchanged = sorted({*summary.unchanged, *synced.unchanged})
    summary.embedded_passages, summary.chunks, summary.version = (
        synced.embedded_passages,
        synced.chunks,
        synced.version,
    )
    state = {u: s for u, s in run.state.items() if not in_scope(u, run.scopes)}  # other sites
    save_state(config.index_dir, state | run.new_state)
    summary.seconds = time.perf_counter() - began
    return summary
