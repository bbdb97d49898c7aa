"""The report's pieces without a server: periods, grouping by meaning, the text rendering."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.operator.report import group_questions, parse_since


def test_periods_are_days_hours_or_minutes():
    assert parse_since("7d") == timedelta(days=7)
    assert parse_since(" 24h ") == timedelta(hours=24)
    assert parse_since("30m") == timedelta(minutes=30)
    for bad in ("", "7", "7w", "-1d", "1.5h"):
        with pytest.raises(ValueError, match="période invalide"):
            parse_since(bad)


def test_questions_are_grouped_by_meaning_largest_first(embedder):
    questions = [
        "Quel est le budget de l'Alliance Dynamique ?",
        "quel est le budget de l'alliance dynamique",
        "Combien coûte l'Alliance Dynamique chaque année ?",
        "Quelle est la recette de la tarte aux pommes ?",
    ]
    groups = group_questions(questions, embedder)
    assert sum(g["count"] for g in groups) == 4
    assert groups[0]["count"] >= 2 and "budget" in groups[0]["example"].lower()
    apple = next(g for g in groups if "pommes" in g["example"])
    assert apple["count"] == 1  # far from the others in meaning
    assert group_questions([], embedder) == []
