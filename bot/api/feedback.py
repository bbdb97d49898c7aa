"""`POST /feedback`: one 👍/👎 (and an optional comment) per answer, changeable."""

from __future__ import annotations

import json
from typing import Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field, ValidationError, field_validator

from bot.api.problems import problem
from bot.api.ratelimit import RateLimiter
from bot.api.responses import error_responses

router = APIRouter()
MAX_BODY = 8 * 1024
MAX_COMMENT = 1000


class FeedbackRequest(BaseModel):
    answer_id: str = Field(min_length=36, max_length=36, pattern=r"^[0-9a-f-]{36}$",
                           description="The `id` of the answer.")
    rating: Literal["up", "down"] = Field(description="`up` = 👍 helpful, `down` = 👎 not helpful.")
    comment: str | None = Field(None, max_length=MAX_COMMENT,
                                description="Optional, 1,000 characters at most.")

    @field_validator("comment")
    @classmethod
    def encodable(cls, value: str | None) -> str | None:
        if value is not None:
            value.encode("utf-8")  # a lone surrogate raises: refused as invalid
        return value


class FeedbackAck(BaseModel):
    answer_id: str
    rating: Literal["up", "down"]
    saved: bool = True


@router.post(
    "/feedback", response_model=FeedbackAck, tags=["feedback"],
    responses=error_responses(408, 404, 413, 422, 429, 500),
    openapi_extra={"requestBody": {"required": True, "content": {"application/json": {
        "schema": FeedbackRequest.model_json_schema()}}}},
)
async def post_feedback(request: Request) -> FeedbackAck:
    """Record the visitor's vote on an answer; a second vote on the same answer replaces the first.
    The vote is committed to the database before this returns."""
    state = request.app.state
    if not hasattr(state, "feedback_limiter"):
        state.feedback_limiter = RateLimiter(state.settings.rate_limit)
    client = request.client.host if request.client else "unknown"
    wait = state.feedback_limiter.retry_after(client)
    if wait:
        raise problem(429, "rate_limited", f"Trop d'avis d'affilée : réessayez dans {wait} s.",
                            f"Too many votes in a row: try again in {wait} s.", {"Retry-After": str(wait)})
    body = await _read_capped(request)
    try:
        vote = FeedbackRequest.model_validate(json.loads(body))
    except (ValueError, ValidationError) as e:
        raise problem(
            422, "invalid_request",
            'Requête invalide. Envoyez {"answer_id": "…", "rating": "up" | "down", "comment": "…"}.',
            'Invalid request. Send {"answer_id": "…", "rating": "up" | "down", "comment": "…"}.',
        ) from e
    log = state.conversation_log
    if log is None:
        raise problem(503, "log_disabled", "Les avis ne sont pas enregistrés sur ce serveur.",
                            "This server does not record feedback.")
    comment = (vote.comment or "").strip() or None
    saved = await _in_thread(log.vote, vote.answer_id, 1 if vote.rating == "up" else -1, comment)
    if not saved:
        raise problem(404, "unknown_answer", "Réponse inconnue : impossible d'enregistrer l'avis.",
                            "Unknown answer: the vote cannot be recorded.")
    state.metrics.feedback.labels(rating=vote.rating).inc()
    return FeedbackAck(answer_id=vote.answer_id, rating=vote.rating)


async def _read_capped(request: Request) -> bytes:
    """The body, refused as soon as it grows past MAX_BODY (whatever Content-Length says)."""
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            raise problem(413, "body_too_large", "Requête trop volumineuse.", "Request body too large.")
        chunks.append(chunk)
    return b"".join(chunks)


async def _in_thread(func, *args):
    from starlette.concurrency import run_in_threadpool

    return await run_in_threadpool(func, *args)
