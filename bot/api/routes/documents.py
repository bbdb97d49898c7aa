"""`GET /documents`: the indexed documents, each with its number of passages (the admin's list,
`GET /admin/documents`, is the same with `managed` added)."""

from __future__ import annotations

from fastapi import APIRouter

from bot.api.deps import ServedDep
from bot.api.responses import error_responses
from bot.schema import DocumentInfo

router = APIRouter()


def document_infos(index) -> list[DocumentInfo]:
    counts: dict[str, int] = {}
    for chunk in index.chunks:
        counts[chunk.source] = counts.get(chunk.source, 0) + 1
    return [
        DocumentInfo(
            source=d.source,
            title=d.title,
            url=d.url,
            chunks=counts.get(d.source, 0),
            ingested_at=d.ingested_at,
        )
        for d in index.documents.values()
    ]


@router.get("/documents", response_model=list[DocumentInfo], responses=error_responses(404, 422, 500, 503))
def documents(served: ServedDep) -> list[DocumentInfo]:
    return document_infos(served.snapshot.index)
