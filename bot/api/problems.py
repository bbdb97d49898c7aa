"""The errors of the operator's routes, in the API's one error shape (code, French, English)."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import JSONResponse


class OperatorError(Exception):
    def __init__(self, status: int, code: str, fr: str, en: str, headers: dict | None = None):
        super().__init__(en)
        self.status, self.code, self.fr, self.en, self.headers = status, code, fr, en, headers


async def operator_error(_: Request, exc: OperatorError) -> JSONResponse:
    return JSONResponse(
        {"code": exc.code, "detail": exc.fr, "detail_en": exc.en},
        status_code=exc.status, headers=exc.headers,
    )


NOT_FOUND = ("Introuvable.", "Not found.")
