"""The one check of a question, whichever way it comes in (`/ask`, `/search`, `/v1`, MCP over
HTTP and stdio, the CLI): the assistant applies it at its door (`Assistant.events`,
`Assistant.search`), so a new way in cannot forget it.

A NUL character once came in through MCP, was answered, and its log row was refused by
PostgreSQL; an empty or 60,000-character `search` and 500 history turns came the same way."""

from __future__ import annotations

from collections.abc import Sequence

from bot.errors import QuestionError, question_too_long
from bot.schema import MAX_K, MAX_TURN_CHARS, MAX_TURNS, Turn, unreadable


def check_question(question: str, limit: int, history: Sequence[Turn] = (), k: int | None = None) -> str:
    """The question stripped, or the error that says what is wrong with it (or with its
    history or `k`)."""
    if not isinstance(question, str) or unreadable(question):
        raise unreadable_question()
    question = question.strip()
    if not question:
        raise QuestionError(
            "empty_question",
            "La question est vide : écrivez une question.",
            "The question is empty: type a question.",
        )
    if len(question) > limit:
        raise question_too_long(limit)
    if len(history) > MAX_TURNS:
        raise QuestionError(
            "history_too_long",
            f"Historique trop long ({len(history)} tours) : {MAX_TURNS} tours au plus.",
            f"History too long ({len(history)} turns): {MAX_TURNS} turns at most.",
        )
    for turn in history:
        if unreadable(turn.content):
            raise unreadable_question()
        if len(turn.content) > MAX_TURN_CHARS:
            raise QuestionError(
                "history_too_long",
                f"Un tour de l'historique dépasse {MAX_TURN_CHARS} caractères : raccourcissez-le.",
                f"A history turn is longer than {MAX_TURN_CHARS} characters: shorten it.",
            )
    if k is not None and (isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= MAX_K):
        raise QuestionError(
            "invalid_k",
            f"« k » doit être un entier de 1 à {MAX_K}.",
            f"'k' must be an integer from 1 to {MAX_K}.",
        )
    return question


def unreadable_question() -> QuestionError:
    return QuestionError(
        "unreadable_question",
        "La question contient des caractères illisibles (caractère nul, ou octets qui ne sont pas "
        "de l'UTF-8) : retirez-les, ou vérifiez l'encodage du terminal.",
        "The question has unreadable characters (NUL, or bytes that are not UTF-8): remove them, "
        "or check the terminal encoding.",
    )
