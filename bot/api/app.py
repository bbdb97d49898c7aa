"""The FastAPI application: middleware, error responses and the static widget."""

from __future__ import annotations

import logging
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse, JSONResponse
from starlette.exceptions import HTTPException

from bot import __version__
from bot.api.operator import install_operator
from bot.api.ratelimit import RateLimiter
from bot.api.routes import router
from bot.assistant import Assistant
from bot.config import Settings
from bot.errors import QuestionError

WIDGET_DIR = Path(__file__).resolve().parent.parent / "widget"
MAX_BODY_BYTES = 64 * 1024
LIMITED_PATHS = ("/ask", "/ask/stream", "/search")

log = logging.getLogger("bot.api")


def error(status: int, code: str, fr: str, en: str, headers: dict | None = None) -> JSONResponse:
    """Every error has the same shape: a code, a French message and an English one."""
    return JSONResponse(
        {"code": code, "detail": fr, "detail_en": en}, status_code=status, headers=headers
    )


def create_app(settings: Settings, assistant: Assistant) -> FastAPI:
    app = FastAPI(
        title="Alliance Bot",
        version=__version__,
        description="Questions en français sur les documents, réponses citées.",
    )
    app.state.settings = settings
    app.state.assistant = assistant
    limiter = RateLimiter(settings.rate_limit)

    @app.middleware("http")
    async def guard(request: Request, call_next):
        if request.method == "POST" and request.url.path in LIMITED_PATHS:
            size = request.headers.get("content-length")
            if size and size.isdigit() and int(size) > MAX_BODY_BYTES:
                return error(413, "body_too_large", "Requête trop volumineuse.",
                             "Request body too large.")
            client = request.client.host if request.client else "unknown"
            wait = limiter.retry_after(client)
            if wait:
                return error(
                    429, "rate_limited",
                    f"Trop de questions d'affilée : réessayez dans {wait} s.",
                    f"Too many questions in a row: try again in {wait} s.",
                    headers={"Retry-After": str(wait)},
                )
        return await call_next(request)

    if settings.cors_origin_list:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origin_list,
            allow_methods=["GET", "POST"],
            allow_headers=["Content-Type"],
            expose_headers=["Retry-After"],
            max_age=600,
        )

    @app.exception_handler(QuestionError)
    async def question_error(_: Request, exc: QuestionError):
        status = 413 if exc.code == "question_too_long" else 422
        return error(status, exc.code, exc.message_fr, exc.message_en)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, exc: RequestValidationError):
        first = exc.errors()[0] if exc.errors() else {}
        if first.get("type") == "json_invalid":
            fr, en = "JSON invalide", "invalid JSON"
        else:
            field = ".".join(str(p) for p in first.get("loc", ()) if p != "body") or "body"
            fr, en = f"champ « {field} » : {first.get('msg', 'invalide')}", f"field '{field}'"
        example = '{"question": "…"}'
        return error(422, "invalid_request", f"Requête invalide ({fr}). Envoyez {example}.",
                     f"Invalid request ({en}). Send {example}.")

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, exc: HTTPException):
        messages = {404: ("Introuvable.", "Not found."), 405: ("Méthode non permise.", "Method not allowed.")}
        fr, en = messages.get(exc.status_code, ("Erreur.", "Error."))
        return error(exc.status_code, "http_error", fr, en)

    @app.exception_handler(Exception)
    async def unexpected(_: Request, exc: Exception):
        log.exception("unexpected error")  # the trace goes to the log, never to the client
        return error(500, "internal_error", "Erreur interne : réessayez plus tard.",
                     "Internal error: try again later.")

    app.include_router(router)
    install_operator(app)  # log, feedback, sources, admin, report, metrics

    @app.get("/", include_in_schema=False)
    def demo_page():
        return FileResponse(WIDGET_DIR / "demo.html", media_type="text/html")

    @app.get("/widget.js", include_in_schema=False)
    def widget_script():
        return FileResponse(
            WIDGET_DIR / "widget.js", media_type="text/javascript",
            headers={"Cache-Control": "public, max-age=300", "Access-Control-Allow-Origin": "*"},
        )

    return app
