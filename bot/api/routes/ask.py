"""`POST /ask`, `/ask/stream` and `/search`: thin routes over the assistant, all sharing the
answer contract of `bot.schema`."""

from __future__ import annotations

from collections.abc import Iterator

from fastapi import APIRouter
from fastapi.responses import StreamingResponse

from bot.api.deps import Limited, RecordDep, ServedDep
from bot.api.responses import error_responses
from bot.schema import Answer, AskRequest, Passage

router = APIRouter()

QUESTION_ERRORS = error_responses(404, 408, 413, 422, 429, 500, 503)  # 404: the collection


@router.post("/ask", response_model=Answer, dependencies=[Limited], responses=QUESTION_ERRORS)
def ask(body: AskRequest, served: ServedDep, record: RecordDep) -> Answer:
    """Answer a question with cited, verbatim quotes (or `no_answer`)."""
    answer = served.assistant.ask(body.question, body.k, body.history, served.snapshot)
    record(body.question, answer, "/ask", collection=served.name)
    return answer


@router.post(
    "/ask/stream",
    response_class=StreamingResponse,
    dependencies=[Limited],
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
def ask_stream(body: AskRequest, served: ServedDep, record: RecordDep) -> StreamingResponse:
    # The snapshot taken at the edge: a generation published meanwhile is not mixed in.
    events = served.assistant.events(body.question, body.k, body.history, served.snapshot)  # 4xx first

    def serialised() -> Iterator[str]:
        for event in events:
            if event.answer is not None:
                record(body.question, event.answer, "/ask/stream", collection=served.name)
            yield event.sse()

    return StreamingResponse(
        serialised(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


@router.post("/search", response_model=list[Passage], dependencies=[Limited], responses=QUESTION_ERRORS)
def search(body: AskRequest, served: ServedDep) -> list[Passage]:
    """Ranked passages only, each with its dense and BM25 ranks and scores."""
    return served.assistant.search(body.question, body.k, body.history, served.snapshot).passages
