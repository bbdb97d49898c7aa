"""The log records each answer's collection (migration 0002), and a vote lands only on an
answer of a collection its caller may read."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, select, text

from bot.operator.log import ConversationLog
from bot.operator.log.store import MIGRATIONS, utcnow
from bot.operator.log.tables import answers, feedback
from tests.operator.test_log import log, make_answer  # noqa: F401 (the fixture)


def test_a_log_of_before_collections_is_migrated_and_keeps_its_answers(tmp_path):
    url = f"sqlite:///{tmp_path / 'log.sqlite'}"
    engine = create_engine(url)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0001")
    old = {
        "id": "11111111-1111-1111-1111-111111111111",
        "asked_at": utcnow(),
        "question": "q",
        "status": "answered",
        "answer": "a",
        "sources": [],
        "timings_ms": {},
    }
    with engine.begin() as db:
        db.execute(
            text(
                "INSERT INTO answers (id, asked_at, question, status, answer, sources, timings_ms) "
                "VALUES (:id, :asked_at, :question, :status, :answer, '[]', '{}')"
            ),
            old,
        )
    engine.dispose()
    opened = ConversationLog(url, days=30)
    try:
        with opened.engine.connect() as db:
            assert db.execute(text("SELECT version_num FROM alembic_version")).scalar() == "0002"
        assert opened.collection_of(old["id"]) is None  # the default collection
        assert opened.vote(old["id"], 1, None) is True
    finally:
        opened.close()


def test_each_answer_records_its_collection(log):  # noqa: F811
    inside, default = make_answer(), make_answer()
    log.record(inside, "q", route="/ask", collection="interne")
    log.record(default, "q", route="/ask")
    assert log.collection_of(inside.id) == "interne"  # known before it is written
    log.flush()
    with log.engine.connect() as db:
        rows = dict(db.execute(select(answers.c.id, answers.c.collection)).all())
    assert rows == {inside.id: "interne", default.id: None}
    fresh = ConversationLog(str(log.engine.url.render_as_string(hide_password=False)), days=30)
    try:  # after a restart, from the database
        assert fresh.collection_of(inside.id) == "interne" and fresh.collection_of(default.id) is None
        assert fresh.collection_of("00000000-0000-0000-0000-000000000000") is False
    finally:
        fresh.close()


def test_a_vote_on_an_answer_of_an_unreadable_collection_is_refused(log):  # noqa: F811
    answer = make_answer()
    log.record(answer, "q", collection="interne")
    log.flush()
    assert log.vote(answer.id, 1, None, lambda c: c != "interne") is False
    with log.engine.connect() as db:
        assert db.execute(select(feedback)).all() == []
    assert log.vote(answer.id, 1, None, lambda c: c == "interne") is True


def test_rows_queued_before_the_migration_are_written(log):  # noqa: F811
    row = {  # as a pending file written by the previous version holds them: no collection
        "id": "22222222-2222-2222-2222-222222222222",
        "asked_at": utcnow(),
        "question": "q",
        "status": "answered",
        "answer": "a",
        "sources": [],
        "timings_ms": {},
    }
    log._insert([row])
    assert log.collection_of(row["id"]) is None
