"""One event sequence per question: `passages`, `delta`*, `citations`, then `done` (the full
answer contract) or `error`. `/ask` keeps the `done` answer; `/ask/stream` sends every event
as server-sent events. Both therefore give the same answer.

With the LLM writer on, `delta`s are its tokens as they arrive (checked); a reply that fails
once some of it was sent is followed by `replace` (`{"text", "reason"}`): the text sent so far
is withdrawn, `text` (the extractive answer) stands instead, and `done` carries that answer."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from bot.assistant import Assistant, Replaced
from bot.errors import UserError, index_unavailable_public, internal_error
from bot.schema import Answer, ErrorResponse, Turn

log = logging.getLogger("bot.api")


@dataclass(frozen=True)
class Event:
    name: str  # passages | delta | replace | citations | done | error
    data: dict
    answer: Answer | None = None  # on `done`
    error: UserError | None = None  # on `error`

    def sse(self) -> str:
        return f"event: {self.name}\ndata: {json.dumps(self.data, ensure_ascii=False)}\n\n"


def answer_events(
    assistant: Assistant, question: str, k: int | None = None, history: Sequence[Turn] = ()
) -> Iterator[Event]:
    """Checks the question now (a bad one raises before anything is sent), then the events."""
    question = assistant.check_question(question)
    return _events(assistant, question, k, history)


def _events(assistant: Assistant, question: str, k: int | None, history: Sequence[Turn]) -> Iterator[Event]:
    try:
        found = assistant.search(question, k, history)
        yield Event("passages", {"passages": [p.model_dump() for p in found.passages]})
        for item in assistant.compose_stream(found):
            if isinstance(item, str):
                yield Event("delta", {"text": item})
            elif isinstance(item, Replaced):
                yield Event("replace", {"text": item.text, "reason": item.reason})
            else:
                composed = item
        yield Event("citations", {"citations": [c.model_dump() for c in composed.citations]})
        answer = assistant.to_answer(found, composed)
        yield Event("done", answer.model_dump(), answer=answer)
    except Exception as e:  # reported in-band: once a stream has started there is no status
        yield error_event(e)


def error_event(exc: Exception) -> Event:
    if isinstance(exc, UserError) and exc.public:
        error = exc
    elif isinstance(exc, UserError):
        log.warning("index unavailable: %s", exc)
        error = index_unavailable_public()
    else:
        log.error("answer failed", exc_info=exc)
        error = internal_error()
    data = ErrorResponse(code=error.code, detail=error.detail, detail_en=error.detail_en).model_dump()
    return Event("error", data, error=error)


def final_answer(events: Iterator[Event]) -> Answer:
    """The `done` answer of a sequence, or its error raised as the `UserError` it carries."""
    for event in events:
        if event.answer is not None:
            return event.answer
        if event.error is not None:
            raise event.error
    raise RuntimeError("event sequence ended without done or error")
