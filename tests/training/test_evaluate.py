"""`alliance-bot eval` metrics on tiny question files and a tiny BEIR-style dataset."""

from __future__ import annotations

import json

import pytest

from bot.training.evaluate import contains_answer, evaluate_dataset, evaluate_questions, ndcg


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
    return path


def test_contains_answer_ignores_case_accents_and_spacing():
    assert contains_answer("la SIXIEME  Convention", ["sixième convention"])
    assert not contains_answer("la cinquième", ["sixième"])


def test_ndcg():
    assert ndcg(["a", "b"], {"a": 1}) == 1.0
    assert ndcg(["b", "a"], {"a": 1}) == pytest.approx(1 / 1.5849625)
    assert ndcg(["b"], {"a": 1}) == 0.0


def test_question_metrics(assistant, tmp_path):
    questions = write_jsonl(
        tmp_path / "q.jsonl",
        [
            {"question": "En quelle année l'Alliance Dynamique a-t-elle été créée ?", "answers": ["2014"]},
            {"question": "Qui a lancé l'Alliance Dynamique ?", "answers": ["introuvable-xyz"]},
            {"question": "Comment faire une pâte à crêpes ?", "answers": []},
        ],
    )
    m = evaluate_questions(questions, assistant)
    assert m["n"] == 3
    assert m["hit@5"] == 0.5 and m["answer_accuracy"] == 0.5
    assert m["answered_rate"] == 1.0 and m["refusal_rate"] == 1.0
    assert [f["question"] for f in m["failures"]] == ["Qui a lancé l'Alliance Dynamique ?"]


@pytest.fixture(params=["folder", "postgresql"])
def eval_settings(request, settings, tmp_path):
    """The session's settings on either index store (a PostgreSQL from pgserver)."""
    moved = settings.model_copy(update={"index_dir": tmp_path / "unused"})
    if request.param == "folder":
        return moved
    return moved.model_copy(update={"store_url": request.getfixturevalue("pgvector_url")})


def test_dataset_metrics(eval_settings, embedder, tmp_path):
    folder = tmp_path / "mini"
    folder.mkdir()
    write_jsonl(
        folder / "corpus.jsonl",
        [
            {"id": "d1", "title": "Pommes", "text": "La pomme est un fruit du pommier, récolté en automne."},
            {"id": "d2", "title": "Trains", "text": "Le TGV relie Paris à Lyon en deux heures."},
            {"id": "d3", "title": "Mer", "text": "La marée monte deux fois par jour sur la côte atlantique."},
        ],
    )
    write_jsonl(
        folder / "queries.jsonl",
        [
            {"id": "q1", "text": "Quel arbre donne des pommes ?"},
            {"id": "q2", "text": "Combien de temps en TGV entre Paris et Lyon ?"},
        ],
    )
    (folder / "qrels.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td2\t1\n")
    m = evaluate_dataset(folder, eval_settings)
    assert m["n"] == 2 and m["documents"] == 3
    assert m["ndcg@10"] == 1.0 and m["recall@100"] == 1.0 and m["mrr@10"] == 1.0
    if eval_settings.store_url:  # its throwaway collection is gone from the database
        import psycopg

        with psycopg.connect(eval_settings.store_url) as conn:
            left = conn.execute("SELECT count(*) FROM alliance_generations WHERE collection LIKE 'eval-%'")
            assert left.fetchone()[0] == 0
