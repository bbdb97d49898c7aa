"""`GET /sources/{source}?start=&end=`: a document's stored text, the quoted span highlighted
(the page itself is drawn by `bot.api.sources`)."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse

from bot.api.deps import ServedDep
from bot.api.responses import error_responses
from bot.api.sources import not_found_page, render_source_page

router = APIRouter()

# A missing document gets a readable HTML page; a path no route matches gets the JSON error.
_NOT_FOUND = {
    404: {
        "description": error_responses(404)[404]["description"],
        "content": {
            "text/html": {"schema": {"type": "string"}},
            "application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}},
        },
    }
}


@router.get(
    "/sources/{source:path}",
    response_class=HTMLResponse,
    tags=["sources"],
    responses=error_responses(422, 500) | _NOT_FOUND,
)
def source_page(
    source: str,
    served: ServedDep,
    start: int | None = Query(None, ge=0, description="First character of the quote."),
    end: int | None = Query(None, ge=0, description="Character after the quote."),
    theme: Literal["light", "dark"] | None = Query(
        None, description="Force a theme; by default the reader's system decides (prefers-color-scheme)."
    ),
) -> HTMLResponse:
    """The stored text of a document as a readable page, with `text[start:end]` in `<mark>`."""
    index = served.snapshot.index
    doc = index.documents.get(source)
    if doc is None:
        return HTMLResponse(not_found_page(theme), status_code=404)
    chunks = index.chunks_of(source)
    return HTMLResponse(render_source_page(doc, chunks, start, end, theme))
