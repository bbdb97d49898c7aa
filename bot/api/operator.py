"""The operator's side of the API, installed on the app in one call: conversation log,
feedback, source pages, document admin, report and metrics."""

from __future__ import annotations

import atexit
import logging

from fastapi import FastAPI, Request

from bot.api import admin, feedback, metrics, sources
from bot.api.ratelimit import RateLimiter
from bot.operator.log import ConversationLog

log = logging.getLogger("bot.api")


def install_operator(app: FastAPI) -> None:
    """Needs `app.state.settings` and `app.state.assistant`."""
    settings = app.state.settings
    app.state.conversation_log = None
    if settings.log:
        app.state.conversation_log = ConversationLog(
            settings.log_url, settings.log_days, pending_path=settings.data_path / "log-pending.sqlite"
        )
        atexit.register(app.state.conversation_log.close)  # writes what is still queued
    app.state.metrics = metrics.Metrics(app.state.assistant, app.state.limiter, app.state.conversation_log)
    app.state.feedback_limiter = RateLimiter(settings.rate_limit)  # votes, counted apart from questions
    for router in (feedback.router, sources.router, admin.page_router, metrics.router):
        app.include_router(router)
    # Without a token the admin routes answer 404 and are left out of the schema.
    app.include_router(admin.router, include_in_schema=bool(settings.admin_token))
    known = frozenset(getattr(r, "path", "") for r in app.routes)
    app.add_middleware(metrics.MetricsMiddleware, metrics=app.state.metrics, known_paths=known)


def record_answer(request: Request, question: str, answer, route: str) -> None:
    """The log hook: called once per answer produced. Only queues; never fails the request."""
    try:
        state = request.app.state
        state.metrics.answers.labels(status=answer.status).inc()
        if state.conversation_log is not None:
            client = request.client.host if request.client else None
            state.conversation_log.record(answer, question, client, route)
    except Exception:
        log.exception("could not log an answer")
