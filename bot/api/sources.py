"""A document's page: its stored text, the quoted span highlighted, and the link a citation
opens it with (served by `bot.api.routes.sources`; the CLI prints the same links)."""

from __future__ import annotations

from html import escape
from urllib.parse import quote

from bot.html import SCROLL, html_page
from bot.shape import Run, shape


def source_link(base: str, source: str, start: int, end: int, collection: str | None = None) -> str:
    """Where a citation opens: the page of its document with its span highlighted (`collection`:
    named when it is not the default one)."""
    named = f"&collection={quote(collection)}" if collection else ""
    return f"{base.rstrip('/')}/sources/{quote(source)}?start={start}&end={end}{named}#quote"


def not_found_page(theme: str | None = None) -> str:
    body = (
        '<p>Ce document n’est pas dans l’index. <span lang="en">This document is not in the index.</span></p>'
    )
    return html_page("Document introuvable", body, theme=theme)


def render_source_page(
    doc, chunks: list, start: int | None, end: int | None, theme: str | None = None
) -> str:
    """The stored text of `doc` as a readable page, with `text[start:end]` in `<mark>` (`chunks`:
    the document's passages, for its headings and page numbers)."""
    text = doc.text
    span = (start, end) if start is not None and end is not None and start < end <= len(text) else None
    headings = {h for c in chunks for h in c.headings}
    meta = [f"Source : {escape(doc.source)}"]
    if span:
        page = next((c.page for c in reversed(chunks) if c.char_start <= span[0] and c.page), None)
        if page:
            meta.append(f"page {page}")
        meta.append(f"caractères {span[0]}–{span[1]}")
    from bot.ingest.loaders.common import web_url  # the loaders' package: not for `ask`'s link

    if url := web_url(doc.url):  # an index built before links were checked may hold others
        meta.append(f'<a href="{escape(url, quote=True)}" rel="noopener noreferrer">Document original</a>')
    body = (
        f'<p class="meta">{" · ".join(meta)}</p>'
        f'<article class="doc">{_render(text, headings, span)}</article>'
    )
    return html_page(doc.title or doc.source, body, extra_head=SCROLL if span else "", theme=theme)


def _render(text: str, headings: set[str], span: tuple[int, int] | None) -> str:
    """Paragraphs as <p>, heading lines as <h2>, list items as <ul>/<ol>, table rows as a
    <table> (`bot.shape`), the span in <mark>. Every character of the text is on the page,
    the structural ones (bullets, cell separators, breaks between blocks) in hidden spans, so
    the marks hold exactly `text[start:end]`."""
    first = [True]  # the first visible mark gets id="quote"

    def run(r: Run) -> str:
        a, b = r.start, r.end
        if span and span[0] < b and span[1] > a:
            lo, hi = max(span[0], a), min(span[1], b)
            mark_id = ' id="quote"' if first[0] and not r.hidden else ""
            first[0] = first[0] and r.hidden
            html = f"{escape(text[a:lo])}<mark{mark_id}>{escape(text[lo:hi])}</mark>{escape(text[hi:b])}"
        else:
            html = escape(text[a:b])
        return f"<span hidden>{html}</span>" if r.hidden else html

    out: list[str] = []
    for block in shape(text):
        if block.kind == "gap":
            out.append(run(block.runs[0]))
        elif block.kind == "text":
            r = block.runs[0]
            tag = (
                "h2"
                if text[r.start : r.end].strip() in headings and "\n" not in text[r.start : r.end]
                else "p"
            )
            out.append(f"<{tag}>{run(r)}</{tag}>")
        elif block.kind == "list":
            tag = "ol" if block.items[0].ordered else "ul"
            items = "".join(
                f'<li class="d{min(it.depth, 3)}{" o" if it.ordered else ""}">'
                f"{''.join(run(r) for r in it.runs)}</li>"
                for it in block.items
            )
            out.append(f"<{tag}>{items}</{tag}>")
        else:
            rows = "".join(
                "<tr>" + "".join(f"<td>{''.join(run(r) for r in cell)}</td>" for cell in row) + "</tr>"
                for row in block.rows
            )
            out.append(f'<table class="shaped"><tbody>{rows}</tbody></table>')
    return "".join(out)
