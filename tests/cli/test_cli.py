"""The CLI as a user runs it: `python -m bot …` in a subprocess, on the session's index."""

from __future__ import annotations

import json
import os
import subprocess
import sys


def run(*args: str, index_dir, **env: str) -> subprocess.CompletedProcess:
    environ = os.environ | {"ALLIANCE_INDEX_DIR": str(index_dir)} | env
    return subprocess.run(
        [sys.executable, "-m", "bot", *args], env=environ, capture_output=True, text=True, timeout=300
    )


def test_ask_json_follows_the_contract(assistant, settings):
    r = run(
        "ask",
        "Quel objectif de développement durable le Groupe veut-il éclairer ?",
        "--json",
        index_dir=settings.index_dir,
    )
    assert r.returncode == 0, r.stderr
    answer = json.loads(r.stdout)
    assert answer["status"] == "answered" and "ODD 17" in answer["answer"]
    assert answer["collection"] == "alliance"
    texts = {s: d.text for s, d in assistant.index.documents.items()}
    for c in answer["citations"]:
        assert f"[{c['n']}]" in answer["answer"]
        assert texts[c["source"]][c["char_start"] : c["char_end"]] == c["quote"]


def test_ask_for_people_prints_answer_then_sources(assistant, settings):
    r = run("ask", "Qui a lancé l'Alliance Dynamique ?", index_dir=settings.index_dir)
    assert r.returncode == 0, r.stderr
    answer, sources = r.stdout.split("\nSources :\n")
    assert "[1]" in answer and "La Poste" in answer
    assert sources.lstrip().startswith("[1]") and "«" in sources


def test_no_answer_exits_zero(assistant, settings):
    r = run("ask", "Comment faire une pâte à crêpes ?", "--json", index_dir=settings.index_dir)
    assert r.returncode == 0 and json.loads(r.stdout)["status"] == "no_answer"


def test_usage_errors_exit_2(assistant, settings):
    empty = run("ask", "  ", index_dir=settings.index_dir)
    assert empty.returncode == 2 and "question est vide" in empty.stderr
    assert run("ask", "x", "-k", "0", index_dir=settings.index_dir).returncode == 2


def test_failures_exit_1_with_one_line_reason(assistant, settings):
    r = run("search", "ESS", index_dir=settings.index_dir, ALLIANCE_EMBEDDING_MODEL="another/model")
    assert r.returncode == 1
    assert r.stderr.count("\n") == 1 and "ingest --rebuild" in r.stderr
    assert "Traceback" not in r.stderr


def test_ask_builds_a_missing_index(tmp_path, corpus_dir):
    index = tmp_path / "fresh"
    r = run(
        "ask",
        "En quelle année l'Alliance Dynamique a-t-elle été créée ?",
        "--json",
        index_dir=index,
        ALLIANCE_DOCUMENTS_DIR=str(corpus_dir),
    )
    assert r.returncode == 0, r.stderr
    assert "2014" in json.loads(r.stdout)["answer"]
    assert (index / "CURRENT").is_file()


def test_an_invalid_setting_is_a_one_line_usage_error(settings):
    r = run("search", "ESS", index_dir=settings.index_dir, ALLIANCE_TOP_K="beaucoup")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.count("\n") == 1 and "ALLIANCE_TOP_K" in r.stderr
    proxies = run("search", "ESS", index_dir=settings.index_dir, ALLIANCE_TRUSTED_PROXIES="proxy.local")
    assert proxies.returncode == 2 and "ALLIANCE_TRUSTED_PROXIES" in proxies.stderr


def test_unreadable_bytes_in_a_question_are_a_usage_error(settings):
    environ = os.environ | {"ALLIANCE_INDEX_DIR": str(settings.index_dir), "LC_ALL": "C.UTF-8"}
    r = subprocess.run(
        [sys.executable, "-m", "bot", "ask", b"Qui a lanc\xe9 l'Alliance ?"],
        env=environ,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.count("\n") == 1 and "illisibles" in r.stderr


def test_a_malformed_question_file_is_one_line_naming_its_line(settings, tmp_path):
    questions = tmp_path / "questions.jsonl"
    questions.write_text(
        '{"question": "Qui ?", "answers": ["x"]}\n\n{"question": "Quoi ?",\n', encoding="utf-8"
    )
    r = run("eval", str(questions), index_dir=settings.index_dir)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert r.stderr.count("\n") == 1 and "ligne 3" in r.stderr and "JSON invalide" in r.stderr
    questions.write_text('{"question": "Qui ?"}\n["pas", "un objet"]\n', encoding="utf-8")
    r = run("eval", str(questions), index_dir=settings.index_dir)
    assert r.returncode == 1 and r.stderr.count("\n") == 1 and "ligne 2" in r.stderr


def test_ingest_of_a_missing_folder_changes_nothing(assistant, settings, tmp_path):
    import shutil

    index = tmp_path / "index"
    shutil.copytree(settings.index_dir, index)
    before = (index / "CURRENT").read_text()
    r = run("ingest", str(tmp_path / "nonexistent"), index_dir=index)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert r.stderr.count("\n") == 1 and "Introuvable" in r.stderr
    assert (index / "CURRENT").read_text() == before


def test_report_shows_visitors_text_without_escape_sequences(assistant, settings, tmp_path):
    """A question or a 👎 comment carrying ESC sequences reached the operator's terminal raw."""
    from bot.operator.log import ConversationLog
    from tests.operator.test_log import make_answer

    url = f"sqlite:///{tmp_path / 'log.sqlite'}"
    log = ConversationLog(url)
    answer = make_answer("no_answer")
    log.record(answer, "Question\x1b]0;pwned\x07 \x1b]52;c;ZXZpbA==\x07 \u202eesrever")
    log.flush()
    assert log.vote(answer.id, -1, "nul\x1b[2J\x1b]8;;https://x.example\x1b\\ici\x1b]8;;\x1b\\")
    log.close()
    for args in ((), ("--json",)):
        r = run("report", *args, index_dir=settings.index_dir, ALLIANCE_DATABASE_URL=url)
        assert r.returncode == 0, r.stderr
        assert "pwned" in r.stdout and "ici" in r.stdout
        assert not any(c in r.stdout for c in "\x1b\x07\u202e"), r.stdout


def test_report_with_its_database_down_is_one_line(assistant, settings):
    r = run(
        "report", index_dir=settings.index_dir, ALLIANCE_DATABASE_URL="postgresql://nobody@127.0.0.1:9/none"
    )  # port 9: refused
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert r.stderr.count("\n") == 1 and "ALLIANCE_DATABASE_URL" in r.stderr


def test_search_checks_the_question_like_ask(settings):
    """`search ""` loaded the model and searched nothing: now the same usage error as `ask`."""
    for command in ("ask", "search"):
        empty = run(command, "  ", index_dir=settings.index_dir)
        assert empty.returncode == 2 and "La question est vide" in empty.stderr, empty.stderr
        long = run(command, "x" * 2001, index_dir=settings.index_dir)
        assert long.returncode == 2 and "dépasse 2000 caractères" in long.stderr, long.stderr
