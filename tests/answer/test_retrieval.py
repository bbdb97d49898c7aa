"""Retrieval on the session's index: both retrievers' evidence, fused one way or the other."""

from __future__ import annotations

import numpy as np
import pytest

from bot.answer.retrieval import Retriever
from bot.index.bm25 import top_positive as _top_positive

QUESTION = "Qui a lancé l'Alliance Dynamique ?"


@pytest.fixture(scope="module")
def vector(assistant):
    return assistant.embedder.encode_queries([QUESTION])


@pytest.mark.parametrize("fusion", ["weighted", "rrf"])
def test_hits_are_ranked_by_fused_score_with_both_evidences(assistant, vector, fusion):
    hits = Retriever(assistant.index, fusion).search(vector, QUESTION, 5)
    assert len(hits) == 5
    scores = [h.score for h in hits]
    assert scores == sorted(scores, reverse=True)
    assert len({h.chunk.chunk_id for h in hits}) == 5
    assert all(h.dense_rank or h.bm25_rank for h in hits)
    best = hits[0]
    assert best.dense_rank is not None and best.bm25_rank is not None  # both retrievers agree on it


def test_the_dense_weight_moves_the_ranking_toward_one_retriever(assistant, vector):
    dense_only = Retriever(assistant.index, "weighted", dense_weight=1.0).search(vector, QUESTION, 5)
    bm25_only = Retriever(assistant.index, "weighted", dense_weight=0.0).search(vector, QUESTION, 5)
    assert [h.dense_rank for h in dense_only] == [1, 2, 3, 4, 5]
    assert [h.bm25_rank for h in bm25_only] == [1, 2, 3, 4, 5]


def test_a_question_of_unknown_words_finds_no_bm25_evidence(assistant, vector):
    hits = Retriever(assistant.index).search(vector, "xyzzyq plughw", 3)
    assert hits and all(h.bm25_rank is None and h.bm25_score == 0 for h in hits)


def test_top_positive_keeps_the_best_scores_in_order_and_ties_by_row():
    scores = np.array([0.0, 2.0, 5.0, 2.0, -1.0, 7.0])
    assert _top_positive(scores, 3).tolist() == [5, 2, 1]
    assert _top_positive(scores, 10).tolist() == [5, 2, 1, 3]
