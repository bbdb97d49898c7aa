"""`POST /feedback`: one 👍/👎 (and an optional comment) per answer, changeable."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field, ValidationError

from bot.api.problems import problem
from bot.api.responses import error_responses
from bot.schema import Text

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


class FeedbackAck(BaseModel):
    answer_id: str
    rating: Literal["up", "down"]
    saved: bool = True


@router.post(
    "/feedback",
    response_model=FeedbackAck,
    tags=["feedback"],
    responses=error_responses(408, 404, 413, 422, 429, 500, 503),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": FeedbackRequest.model_json_schema()}},
        }
    },
)
async def post_feedback(request: Request) -> FeedbackAck:
    """Record the visitor's vote on an answer; a second vote on the same answer replaces the first.
    The vote is committed to the database before this returns."""
    state = request.app.state
    client = request.client.host if request.client else "unknown"
    wait = state.feedback_limiter.retry_after(client)
    if wait:
        raise problem(
            429,
            "rate_limited",
            f"Trop d'avis d'affilée : réessayez dans {wait} s.",
            f"Too many votes in a row: try again in {wait} s.",
            {"Retry-After": str(wait)},
        )
    body = await request.body()  # already read, under the app's limit, by bot.api.guards.BodyGuard
    if len(body) > MAX_BODY:
        raise problem(413, "body_too_large", "Requête trop volumineuse.", "Request body too large.")
    try:
        vote = FeedbackRequest.model_validate(json.loads(body))
    except (ValueError, ValidationError) as e:
        raise problem(
            422,
            "invalid_request",
            'Requête invalide. Envoyez {"answer_id": "…", "rating": "up" | "down", "comment": "…"}.',
            'Invalid request. Send {"answer_id": "…", "rating": "up" | "down", "comment": "…"}.',
        ) from e
    log = state.conversation_log
    if log is None:
        raise problem(
            503,
            "log_disabled",
            "Les avis ne sont pas enregistrés sur ce serveur.",
            "This server does not record feedback.",
        )
    comment = (vote.comment or "").strip() or None
    try:  # on the log's own threads, waited for a bounded time: a frozen database holds no request
        call = log.calls.submit(log.vote, vote.answer_id, 1 if vote.rating == "up" else -1, comment)
        saved = await asyncio.wait_for(asyncio.wrap_future(call), VOTE_TIMEOUT)
    except Exception as e:  # busy, too slow, or the database's own error
        logger.warning("vote not recorded: %s", type(e).__name__)
        raise problem(
            503,
            "log_unavailable",
            f"Avis non enregistré : le journal est indisponible, réessayez dans {RETRY_AFTER} s.",
            f"Vote not recorded: the log is unavailable, try again in {RETRY_AFTER} s.",
            {"Retry-After": str(RETRY_AFTER)},
        ) from None
    if not saved:
        raise problem(
            404,
            "unknown_answer",
            "Réponse inconnue : impossible d'enregistrer l'avis.",
            "Unknown answer: the vote cannot be recorded.",
        )
    state.metrics.feedback.labels(rating=vote.rating).inc()
    return FeedbackAck(answer_id=vote.answer_id, rating=vote.rating)
