"""Errors a user can act on: one type, with a code, a French and an English message and an
HTTP status, and the catalogue of every one the CLI and the API send. The CLI prints
`detail` on one line (exit 2 for usage errors, 1 otherwise); the API sends `body(error)`,
`{"code", "detail", "detail_en"}` (OpenAI's shape on `/v1`), with `status`. Nothing else
reaches users."""

from __future__ import annotations

from typing import Any


class UserError(Exception):
    """What went wrong and what to do, in French (`detail`) and English (`detail_en`)."""

    code = "error"
    status = 400
    exit_code = 1
    # False when the message may name local paths: the API then sends a fixed message.
    public = True

    def __init__(
        self,
        code: str | None = None,
        detail: str = "",
        detail_en: str = "",
        status: int | None = None,
        headers: dict[str, str] | None = None,
    ):
        super().__init__(detail)
        self.code = code or self.code
        self.detail = detail
        self.detail_en = detail_en or detail
        self.status = status or self.status
        self.headers = headers or {}


class QuestionError(UserError):
    """The question itself is unusable (empty, too long, unreadable): a usage error."""

    status = 422
    exit_code = 2

    def __init__(self, code: str, detail: str, detail_en: str = "", status: int | None = None):
        super().__init__(code, detail, detail_en, status)


class IndexUnavailable(UserError):
    """The index cannot be used as it is (missing, other model, other format).

    Raised as `IndexUnavailable("message …")`; the message may name paths, so the API
    answers with a fixed one and logs this one."""

    code = "index_unavailable"
    status = 503
    public = False

    def __init__(self, detail: str, detail_en: str = ""):
        super().__init__(self.code, detail, detail_en)


def question_too_long(limit: int) -> QuestionError:
    return QuestionError(
        "question_too_long",
        f"La question dépasse {limit} caractères : raccourcissez-la.",
        f"The question is longer than {limit} characters: shorten it.",
        status=413,
    )


def too_large(limit: int) -> UserError:
    return UserError(
        "body_too_large",
        f"Requête trop volumineuse (plus de {limit // 1024} Ko) : raccourcissez-la.",
        f"Request body too large (over {limit // 1024} KB): shorten it.",
        status=413,
    )


def too_slow(seconds: float) -> UserError:
    return UserError(
        "request_timeout",
        f"Requête reçue trop lentement (plus de {seconds:g} s) : réessayez.",
        f"Request body arrived too slowly (over {seconds:g} s): try again.",
        status=408,
    )


def rate_limited(wait: int) -> UserError:
    return UserError(
        "rate_limited",
        f"Trop de questions d'affilée : réessayez dans {wait} s.",
        f"Too many questions in a row: try again in {wait} s.",
        status=429,
        headers={"Retry-After": str(wait)},
    )


def invalid_request(field: str | None, reason: str = "") -> UserError:
    example = '{"question": "…"}'
    if field is None:
        fr, en = "JSON invalide", "invalid JSON"
    else:
        fr, en = f"champ « {field} » : {reason or 'invalide'}", f"field '{field}': {reason or 'invalid'}"
    error = UserError(
        "invalid_request",
        f"Requête invalide ({fr}). Envoyez {example}.",
        f"Invalid request ({en}). Send {example}.",
        status=422,
    )
    error.param = field
    return error


def index_unavailable_public() -> UserError:
    """What API clients are told when the index cannot be used (details go to the log)."""
    return UserError(
        "index_unavailable",
        "L'index des documents n'est pas disponible pour le moment : réessayez plus tard.",
        "The document index is not available right now: try again later.",
        status=503,
    )


def internal_error() -> UserError:
    return UserError(
        "internal_error",
        "Erreur interne : réessayez plus tard.",
        "Internal error: try again later.",
        status=500,
    )


def not_ready() -> UserError:
    """`/health` while the index cannot be used (the reason is in the log)."""
    return UserError(
        "index_unavailable",
        "L'index n'est pas disponible : voir le journal du serveur.",
        "The index is not available: see the server log.",
        status=503,
    )


