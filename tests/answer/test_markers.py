"""Only our [n] are citation markers: a document's own "[2]" never becomes one."""

from __future__ import annotations

import re

import pytest

from bot.answer.markers import marker_numbers, neutral_brackets, rewrite_markers
from bot.config import Settings

NOTE = (
    "# La Fondation Exemple\n\n"
    "La Fondation Exemple a été créée à Lyon en 1998 par trois associations de quartier [2], "
    "avec le soutien de la ville.\n\n"
    "Elle accompagne chaque année plusieurs centaines de familles dans leurs démarches.\n\n"
    "## Notes\n\n[2] Archives municipales de Lyon, registre des associations.\n"
)


@pytest.fixture(scope="module")
def noted_assistant(tmp_path_factory, embedder):
    from bot.answer.assistant import Assistant
    from bot.ingest.pipeline import ingest

    root = tmp_path_factory.mktemp("noted")
    (root / "documents").mkdir()
    (root / "documents" / "fondation.md").write_text(NOTE, encoding="utf-8")
    settings = Settings(index_dir=root / "index", documents_dir=root / "documents")
    ingest([settings.documents_dir], settings.index, lambda: embedder, progress=False)
    return Assistant(settings.answer, embedder=embedder)


def test_a_documents_own_bracketed_number_is_not_a_marker(noted_assistant):
    answer = noted_assistant.ask("En quelle année la Fondation Exemple a-t-elle été créée ?")
    assert answer.status == "answered" and "1998" in answer.answer
    markers = {int(n) for n in re.findall(r"\[(\d+)\]", answer.answer)}
    assert markers == {c.n for c in answer.citations}  # no orphan [2]
    assert "quartier (2)" in answer.answer
    assert any("quartier [2]" in c.quote for c in answer.citations)  # quotes stay verbatim


def test_marker_lists_and_ranges():
    assert marker_numbers("1, 2", 3) == [1, 2]
    assert marker_numbers("1-3", 3) == [1, 2, 3]
    assert marker_numbers("2 – 3; 1", 3) == [2, 3, 1]
    assert marker_numbers("3-1", 3) == [] and marker_numbers("0, 4", 3) == []
    assert marker_numbers("9" * 5000, 3) == []
    assert rewrite_markers("a [1,2] b [7].", 2, lambda n: n) == "a [1] [2] b."
    assert neutral_brackets("note [2] et [1-3], pas [a]") == "note (2) et (1-3), pas [a]"
