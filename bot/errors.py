"""Errors a user can act on; each message says what is wrong and what to do."""

from __future__ import annotations


class IndexUnavailable(Exception):
    """The index cannot be used as it is (missing, other model, other format)."""


class QuestionError(ValueError):
    """The question itself is unusable; `message_fr` / `message_en` say why."""

    def __init__(self, code: str, message_fr: str, message_en: str):
        super().__init__(message_fr)
        self.code, self.message_fr, self.message_en = code, message_fr, message_en
