"""OpenAPI entries for error responses: every route documents the errors it can send, all in
the one `ErrorResponse` shape (`{"code", "detail", "detail_en"}`)."""

from __future__ import annotations

from typing import Any

from bot.schema import ErrorResponse


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the errors a route can send, all in the `ErrorResponse` shape."""
    described = {
        400: "Requête invalide, ou paramètre non pris en charge (`/v1`).",
        401: "Clé d'API absente ou incorrecte (`ALLIANCE_API_KEYS`).",
        408: "Le corps de la requête est arrivé trop lentement.",
        413: "Requête ou question trop longue.",
        422: "Requête invalide (JSON, champ manquant, question vide ou illisible).",
        429: "Trop de questions : réessayez après `Retry-After` secondes.",
        500: "Erreur interne (le détail est dans le journal du serveur, jamais dans la réponse).",
        503: "Index indisponible, ou serveur saturé.",
        404: "Introuvable (réponse, document).",
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
