"""Thin HTTP routes over the assistant; all share the answer contract of `bot.schema`."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, Field

from bot.api.operator import record_answer
from bot.assistant import Assistant
from bot.schema import Answer, IndexInfo, Passage, Turn

router = APIRouter()
log = logging.getLogger("bot.api")


class AskRequest(BaseModel):
    question: str = Field(description="La question, en français de préférence (2 000 caractères au plus).")
    k: int | None = Field(None, ge=1, le=50, description="Passages to retrieve.")
    history: list[Turn] = Field(
        [], max_length=20, description="Previous turns, for follow-ups such as « Et en quelle année ? »."
    )


class DocumentInfo(BaseModel):
    source: str
    title: str
    url: str | None
    chunks: int
    ingested_at: str


class Health(BaseModel):
    status: str
    index: IndexInfo


def get_assistant(request: Request) -> Assistant:
    assistant: Assistant = request.app.state.assistant
    assistant.refresh_if_changed()  # picks up a finished ingest; a failed one changes nothing
    return assistant


AssistantDep = Annotated[Assistant, Depends(get_assistant)]


@router.post("/ask", response_model=Answer)
def ask(body: AskRequest, assistant: AssistantDep, request: Request) -> Answer:
    """Answer a question with cited, verbatim quotes (or `no_answer`)."""
    answer = assistant.ask(body.question, body.k, body.history)
    record_answer(request, body.question, answer, "/ask")
    return answer


@router.post(
    "/ask/stream",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": (
        "Server-sent events: `passages`, then `delta` (answer text as it is composed), "
        "then `citations`, then `done` with the full answer contract."
    )}},
)
def ask_stream(body: AskRequest, assistant: AssistantDep, request: Request) -> StreamingResponse:
    assistant.check_question(body.question)  # bad input is a 4xx before the stream starts

    def events() -> Iterator[str]:
        try:
            found = assistant.search(body.question, body.k, body.history)
            yield _sse("passages", {"passages": [p.model_dump() for p in found.passages]})
            composed = assistant.compose(found)
            for piece in re.findall(r"\S+\s*", composed.text):
                yield _sse("delta", {"text": piece})
            yield _sse("citations", {"citations": [c.model_dump() for c in composed.citations]})
            answer = assistant.to_answer(found, composed)
            record_answer(request, body.question, answer, "/ask/stream")
            yield _sse("done", answer.model_dump())
        except Exception:  # the stream has started: report in-band, never a trace
            log.exception("stream failed")
            yield _sse("error", {"code": "internal_error", "detail": "Erreur interne : réessayez.",
                                 "detail_en": "Internal error: try again."})

    return StreamingResponse(
        events(), media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


@router.post("/search", response_model=list[Passage])
def search(body: AskRequest, assistant: AssistantDep) -> list[Passage]:
    """Ranked passages only, each with its dense and BM25 ranks and scores."""
    return assistant.search(body.question, body.k, body.history).passages


@router.get("/documents", response_model=list[DocumentInfo])
def documents(assistant: AssistantDep) -> list[DocumentInfo]:
    index = assistant.snapshot.index
    counts: dict[str, int] = {}
    for chunk in index.chunks:
        counts[chunk.source] = counts.get(chunk.source, 0) + 1
    return [
        DocumentInfo(source=d.source, title=d.title, url=d.url, chunks=counts.get(d.source, 0),
                     ingested_at=d.ingested_at)
        for d in index.documents.values()
    ]


@router.get("/health", response_model=Health)
def health(request: Request):
    try:
        assistant = get_assistant(request)
        return Health(status="ready", index=assistant.info())
    except Exception as e:  # not ready is an answer, not an error page
        return JSONResponse({"status": "not_ready", "detail": str(e)}, status_code=503)


def _sse(event: str, data: dict) -> str:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"
