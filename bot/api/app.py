"""The FastAPI application: request guards, one error mapping and the static widget.

A new router (feedback, admin, …) is one more `app.include_router(...)` in `create_app`; it
gets the body guard, CORS and the error mapping for free, and the rate limit by adding
`dependencies=[Depends(rate_limit)]` (`bot.api.routes`). Every error a route raises as a
`UserError` (`bot.errors`) reaches clients as `{"code", "detail", "detail_en"}` with its
status; `error_responses(...)` documents them in OpenAPI.
"""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse, JSONResponse
from starlette.exceptions import HTTPException
from starlette_compress import CompressMiddleware

from bot import __version__
from bot.answer.assistant import Assistant
from bot.api import chat
from bot.api.admin import bearer_matches
from bot.api.chat_schema import openai_error, openai_status
from bot.api.guards import BodyGuard
from bot.api.mcp_http import install_mcp
from bot.api.operator import install_operator
from bot.api.pages import SecurityHeaders
from bot.api.ratelimit import RateLimiter
from bot.api.routes import router
from bot.api.static import WIDGET_MAX_AGE, StaticAsset
from bot.config import Settings
from bot.errors import UserError, http_error, index_unavailable_public, internal_error, invalid_request
from bot.schema import ErrorResponse

WIDGET_DIR = Path(__file__).resolve().parent.parent / "widget"
COMPRESS_MIN_BYTES = 512  # below this the encoding's headers cost more than they save

log = logging.getLogger("bot.api")


def error_response(error: UserError, path: str = "") -> JSONResponse:
    """The one way an error leaves the API (in OpenAI's shape on `/v1`)."""
    if not error.public:  # its message may name paths: log it, send a fixed one
        log.warning("%s: %s", error.code, error)
        error = index_unavailable_public()
    if path.startswith(chat.PREFIX + "/"):
        headers = error.headers or None
        return JSONResponse(openai_error(error), status_code=openai_status(error), headers=headers)
    body = ErrorResponse(code=error.code, detail=error.detail, detail_en=error.detail_en)
    return JSONResponse(body.model_dump(), status_code=error.status, headers=error.headers or None)


def validation_error(exc: RequestValidationError) -> UserError:
    first = exc.errors()[0] if exc.errors() else {}
    if first.get("type") == "json_invalid":
        return invalid_request(None)
    field = ".".join(str(p) for p in first.get("loc", ()) if p != "body") or "body"
    if not (field.isascii() and field.isprintable() and len(field) <= 60):
        field = "body"  # never echo what the client sent
    reason = str(first.get("msg", "")).split("\n")[0][:200]  # pydantic's words, never the input
    # Not printable: control characters, and lone surrogates, which cannot be sent as UTF-8.
    return invalid_request(field, reason if reason.isprintable() else "")


def upload_limits(settings: Settings):
    """Documents uploaded to /admin may be larger and slower than questions, but only for a
    request that carries the admin token: nobody else gets more than 64 KB buffered."""
    token = settings.admin_token
    # Twice the upload limit: the admin route itself refuses what is over it (`file_too_large`).
    uploads = (2 * int(settings.admin_max_upload_mb * 1024 * 1024), max(settings.body_read_timeout, 300.0))

    def override(scope) -> tuple[int, float] | None:
        if not token or not scope.get("path", "").startswith("/admin/"):
            return None
        sent = dict(scope.get("headers", ())).get(b"authorization", b"").decode("latin-1")
        return uploads if bearer_matches(sent, token) else None

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
    app.state.settings = settings
    app.state.assistant = assistant
    app.state.limiter = RateLimiter(settings.rate_limit, settings.redis_url)
    app.state.limiter_blocks = app.state.limiter.remote is not None  # a network call: off the event loop

    # Outermost last: CORS wraps the body guard so that its 413/408 carry CORS headers too.
    app.add_middleware(
        BodyGuard,
        max_bytes=settings.max_body_bytes,
        timeout=settings.body_read_timeout,
        override=upload_limits(settings),
    )
    if settings.cors_origin_list:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origin_list,
            allow_methods=["GET", "POST"],
            allow_headers=["Content-Type"],
            expose_headers=["Retry-After"],
            max_age=600,
        )
    # Outermost: every body above 512 bytes (script, pages, JSON) in zstd, br or gzip, as the
    # client's Accept-Encoding allows; text/event-stream is flushed message by message.
    if settings.compress:
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

    app.include_router(router)
    app.include_router(chat.router)
    chat.document_v1(app)
    mcp_sessions = install_mcp(app)
    install_operator(app)  # log, feedback, sources, admin, report, metrics
    app.add_middleware(SecurityHeaders)  # outermost: the guards' own answers get its headers too

    @app.get("/", include_in_schema=False)
    def demo_page():
        return FileResponse(WIDGET_DIR / "demo.html", media_type="text/html")

    widget = StaticAsset(WIDGET_DIR / "widget.js", "text/javascript", WIDGET_MAX_AGE, settings.compress)

    @app.get("/widget.js", include_in_schema=False)
    def widget_script(request: Request):
        return widget.response(request)

    return app
