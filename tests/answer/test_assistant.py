"""The one answer sequence: what `/ask`, `/ask/stream` and the CLI all run."""

from __future__ import annotations

import pytest

from bot.errors import QuestionError
from bot.schema import Turn

QUESTION = "Qui a lancé l'Alliance Dynamique ?"


@pytest.fixture
def reads(assistant, monkeypatch) -> list[str]:
    """The queries the reader reads, in order."""
    composer = type(assistant.snapshot.composer)
    original = composer.__call__
    seen: list[str] = []

    def counting(self, question, vector, hits, tokens=None):
        seen.append(question)
        return original(self, question, vector, hits, tokens)

    monkeypatch.setattr(composer, "__call__", counting)
    return seen


def test_the_reader_reads_a_question_once(assistant, reads):
    assistant.ask(QUESTION)
    assert reads == [QUESTION]


def test_a_follow_up_reads_each_query_once(assistant, reads):
    history = [
        Turn(role="user", content="Quand l'Alliance Dynamique a-t-elle été créée ?"),
        Turn(role="assistant", content="En 2014."),
    ]
    assistant.ask("Et par qui ?", history=history)
    assert 1 <= len(reads) <= 2 and len(reads) == len(set(reads))
    assert reads[0] == "Et par qui ?"


def test_ask_is_the_done_event_of_the_sequence(assistant):
    events = list(assistant.events(QUESTION))
    names = [e.name for e in events]
    assert names[0] == "passages" and names[-2:] == ["citations", "done"] and "delta" in names
    streamed = "".join(e.data["text"] for e in events if e.name == "delta")
    done = events[-1].answer
    assert streamed == done.answer
    asked = assistant.ask(QUESTION)
    assert (asked.status, asked.answer, asked.citations) == (done.status, done.answer, done.citations)


@pytest.mark.parametrize("question", ["", "   \n", "x" * 5000])
def test_a_bad_question_raises_before_any_event(assistant, question):
    with pytest.raises(QuestionError):
        assistant.events(question)
