"""The events of one question (made by `Assistant.events`): `passages`, `delta`*,
`citations`, then `done` (the full answer contract) or `error`. `/ask` and the CLI keep
the `done` answer; `/ask/stream` sends every event as server-sent events. Both therefore give the same answer.

With the LLM writer on, `delta`s are its tokens as they arrive (checked); a reply that fails
once some of it was sent is followed by `replace` (`{"text", "reason"}`): the text sent so far
is withdrawn, `text` (the extractive answer) stands instead, and `done` carries that answer."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass

from bot.errors import UserError, body, internal_error, public
from bot.schema import Answer

log = logging.getLogger("bot.answer")


@dataclass(frozen=True)
class Event:
    name: str  # passages | delta | replace | citations | done | error
    data: dict
    answer: Answer | None = None  # on `done`
    error: UserError | None = None  # on `error`

    def sse(self) -> str:
        return f"event: {self.name}\ndata: {json.dumps(self.data, ensure_ascii=False)}\n\n"


def error_event(exc: Exception) -> Event:
    if isinstance(exc, UserError):
        if not exc.public:  # its message may name paths: logged here, never sent
            log.warning("index unavailable: %s", exc)
        error = public(exc)
    else:
        log.error("answer failed", exc_info=exc)
        error = internal_error()
    return Event("error", body(error), error=error)


def final_answer(events: Iterator[Event]) -> Answer:
    """The `done` answer of a sequence, or its error raised as the `UserError` it carries."""
    for event in events:
        if event.answer is not None:
            return event.answer
        if event.error is not None:
            raise event.error
    raise RuntimeError("event sequence ended without done or error")
