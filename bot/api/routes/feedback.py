"""`POST /feedback`: one 👍/👎 (and an optional comment) per answer, changeable."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field, ValidationError

from bot.api.deps import CallerDep, LogDep, MetricsDep, ServicesDep, VoteLimited
from bot.api.responses import error_responses
from bot.errors import invalid_vote, unknown_answer, vote_not_recorded, vote_too_large, votes_off
from bot.schema import FeedbackAck, Text

router = APIRouter()
logger = logging.getLogger("bot.api")
VOTE_TIMEOUT = 3.0  # seconds a vote waits for the database before the visitor is told to retry
RETRY_AFTER = 30
MAX_BODY = 8 * 1024
MAX_COMMENT = 1000


class FeedbackRequest(BaseModel):
    answer_id: str = Field(
        min_length=36, max_length=36, pattern=r"^[0-9a-f-]{36}$", description="The `id` of the answer."
    )
    rating: Literal["up", "down"] = Field(description="`up` = 👍 helpful, `down` = 👎 not helpful.")
    comment: Text | None = Field(
        None, max_length=MAX_COMMENT, description="Optional, 1,000 characters at most."
    )


@router.post(
    "/feedback",
    response_model=FeedbackAck,
    tags=["feedback"],
    dependencies=[VoteLimited],
    responses=error_responses(408, 404, 413, 422, 429, 500, 503),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": FeedbackRequest.model_json_schema()}},
        }
    },
)
async def post_feedback(
    request: Request, log: LogDep, metrics: MetricsDep, services: ServicesDep, caller: CallerDep
) -> FeedbackAck:
    """Record the visitor's vote on an answer; a second vote on the same answer replaces the first.
    The vote is committed to the database before this returns."""
    body = await request.body()  # already read, under the app's limit, by bot.api.guards.BodyGuard
    if len(body) > MAX_BODY:
        raise vote_too_large()
    try:
        vote = FeedbackRequest.model_validate(json.loads(body))
    except (ValueError, ValidationError) as e:
        raise invalid_vote() from e
    if log is None:
        raise votes_off()
    comment = (vote.comment or "").strip() or None
    registry = services.library.registry

    def may_vote(collection: str | None) -> bool:
        """A vote lands on its answer's collection, by a caller who may read it; an answer of
        another collection is as unknown as one never given."""
        name = collection or registry.default
        return registry.exists(name) and caller.reads(registry.entry(name))

    try:  # on the log's own threads, waited for a bounded time: a frozen database holds no request
        call = log.calls.submit(log.vote, vote.answer_id, 1 if vote.rating == "up" else -1, comment, may_vote)
        saved = await asyncio.wait_for(asyncio.wrap_future(call), VOTE_TIMEOUT)
    except Exception as e:  # busy, too slow, or the database's own error
        logger.warning("vote not recorded: %s", type(e).__name__)
        raise vote_not_recorded(RETRY_AFTER) from None
    if not saved:
        raise unknown_answer()
    metrics.feedback.labels(rating=vote.rating).inc()
    return FeedbackAck(answer_id=vote.answer_id, rating=vote.rating)
