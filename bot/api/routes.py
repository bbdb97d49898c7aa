"""Thin HTTP routes over the assistant; all share the answer contract of `bot.schema`."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Annotated

import anyio
from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, Field

from bot.answer.assistant import Assistant
from bot.api.operator import record_answer
from bot.api.ratelimit import RateLimiter
from bot.api.responses import error_responses
from bot.errors import rate_limited
from bot.schema import Answer, AskRequest, IndexInfo, NotReady, Passage

router = APIRouter()
log = logging.getLogger("bot.api")


QUESTION_ERRORS = error_responses(408, 413, 422, 429, 500, 503)


class DocumentInfo(BaseModel):
    source: str
    title: str
    url: str | None
    chunks: int
    ingested_at: str


class Health(BaseModel):
    status: str = Field(
        description="`ready`, or `degraded` while an optional store (the log's "
        "database, Redis) is unreachable: questions are still answered."
    )
    index: IndexInfo
    reasons: list[str] = Field(default_factory=list, description="Why `degraded`, in a few words each.")


def get_assistant(request: Request) -> Assistant:
    assistant: Assistant = request.app.state.assistant
    assistant.refresh_if_changed()  # picks up a finished ingest; a failed one changes nothing
    return assistant


async def rate_limit(request: Request) -> None:
    """One token per question and client (the client is the socket's peer, or the address a
    trusted proxy forwarded: see `ALLIANCE_TRUSTED_PROXIES`)."""
    limiter: RateLimiter = request.app.state.limiter
    if not limiter.enabled:
        return
    client = request.client.host if request.client else "unknown"
    body = getattr(request.state, "body", b"")
    if request.app.state.limiter_blocks:  # a network storage: keep it off the event loop
        wait = await anyio.to_thread.run_sync(limiter.retry_after, client, body)
    else:
        wait = limiter.retry_after(client, body)
    if wait:
        raise rate_limited(wait)


AssistantDep = Annotated[Assistant, Depends(get_assistant)]
Limited = [Depends(rate_limit)]


@router.post("/ask", response_model=Answer, dependencies=Limited, responses=QUESTION_ERRORS)
def ask(body: AskRequest, assistant: AssistantDep, request: Request) -> Answer:
    """Answer a question with cited, verbatim quotes (or `no_answer`)."""
    answer = assistant.ask(body.question, body.k, body.history)
    record_answer(request, body.question, answer, "/ask")
    return answer


@router.post(
    "/ask/stream",
    response_class=StreamingResponse,
    dependencies=Limited,
    responses={
        200: {
            "content": {"text/event-stream": {}},
            "description": (
                "Server-sent events: `passages`, then `delta` (answer text as it is composed), "
                "`replace` (`{text, reason}`: an LLM reply withdrawn midway, `text` stands instead), "
                "then `citations`, then `done` with the full answer contract, or `error` "
                "(`ErrorResponse`) if the answer fails once the stream has started."
            ),
        },
        **QUESTION_ERRORS,
    },
)
def ask_stream(body: AskRequest, assistant: AssistantDep, request: Request) -> StreamingResponse:
    events = assistant.events(body.question, body.k, body.history)  # 4xx before the stream

    def serialised() -> Iterator[str]:
        for event in events:
            if event.answer is not None:
                record_answer(request, body.question, event.answer, "/ask/stream")
            yield event.sse()

    return StreamingResponse(
        serialised(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


@router.post("/search", response_model=list[Passage], dependencies=Limited, responses=QUESTION_ERRORS)
def search(body: AskRequest, assistant: AssistantDep) -> list[Passage]:
    """Ranked passages only, each with its dense and BM25 ranks and scores."""
    return assistant.search(body.question, body.k, body.history).passages


@router.get("/documents", response_model=list[DocumentInfo], responses=error_responses(500, 503))
def documents(assistant: AssistantDep) -> list[DocumentInfo]:
    index = assistant.snapshot.index
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


# /health never waits for the worker threads that questions use (the Docker check allows 5 s).
_HEALTH_THREADS = anyio.CapacityLimiter(2)


@router.get(
    "/health",
    response_model=Health,
    responses={
        503: {"model": NotReady, "description": "L'index n'est pas utilisable (détail dans le journal)."}
    },
)
async def health(request: Request):
    try:
        assistant = await anyio.to_thread.run_sync(get_assistant, request, limiter=_HEALTH_THREADS)
        reasons = degraded(request.app.state)
        return Health(status="degraded" if reasons else "ready", index=assistant.info(), reasons=reasons)
    except Exception:  # not ready is an answer, not an error page; the reason goes to the log
        log.exception("health: not ready")
        body = NotReady(
            code="index_unavailable",
            detail="L'index n'est pas disponible : voir le journal du serveur.",
            detail_en="The index is not available: see the server log.",
        )
        return JSONResponse(body.model_dump(), status_code=503)


def degraded(state) -> list[str]:
    """What is unreachable among the stores that answers do not depend on."""
    reasons = []
    if state.conversation_log is not None and (why := state.conversation_log.status()):
        reasons.append(why)
    if why := state.limiter.status():
        reasons.append(why)
    return reasons


@router.head("/health", include_in_schema=False)
async def health_head(request: Request) -> Response:
    """For probes that send HEAD (load balancers, `curl -I`)."""
    response = await health(request)
    return Response(status_code=503 if isinstance(response, JSONResponse) else 200)
