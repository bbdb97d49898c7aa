"""The alignment reader: question words against sentence tokens, on real e5 token vectors.

Questions here are written for these tests (never the shared evaluation set's wording).
"""

from __future__ import annotations

import sqlite3

import numpy as np
import pytest

from bot.answer.reader.align import TokenSource, best_counterparts, question_words
from bot.documents import sentence_reading, table_header
from bot.index.store import SQLITE, current_generation, load_current

TABLE_DOC = """# Budget du jardin partagé

Le jardin partagé du quartier présente son budget pour la saison.

| Poste | Montant |
|---|---|
| Semences bio | 4 812 euros |
| Outils de jardinage | 1 250 euros |
| Récupérateurs d'eau | 690 euros |

Les bénévoles entretiennent les parcelles chaque samedi matin.
"""


def test_question_words_leave_out_what_only_asks(embedder):
    question = "Quel organisme a-t-il retracé le chemin de La Poste lors des Ateliers ?"
    _, tokens = embedder.encode_with_tokens([question], True)
    words = question_words(question, tokens[0])
    assert words.head == "organisme"  # names the kind of answer: its counterpart is the answer
    assert "retracé" in words.words and "chemin" in words.words and "Ateliers" in words.words
    assert not {"Quel", "a-t-il", "le", "de", "des"} & set(words.words)
    assert words.vectors.shape == (len(words.words), embedder.dimension)
    assert np.allclose(np.linalg.norm(words.vectors, axis=1), 1.0, atol=1e-5)


def test_token_offsets_point_into_the_text(embedder):
    text = "L’Alliance Dynamique, initiée en 2014 par le Groupe La Poste."
    _, tokens = embedder.encode_with_tokens([text], False)
    pieces = [text[a:b] for a, b in tokens[0].offsets]
    assert pieces[0] == "L" and "2014" in pieces and all(p.strip() == p and p for p in pieces)


def test_a_translation_lines_up_better_than_another_sentence(embedder):
    _, (question,) = embedder.encode_with_tokens(["Who founded the programme?"], True)
    words = question_words("Who founded the programme?", question)
    _, (right, wrong) = embedder.encode_with_tokens(
        ["Le programme a été fondé en 2014.", "Les bénévoles arrosent les tomates le samedi."], False
    )
    assert best_counterparts(words, right.vectors).min() > best_counterparts(words, wrong.vectors).min()


def test_stored_token_vectors_equal_those_computed_when_asked(assistant):
    index = assistant.index
    assert index.sentence_tokens is not None  # a small corpus stores them at ingest
    rows = list(index.chunk_sentences[0])[:4]
    computed = TokenSource(index, assistant._passage_tokens)
    computed.index = _WithoutTokens(index)
    for stored, fresh in zip(TokenSource(index, None).get(rows), computed.get(rows), strict=True):
        assert stored.shape == fresh.shape
        # int8 storage, and int8 activations quantised per batch: close, not equal.
        assert np.mean(np.sum(stored * fresh, axis=1)) > 0.97


class _WithoutTokens:
    """The same index as one stored without token vectors."""

    def __init__(self, index):
        self._index = index
        self.sentence_tokens = None

    def __getattr__(self, name):
        return getattr(self._index, name)


def test_an_index_past_the_token_budget_stores_none_and_still_answers(settings, embedder, tmp_path):
    from bot.answer.assistant import Assistant
    from bot.ingest.pipeline import ingest

    small = settings.model_copy(update={"index_dir": tmp_path / "index", "token_vectors_max": 10})
    ingest([settings.documents_dir], small.index, lambda: embedder, progress=False)
    assert load_current(small.index_dir).sentence_tokens is None
    answer = Assistant(small.answer, embedder=embedder).ask(
        "En quelle année l'Alliance Dynamique est-elle née ?"
    )
    assert answer.status == "answered" and "2014" in answer.citations[0].quote


def test_an_index_from_before_token_vectors_loads_and_is_read(settings, assistant, tmp_path):
    import shutil

    old = tmp_path / "old"
    shutil.copytree(settings.index_dir, old)
    db = sqlite3.connect(current_generation(old) / SQLITE)
    db.execute("ALTER TABLE sentences DROP COLUMN tokens")
    db.execute("ALTER TABLE sentences DROP COLUMN token_offsets")
    db.commit()
    db.close()
    index = load_current(old)
    assert index.sentence_tokens is None
    rows = list(index.chunk_sentences[0])[:2]
    assert all(len(t) > 0 for t in TokenSource(index, assistant._passage_tokens).get(rows))


