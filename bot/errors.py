"""Errors a user can act on: one type, with a code, a French and an English message and an
HTTP status. The CLI prints `detail` on one line (exit 2 for usage errors, 1 otherwise);
the API sends `{"code", "detail", "detail_en"}` with `status`. Nothing else reaches users."""

from __future__ import annotations


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


HTTP_MESSAGES = {
    404: ("not_found", "Introuvable.", "Not found."),
    405: ("method_not_allowed", "Méthode non permise.", "Method not allowed."),
}


def http_error(status: int) -> UserError:
    code, fr, en = HTTP_MESSAGES.get(status, ("http_error", "Erreur.", "Error."))
    return UserError(code, fr, en, status=status)