HTTP_MESSAGES = {
    404: ("not_found", "Introuvable.", "Not found."),
    405: ("method_not_allowed", "Méthode non permise.", "Method not allowed."),
}


def http_error(status: int) -> UserError:
    code, fr, en = HTTP_MESSAGES.get(status, ("http_error", "Erreur.", "Error."))
    return UserError(code, fr, en, status=status)


# The clients' keys (`/v1`, `/mcp`) and the admin token.


def wrong_key() -> UserError:
    return UserError(
        "invalid_api_key",
        "Clé d'API absente ou incorrecte : envoyez "
        "« Authorization: Bearer <clé> » avec une clé de ALLIANCE_API_KEYS.",
        "Missing or wrong API key: send 'Authorization: Bearer <key>' with a key from ALLIANCE_API_KEYS.",
        status=401,
        headers={"WWW-Authenticate": "Bearer"},
    )


def admin_off() -> UserError:
    """The admin routes and pages without `ALLIANCE_ADMIN_TOKEN`: as if they did not exist."""
    return UserError("http_error", "Introuvable.", "Not found.", status=404)


def wrong_admin_token() -> UserError:
    return UserError(
        "unauthorized",
        "Jeton d'administration absent ou incorrect.",
        "Missing or wrong admin token.",
        status=401,
        headers={"WWW-Authenticate": "Bearer"},
    )


def unknown_collection() -> UserError:
    """The same answer for a collection that does not exist and one the caller may not read:
    names do not leak."""
    return UserError("unknown_collection", "Collection introuvable.", "Collection not found.", status=404)


def operator_only() -> UserError:
    return UserError(
        "operator_only",
        "Supprimer ou renommer une collection est réservé au jeton d'administration "
        "(ALLIANCE_ADMIN_TOKEN) ou à la ligne de commande.",
        "Deleting or renaming a collection takes the admin token (ALLIANCE_ADMIN_TOKEN) or the CLI.",
        status=403,
    )


# `/v1` (OpenAI's protocol).


def unsupported(param: str, what_fr: str, what_en: str) -> UserError:
    error = UserError(
        "unsupported_parameter",
        f"Paramètre non pris en charge : « {param} » ({what_fr}). Retirez-le de la requête.",
        f"Unsupported parameter: '{param}' ({what_en}). Remove it from the request.",
        status=400,
    )
    error.param = param
    return error


def model_not_found(current: str) -> UserError:
    error = UserError(
        "model_not_found",
        f"Modèle inconnu : utilisez « {current} » (GET /v1/models).",
        f"Unknown model: use '{current}' (GET /v1/models).",
        status=404,
    )
    error.param = "model"
    return error


# The conversation log: votes (`/feedback`) and the report (`/admin/report`).


def votes_rate_limited(wait: int) -> UserError:
    return UserError(
        "rate_limited",
        f"Trop d'avis d'affilée : réessayez dans {wait} s.",
        f"Too many votes in a row: try again in {wait} s.",
        status=429,
        headers={"Retry-After": str(wait)},
    )


def vote_too_large() -> UserError:
    return UserError("body_too_large", "Requête trop volumineuse.", "Request body too large.", status=413)


def invalid_vote() -> UserError:
    example = '{"answer_id": "…", "rating": "up" | "down", "comment": "…"}'
    return UserError(
        "invalid_request",
        f"Requête invalide. Envoyez {example}.",
        f"Invalid request. Send {example}.",
        status=422,
    )


def votes_off() -> UserError:
    return UserError(
        "log_disabled",
        "Les avis ne sont pas enregistrés sur ce serveur.",
        "This server does not record feedback.",
        status=503,
    )


def vote_not_recorded(retry: int) -> UserError:
    return UserError(
        "log_unavailable",
        f"Avis non enregistré : le journal est indisponible, réessayez dans {retry} s.",
        f"Vote not recorded: the log is unavailable, try again in {retry} s.",
        status=503,
        headers={"Retry-After": str(retry)},
    )


