"""The reader on the default corpus (session index): it picks the sentence that answers,
refuses absent topics, never quotes metadata, and gives short answers located exactly."""

from __future__ import annotations

import numpy as np

from bot.answer.reader.features import FEATURES, is_metadata, read
from bot.answer.reader.spans import WHEN, WHO, find_spans, question_type


def test_an_answerable_question_picks_the_sentence_that_holds_the_answer(assistant):
    answer = assistant.ask("En quelle année l'Alliance Dynamique a-t-elle été lancée ?")
    assert answer.status == "answered" and answer.confidence >= assistant.snapshot.composer.threshold
    assert "2014" in answer.citations[0].quote
    assert len(answer.citations) <= 2


def test_a_question_on_an_absent_topic_is_refused(assistant):
    answer = assistant.ask("Quel est le chiffre d'affaires du Groupe La Poste en 2019 ?")
    assert answer.status == "no_answer" and answer.citations == []
    assert 0 <= answer.confidence < assistant.snapshot.composer.threshold
    assert answer.answer == "Je ne trouve pas la réponse dans les documents."


def test_a_refusal_speaks_the_language_of_the_question(assistant):
    answer = assistant.ask("What is the boiling point of water at sea level?")
    assert answer.status == "no_answer"
    assert answer.answer == "I can't find the answer in the documents."


def test_features_are_one_row_per_candidate_and_metadata_is_never_a_candidate(assistant):
    question = "Qui a lancé l'Alliance Dynamique ?"
    vector = assistant.embedder.encode_queries([question])[0]
    hits = assistant.snapshot.retriever.search(vector, question, 5)
    reading = read(question, vector, assistant.index, hits)
    assert reading.features.shape == (len(reading.candidates), len(FEATURES))
    assert np.isfinite(reading.features).all()
    assert reading.kind == WHO
    assert not any(c.text.startswith("Source :") or c.text.endswith("?") for c in reading.candidates)


def test_metadata_lines():
    assert is_metadata("Source : article « L'Alliance Dynamique » (seed 000).", "T", ())
    assert is_metadata("Qui a lancé l'Alliance Dynamique ?", "T", ())
    assert is_metadata("Jouer collectif en territoire", "T", ("Jouer collectif en territoire",))
    assert not is_metadata("C'est le Groupe La Poste qui a initié l'Alliance Dynamique, en 2014.", "T", ())


def test_question_types_and_spans():
    assert question_type("Qui a lancé l'Alliance Dynamique ?") == WHO
    assert question_type("Et en quelle année ?") == WHEN
    assert question_type("Who spoke there?") == WHO
    text = "Charles-Benoît HEIDSIECK a parlé à Paris le 1er octobre 2020 devant 300 personnes."
    found = {(s.kind, text[s.start : s.end]) for s in find_spans(text)}
    assert {
        ("who", "Charles-Benoît HEIDSIECK"),
        ("where", "Paris"),
        ("when", "1er octobre 2020"),
        ("number", "300 personnes"),
    } <= found


def test_short_answer_offsets_point_into_the_cited_document(assistant):
    answer = assistant.ask("Qui a lancé l'Alliance Dynamique ?")
    short = answer.short_answer
    assert short is not None and "Groupe La Poste" in short.text
    citation = next(c for c in answer.citations if c.n == short.n)
    text = assistant.index.documents[citation.source].text
    assert text[short.char_start : short.char_end] == short.text
    assert citation.char_start <= short.char_start < short.char_end <= citation.char_end


def test_near_duplicate_sentences_are_quoted_once():
    from bot.answer.reader.model import Judgement, choose, near_duplicate

    a = "L'Alliance Dynamique a été lancée par le Groupe La Poste en 2014."
    b = "L'Alliance Dynamique a été lancée en 2014 par le Groupe La Poste."
    assert near_duplicate(a, b)
    other = "Autre chose, tout à fait différente."
    shares = np.array([0.45, 0.35, 0.2])
    judgement = Judgement(np.log(shares), shares, 0, 0.9)
    assert choose(judgement, [a, b, other], 0.5, 0.4) == [0, 2]
    assert choose(judgement, [a, b, other], 0.95, 0.4) == []
