"""How errors leave the API, and how the OpenAPI schema documents them.

Every error is a `UserError` (`bot.errors`); its body is `bot.errors.body`, in the
`ErrorResponse` shape (`{"code", "detail", "detail_en"}`), or OpenAI's on `/v1`. A route
raises the error; the app's handlers (`error_response`) and the middleware that answers
before any route (`send_error`) send it."""

from __future__ import annotations

import logging
from typing import Any

from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from bot.errors import UserError, body, invalid_request, openai_status, public
from bot.schema import ErrorResponse, OpenAIErrorResponse

V1 = "/v1"  # OpenAI's protocol (`bot.api.routes.chat`): its errors in OpenAI's shape
log = logging.getLogger("bot.api")


def in_openai_shape(path: str) -> bool:
    return path.startswith(V1 + "/")


def error_response(error: UserError, path: str = "") -> JSONResponse:
    """The one way an error leaves a route."""
    if not error.public:  # its message may name paths: log it, send a fixed one
        log.warning("%s: %s", error.code, error)
    openai = in_openai_shape(path)
    shown = public(error)
    status = openai_status(shown) if openai else shown.status
    return JSONResponse(body(shown, openai), status_code=status, headers=shown.headers or None)


async def send_error(send, error: UserError, path: str = "") -> None:
    """The same response, sent from an ASGI middleware or endpoint (before any route ran)."""
    response = error_response(error, path)
    headers = [*response.raw_headers, (b"connection", b"close")]
    await send({"type": "http.response.start", "status": response.status_code, "headers": headers})
    await send({"type": "http.response.body", "body": response.body})


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


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the errors a route can send, all in the `ErrorResponse` shape."""
    described = {
        400: "Requête invalide, ou paramètre non pris en charge (`/v1`).",
        401: "Clé d'API absente ou incorrecte (`ALLIANCE_API_KEYS`).",
        403: "Réservé au jeton d'administration.",
        408: "Le corps de la requête est arrivé trop lentement.",
        413: "Requête ou question trop longue.",
        422: "Requête invalide (JSON, champ manquant, question vide ou illisible).",
        429: "Trop de questions : réessayez après `Retry-After` secondes.",
        500: "Erreur interne (le détail est dans le journal du serveur, jamais dans la réponse).",
        503: "Index indisponible, ou serveur saturé.",
        404: "Introuvable (réponse, document, collection).",
        409: "En conflit : collection par défaut, nom déjà pris, ou ingest en cours.",
    }
    out: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        out[status] = {"model": ErrorResponse, "description": described[status]}
        if status == 429:
            out[status]["headers"] = {
                "Retry-After": {
                    "description": "Secondes à attendre.",
                    "schema": {"type": "integer", "minimum": 1},
                }
            }
    return out


def openai_error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The same entries on `/v1`, in OpenAI's error shape."""
    out = error_responses(*statuses)
    for entry in out.values():
        entry["model"] = OpenAIErrorResponse
    return out