def unknown_answer() -> UserError:
    return UserError(
        "unknown_answer",
        "Réponse inconnue : impossible d'enregistrer l'avis.",
        "Unknown answer: the vote cannot be recorded.",
        status=404,
    )


def log_off() -> UserError:
    return UserError(
        "log_disabled",
        "Le journal est désactivé (ALLIANCE_LOG=0).",
        "The log is off (ALLIANCE_LOG=0).",
        status=503,
    )


def log_unavailable(retry: int) -> UserError:
    return UserError(
        "log_unavailable",
        f"Le journal est indisponible : réessayez dans {retry} s.",
        f"The log is unavailable: try again in {retry} s.",
        status=503,
        headers={"Retry-After": str(retry)},
    )


# Documents uploaded and removed through `/admin/documents`.


def invalid_filename() -> UserError:
    return UserError(
        "invalid_filename",
        "Nom de fichier invalide (lettres, chiffres, . - _ espace).",
        "Invalid file name (letters, digits, . - _ space).",
        status=422,
    )


def unsupported_format() -> UserError:
    return UserError(
        "unsupported_format",
        "Format non pris en charge : md, txt, html, pdf, docx, odt ou pptx.",
        "Unsupported format: md, txt, html, pdf, docx, odt or pptx.",
        status=422,
    )


def file_too_large(limit: int) -> UserError:
    return UserError(
        "file_too_large",
        f"Fichier trop volumineux (> {limit} octets).",
        f"File too large (> {limit} bytes).",
        status=413,
    )


def empty_file() -> UserError:
    return UserError("empty_file", "Le fichier est vide.", "The file is empty.", status=422)


def unreadable_file(reason: str) -> UserError:
    return UserError("unreadable_file", f"Fichier ignoré : {reason}", f"File skipped: {reason}", status=422)


def disk_full() -> UserError:
    return UserError(
        "disk_full",
        "Espace disque insuffisant : le fichier n'a pas été enregistré.",
        "Not enough disk space: the file was not stored.",
        status=507,
    )


def not_stored() -> UserError:
    return UserError(
        "not_stored", "Le fichier n'a pas pu être enregistré.", "The file could not be stored.", status=500
    )


def not_managed() -> UserError:
    return UserError(
        "not_managed",
        "Ce document ne vient pas du dossier géré par l'admin : retirez-le de son "
        "dossier puis relancez l'indexation.",
        "This document was not uploaded here: remove it from its folder, then re-ingest.",
        status=409,
    )


def unknown_document() -> UserError:
    return UserError("unknown_document", "Document inconnu.", "Unknown document.", status=404)


# What leaves the API: the one place an error becomes a body.


def public(error: UserError) -> UserError:
    """The error as a client may see it: one whose message may name paths becomes a fixed one."""
    return error if error.public else index_unavailable_public()


_OPENAI_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    404: "invalid_request_error",
    408: "invalid_request_error",
    413: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
}


def openai_status(error: UserError) -> int:
    """OpenAI answers a bad request with 400 where the rest of this API says 422."""
    return 400 if error.status == 422 else error.status


def body(error: UserError, openai: bool = False) -> dict[str, Any]:
    """The JSON body of every error the API sends: `ErrorResponse`, or OpenAI's
    `{"error": {...}}` on `/v1`."""
    # Here, not at the top: the settings import this module, and every command with them;
    # building the schema's models took 40-70 ms of each start.
    from bot.schema import ErrorResponse, OpenAIError, OpenAIErrorResponse

    error = public(error)
    if not openai:
        return ErrorResponse(code=error.code, detail=error.detail, detail_en=error.detail_en).model_dump()
    kind = _OPENAI_TYPES.get(error.status, "server_error" if error.status >= 500 else "invalid_request_error")
    shown = OpenAIError(
        message=error.detail,
        message_en=error.detail_en,
        type=kind,
        param=getattr(error, "param", None),
        code=error.code,
    )
    return OpenAIErrorResponse(error=shown).model_dump()
