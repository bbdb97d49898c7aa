"""What a fetched response holds: a web page's main text (trafilatura), its links, title,
date and canonical URL; a sitemap's URLs; or a document read by the file loaders.

trafilatura keeps the main content (no navigation, footers, cookie banners) and writes
it as Markdown, which the Markdown loader turns into the stored text with its headings
and tables, exactly as for a file. A page trafilatura finds nothing in goes through the
HTML loader instead.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from itertools import islice
from pathlib import PurePosixPath
from urllib.parse import unquote, urlsplit

from bot.crawl.urls import normalize
from bot.documents import Document
from bot.ingest.loaders import SUPPORTED_SUFFIXES, DocumentError, load_bytes
from bot.ingest.loaders.common import decode_text

NOINDEX = "page marquée noindex — page marked noindex"
MAX_EXTRACT_ELEMENTS = 5_000  # HTML elements of a page given to trafilatura
# Links kept from one page (the first ones, in the crawl's scope, each once): a real page
# rarely has a few hundred; a page of 20,000 made 25 pages cost 1.5 GB and a 20 MB crawl.json.
MAX_PAGE_LINKS = 1_000
MAX_SITEMAP_URLS = 50_000  # the sitemap protocol's own limit for one file

# Content types read as documents, and the loader (suffix) each goes to.
DOCUMENT_TYPES = {
    "application/pdf": ".pdf",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": ".docx",
    "application/vnd.oasis.opendocument.text": ".odt",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": ".pptx",
    "text/plain": ".txt",
    "text/markdown": ".md",
}
HTML_TYPES = ("text/html", "application/xhtml+xml")
SITEMAP_TYPES = ("application/xml", "text/xml")
_CHARSET = re.compile(r"charset\s*=\s*[\"']?([A-Za-z0-9_.:-]+)", re.I)
_LOC = re.compile(rb"<(?:\w+:)?loc>\s*([^<\s]+)\s*</(?:\w+:)?loc>", re.I)


def unsupported_type(content_type: str) -> str:
    return f"type non pris en charge ({content_type or 'inconnu'}) — unsupported content type"


@dataclass
class Page:
    document: Document | None
    links: list[str] = field(default_factory=list)
    follow: bool = True  # false for <meta name="robots" content="nofollow">
    reason: str = ""  # why there is no document
    dropped: int = 0  # links left unread past MAX_PAGE_LINKS


def first_links(
    hrefs: Iterable[str], base: str, wanted: Callable[[str], bool], cap: int
) -> tuple[list[str], int]:
    """The first `cap` distinct normalised URLs `wanted` keeps, and how many hrefs came after
    them (counted, not read: memory and time stay bounded whatever the page holds)."""
    links: dict[str, None] = {}
    hrefs = iter(hrefs)
    for href in hrefs:
        if len(links) >= cap:
            return list(links), 1 + sum(1 for _ in hrefs)
        url = normalize(href, base)
        if url and url not in links and wanted(url):
            links[url] = None
    return list(links), 0


def media_type(headers: dict[str, str]) -> str:
    return headers.get("content-type", "").split(";", 1)[0].strip().lower()


def document_suffix(url: str, content_type: str) -> str | None:
    """The loader a non-HTML response goes to: by its type, else (a generic type) its name."""
    if content_type in DOCUMENT_TYPES:
        return DOCUMENT_TYPES[content_type]
    if content_type in ("", "application/octet-stream", "binary/octet-stream"):
        suffix = PurePosixPath(unquote(urlsplit(url).path)).suffix.lower()
        if suffix in SUPPORTED_SUFFIXES and suffix not in (".html", ".htm"):
            return suffix
    return None


def is_sitemap(url: str, content_type: str, body: bytes) -> bool:
    head = body[:2048].lstrip()
    xml = content_type in SITEMAP_TYPES or urlsplit(url).path.endswith(".xml")
    return xml and (b"<urlset" in head or b"<sitemapindex" in head)


def sitemap_urls(body: bytes, base: str, wanted: Callable[[str], bool] = bool) -> tuple[list[str], int]:
    """The <loc> URLs of a sitemap or sitemap index (read with a regular expression: no
    XML parser, so no entity or DTD to expand), and how many past MAX_SITEMAP_URLS."""
    locs = (m.group(1).decode("utf-8", errors="replace").replace("&amp;", "&") for m in _LOC.finditer(body))
    return first_links(locs, base, wanted, MAX_SITEMAP_URLS)


def read_document(body: bytes, url: str, suffix: str) -> Document:
    """A downloaded document, through the loader its suffix names (its limits apply)."""
    name = PurePosixPath(unquote(urlsplit(url).path)).name or "document"
    return load_bytes(body, PurePosixPath(name), suffix)


def read_page(body: bytes, url: str, headers: dict[str, str], wanted: Callable[[str], bool] = bool) -> Page:
    """A web page: main text, title, date, canonical URL (`Document.url`) and its links
    (those `wanted` keeps, MAX_PAGE_LINKS at most)."""
    import trafilatura
    from selectolax.lexbor import LexborHTMLParser

    declared = _CHARSET.search(headers.get("content-type", ""))
    try:
        html = decode_text(body, declared.group(1) if declared else None)
    except DocumentError as exc:
        return Page(None, reason=str(exc))
    tree = LexborHTMLParser(html)
    robots = " ".join((m.attributes.get("content") or "").lower() for m in tree.css('meta[name="robots"]'))
    robots += " " + headers.get("x-robots-tag", "").lower()
    base_node = tree.css_first("base[href]")
    base = normalize(base_node.attributes.get("href") or "", url) if base_node is not None else None
    base = base or url
    # Walked one element at a time: a list of every <a> of a 10 MB page would not be small.
    hrefs = (
        node.attributes.get("href") or ""
        for node in tree.root.traverse()
        if node.tag == "a" and "href" in node.attributes
    )
    links, dropped = first_links(hrefs, base, wanted, MAX_PAGE_LINKS) if tree.root else ([], 0)
    follow = "nofollow" not in robots and "none" not in robots
    if "noindex" in robots or "none" in robots.split():
        return Page(None, links, follow, NOINDEX, dropped)

    canonical_node = tree.css_first('link[rel="canonical"][href]')
    canonical = normalize(canonical_node.attributes.get("href") or "", url) if canonical_node else None
    # trafilatura's time grows faster than the page (about 2 s for 8,000 paragraphs, minutes
    # for 80,000): past MAX_EXTRACT_ELEMENTS the HTML loader, linear, reads the page instead.
    elements = islice(tree.root.traverse(), MAX_EXTRACT_ELEMENTS + 1) if tree.root else ()
    small = sum(1 for _ in elements) <= MAX_EXTRACT_ELEMENTS
    meta = trafilatura.extract_metadata(html, default_url=url) if small else None
    markdown = small and trafilatura.extract(
        html,
        url=url,
        output_format="markdown",
        include_tables=True,
        include_links=False,
        include_images=False,
        include_comments=False,
        include_formatting=True,
        deduplicate=False,
    )
    name = PurePosixPath(unquote(urlsplit(url).path)).name or "index"
    try:
        if markdown and markdown.strip():
            doc = load_bytes(markdown.encode("utf-8"), PurePosixPath(name + ".md"), ".md")
        else:
            doc = load_bytes(body, PurePosixPath(name + ".html"), ".html")
    except DocumentError as exc:
        return Page(None, links, follow, str(exc), dropped)
    if meta is not None and meta.title:
        doc.title = meta.title.strip()
    doc.date = (meta.date if meta is not None else None) or None
    doc.url = canonical
    return Page(doc, links, follow, dropped=dropped)
