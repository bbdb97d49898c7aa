"""The errors of the operator's routes, as the API's one error type (`bot.errors.UserError`)."""

from __future__ import annotations

from bot.errors import UserError


def problem(status: int, code: str, fr: str, en: str, headers: dict | None = None) -> UserError:
    return UserError(code, fr, en, status=status, headers=headers)


NOT_FOUND = ("Introuvable.", "Not found.")
