"""Follow-ups are decided by the evidence: a question that stands on its own is never glued
to the previous turn; one that does not ("Et en quelle année ?") is read with it."""

from __future__ import annotations

from bot.schema import Turn


def _history(previous: str) -> list[Turn]:
    return [Turn(role="user", content=previous), Turn(role="assistant", content="…")]


def test_a_question_with_confident_evidence_is_searched_alone(assistant):
    question = "Qu'est-ce que l'ODD 17 ?"
    found = assistant.search(question, history=_history("Qui a lancé l'Alliance Dynamique ?"))
    assert found.query == question
    answer = assistant.ask(question, history=_history("Qui a lancé l'Alliance Dynamique ?"))
    assert answer.status == "answered" and "ODD 17" in answer.answer


def test_a_real_follow_up_is_read_with_the_previous_question(assistant):
    previous = "Qui a lancé l'Alliance Dynamique ?"
    found = assistant.search("Et en quelle année ?", history=_history(previous))
    assert found.query.startswith(previous)
    answer = assistant.ask("Et en quelle année ?", history=_history(previous))
    assert answer.status == "answered" and "2014" in answer.answer


def test_without_history_a_vague_question_stays_alone(assistant):
    assert assistant.search("Et en quelle année ?").query == "Et en quelle année ?"
