"""The FastAPI application: its services, request guards, one error mapping and every router.

A new router (`bot/api/routes/<resource>.py`) is one more `app.include_router(...)` in
`create_app`; it gets the body guard, CORS and the error mapping for free, what it needs
from `bot.api.deps`, and the rate limit with `dependencies=[Limited]`. Every error a route
raises as a `UserError` (`bot.errors`) reaches clients as `bot.errors.body(error)` with its
status; `bot.api.responses.error_responses(...)` documents them in OpenAPI.
"""

from __future__ import annotations

import contextlib
import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from starlette.exceptions import HTTPException
from starlette_compress import CompressMiddleware

from bot import __version__
from bot.answer.assistant import Assistant
from bot.api.access import identify
from bot.api.auth import bearer_matches
from bot.api.deps import admin_on
from bot.api.guards import BodyGuard
from bot.api.mcp_http import install_mcp
from bot.api.metrics import MetricsMiddleware
from bot.api.responses import error_response, validation_error
from bot.api.routes import admin, ask, chat, documents, feedback, health, metrics, pages, report, sources
from bot.api.security import SecurityHeaders
from bot.api.services import Services
from bot.config import Settings
from bot.errors import UserError, http_error, internal_error, invalid_request
from bot.keys import KeysFile

COMPRESS_MIN_BYTES = 512  # below this the encoding's headers cost more than they save

log = logging.getLogger("bot.api")


def upload_limits(settings: Settings, keys: KeysFile | None = None):
    """Documents uploaded to /admin may be larger and slower than questions, but only for a
    request that carries the admin token or a key that administers a collection: nobody else
    gets more than 64 KB buffered."""
    token = settings.operator.admin_token
    # Twice the upload limit: the admin route itself refuses what is over it (`file_too_large`).
    uploads = (
        2 * int(settings.operator.admin_max_upload_mb * 1024 * 1024),
        max(settings.http.body_read_timeout, 300.0),
    )

    def override(scope) -> tuple[int, float] | None:
        if not (token or keys) or not scope.get("path", "").startswith("/admin/"):
            return None
        sent = dict(scope.get("headers", ())).get(b"authorization", b"").decode("latin-1")
        if token and bearer_matches(sent, token):
            return uploads
        caller = identify(sent, keys, None) if keys is not None else None
        return uploads if caller is not None and caller.key is not None and caller.key.admin else None

    return override


def create_app(settings: Settings, assistant: Assistant) -> FastAPI:
    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI):
        async with mcp_sessions:  # the MCP SDK's task group, for the requests on /mcp
            yield

    app = FastAPI(
        title="Alliance Bot",
        version=__version__,
        description="Questions en français sur les documents, réponses citées.",
        lifespan=lifespan,
    )
    services = Services.start(settings, assistant)
    app.state.services = services  # the only state: routes get it through `bot.api.deps`

    # Outermost last: CORS wraps the body guard so that its 413/408 carry CORS headers too.
    app.add_middleware(
        BodyGuard,
        max_bytes=settings.http.max_body_bytes,
        timeout=settings.http.body_read_timeout,
        override=upload_limits(settings, services.keys if settings.collections.keys_file else None),
    )
    if settings.http.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.http.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["Content-Type"],
            expose_headers=["Retry-After"],
            max_age=600,
        )
    # Outermost: every body above 512 bytes (script, pages, JSON) in zstd, br or gzip, as the
    # client's Accept-Encoding allows; text/event-stream is flushed message by message.
    if settings.http.compress:
        app.add_middleware(CompressMiddleware, minimum_size=COMPRESS_MIN_BYTES)

    @app.exception_handler(UserError)
    async def user_error(request: Request, exc: UserError):
        return error_response(exc, request.url.path)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError):
        return error_response(validation_error(exc), request.url.path)

    @app.exception_handler(HTTPException)
    async def http(request: Request, exc: HTTPException):
        if exc.status_code == 400:  # FastAPI's "error parsing the body" (bytes that are not JSON text)
            return error_response(invalid_request(None), request.url.path)
        return error_response(http_error(exc.status_code), request.url.path)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception):
        log.error("unexpected error", exc_info=exc)  # the trace goes to the log, never to the client
        return error_response(internal_error(), request.url.path)

    public = (ask.router, documents.router, health.router, chat.router)
    for router in public:
        app.include_router(router)
    chat.document_v1(app, settings)
    mcp_sessions = install_mcp(app, services)
    operator = (feedback.router, sources.router, pages.router, metrics.router)
    for router in operator:
        app.include_router(router)
    # Without a token the admin routes answer 404 and are left out of the schema.
    admin_only = (admin.router, report.router)
    for router in admin_only:
        app.include_router(router, include_in_schema=admin_on(settings))
    # Requests answered before any route (the guards' 413/408) are labelled by their path when it
    # is a known one, else "other" (labels stay bounded). FastAPI wraps an included router (no
    # `.path` on it), so the paths are read from the routers themselves.
    known = frozenset(getattr(r, "path", "") for r in app.routes) | {
        r.path for router in (*public, *operator, *admin_only) for r in router.routes
    }
    app.add_middleware(MetricsMiddleware, metrics=services.metrics, known_paths=known)
    app.add_middleware(SecurityHeaders)  # outermost: the guards' own answers get its headers too
    return app