def test_a_table_row_is_read_after_its_column_headers():
    text = "Budget\n\nPoste | Montant\nSemences bio | 4 812 euros\nOutils | 1 250 euros\n\nFin."
    start = text.index("Outils")
    assert table_header(text, start) == "Poste | Montant"
    assert table_header(text, text.index("Poste")) is None  # the header row itself
    assert table_header(text, text.index("Fin")) is None
    spans = [(text.index("Poste"), text.index("\nSemences")), (start, start + len("Outils | 1 250 euros"))]
    context, own = sentence_reading("Budget", text, spans, 1)
    assert context[own:] == "Poste | Montant Outils | 1 250 euros"


def _cells(*cells: str) -> str:
    return (
        "<table:table-row>"
        + "".join(f"<table:table-cell><text:p>{c}</text:p></table:table-cell>" for c in cells)
        + "</table:table-row>"
    )


ODT_BODY = (
    '<text:h text:outline-level="1">Calendrier de la ressourcerie</text:h>'
    "<text:p>La ressourcerie du quartier ouvre ses ateliers selon ce calendrier.</text:p>"
    "<table:table>"
    + _cells("Atelier", "Jour")
    + _cells("Réparation de vélos", "mardi soir")
    + _cells("Couture solidaire", "jeudi après-midi")
    + "</table:table>"
    "<text:p>Chaque atelier accueille douze personnes au plus.</text:p>"
)


@pytest.fixture(scope="module")
def table_assistant(settings, embedder, tmp_path_factory):
    from bot.answer.assistant import Assistant
    from bot.ingest.pipeline import ingest
    from tests.ingest.loaders.helpers import make_odt

    folder = tmp_path_factory.mktemp("table-docs")
    (folder / "budget-jardin.md").write_text(TABLE_DOC, encoding="utf-8")
    make_odt(folder / "ressourcerie.odt", ODT_BODY, title="Calendrier de la ressourcerie")
    config = settings.model_copy(
        update={"index_dir": tmp_path_factory.mktemp("table-index"), "documents_dir": folder}
    )
    ingest([folder], config.index, lambda: embedder, progress=False)
    return Assistant(config.answer, embedder=embedder)


def test_a_table_row_answers_with_the_row_quoted_at_its_offsets(table_assistant):
    answer = table_assistant.ask("Combien coûtent les semences bio ?")
    assert answer.status == "answered", answer.confidence
    citation = answer.citations[0]
    assert "Semences bio | 4 812 euros" in citation.quote
    text = table_assistant.index.documents[citation.source].text
    assert text[citation.char_start : citation.char_end] == citation.quote
    short = answer.short_answer
    assert short is not None and short.text == "4 812 euros"
    assert text[short.char_start : short.char_end] == short.text


def test_a_row_of_an_opendocument_table_answers(table_assistant):
    answer = table_assistant.ask("Quel jour a lieu l'atelier de couture solidaire ?")
    assert answer.status == "answered", answer.confidence
    assert "Couture solidaire | jeudi après-midi" in answer.citations[0].quote


def test_a_paraphrase_whose_words_its_answer_does_not_say_is_answered(assistant):
    # « philosophe », « livré », « regard »: none is in « l'analyse de la crise proposée par
    # Cynthia FLEURY »; only « crise » is.
    answer = assistant.ask("Quelle philosophe a livré son regard sur la crise ?")
    assert answer.status == "answered", answer.confidence
    assert any("FLEURY" in c.quote for c in answer.citations)


def test_an_english_question_about_french_documents_is_answered(assistant):
    answer = assistant.ask("In which year was the Alliance Dynamique created?")
    assert answer.status == "answered", answer.confidence
    assert "2014" in " ".join(c.quote for c in answer.citations)


def test_a_near_miss_whose_key_word_the_text_never_says_is_refused(assistant):
    # The convention is there; how many attended it is said nowhere.
    answer = assistant.ask("Combien de personnes ont assisté à la 6ème Convention ?")
    assert answer.status == "no_answer", answer.answer
