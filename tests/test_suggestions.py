"""The widget's default starter questions are ones the default corpus answers."""

from __future__ import annotations

import re

import pytest

from bot.config import REPO_ROOT

WIDGET = (REPO_ROOT / "bot" / "widget" / "widget.js").read_text(encoding="utf-8")


def default_suggestions(lang: str) -> list[str]:
    block = re.search(rf"\n  {lang}: \{{(.*?)\n  \}},", WIDGET, re.S).group(1)
    raw = re.search(r"suggestions: (['\"])(.*?)\1,", block).group(2)
    return [q.strip().replace("\\'", "'") for q in raw.split("|") if q.strip()]


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_default_suggestions_are_answered(assistant, lang):
    questions = default_suggestions(lang)
    assert 3 <= len(questions) <= 4
    for question in questions:
        answer = assistant.ask(question)
        assert answer.status == "answered", question
        assert answer.citations, question
