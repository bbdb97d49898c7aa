"""`GET /sources/{source}?start=&end=`: a document's stored text, the quoted span highlighted."""

from __future__ import annotations

from html import escape
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from bot.api.pages import SCROLL, html_page
from bot.api.responses import error_responses
from bot.loaders.common import web_url

router = APIRouter()



def source_link(base: str, source: str, start: int, end: int) -> str:
    """Where a citation opens: the page of its document with its span highlighted."""
    return f"{base.rstrip('/')}/sources/{quote(source)}?start={start}&end={end}#quote"


# A missing document gets a readable HTML page; a path no route matches gets the JSON error.
_NOT_FOUND = {404: {"description": error_responses(404)[404]["description"], "content": {
    "text/html": {"schema": {"type": "string"}},
    "application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}}}}


@router.get("/sources/{source:path}", response_class=HTMLResponse, tags=["sources"],
            responses=error_responses(422, 500) | _NOT_FOUND)
def source_page(
    source: str,
    request: Request,
    start: int | None = Query(None, ge=0, description="First character of the quote."),
    end: int | None = Query(None, ge=0, description="Character after the quote."),
) -> HTMLResponse:
    """The stored text of a document as a readable page, with `text[start:end]` in `<mark>`."""
    assistant = request.app.state.assistant
    assistant.refresh_if_changed()
    index = assistant.index
    doc = index.documents.get(source)
    if doc is None:
        body = ("<p>Ce document n’est pas dans l’index. "
                '<span lang="en">This document is not in the index.</span></p>')
        return HTMLResponse(html_page("Document introuvable", body), status_code=404)
    text = doc.text
    span = (start, end) if start is not None and end is not None and start < end <= len(text) else None
    chunks = [c for c in index.chunks if c.source == source]
    headings = {h for c in chunks for h in c.headings}
    meta = [f"Source : {escape(source)}"]
    if span:
        page = next((c.page for c in reversed(chunks) if c.char_start <= span[0] and c.page), None)
        if page:
            meta.append(f"page {page}")
        meta.append(f"caractères {span[0]}–{span[1]}")
    if url := web_url(doc.url):  # an index built before links were checked may hold others
        meta.append(f'<a href="{escape(url, quote=True)}" rel="noopener noreferrer">'
                    "Document original</a>")
    body = (f'<p class="meta">{" · ".join(meta)}</p>'
            f'<article class="doc">{_render(text, headings, span)}</article>')
    return HTMLResponse(html_page(doc.title or source, body, extra_head=SCROLL if span else ""))


def _render(text: str, headings: set[str], span: tuple[int, int] | None) -> str:
    """Paragraphs (blank-line separated) as <p>, heading lines as <h2>, the span in <mark>."""
    out: list[str] = []
    first_mark = True
    pos = 0
    for block in text.split("\n\n"):
        lo, hi = pos, pos + len(block)
        pos = hi + 2
        if not block.strip():
            continue
        parts = [escape(block)]
        if span and span[0] < hi and span[1] > lo:
            a, b = max(span[0], lo) - lo, min(span[1], hi) - lo
            mark_id = ' id="quote"' if first_mark else ""
            first_mark = False
            parts = [escape(block[:a]), f"<mark{mark_id}>{escape(block[a:b])}</mark>", escape(block[b:])]
        tag = "h2" if block.strip() in headings and "\n" not in block.strip() else "p"
        out.append(f"<{tag}>{''.join(parts)}</{tag}>")
    return "".join(out)
