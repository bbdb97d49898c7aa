"""The conversation log on a real SQLite file and a real PostgreSQL cluster (`database_url`)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import insert, inspect, select, text

from bot.operator.log import ConversationLog
from bot.operator.log.store import utcnow
from bot.operator.log.tables import answers, feedback
from bot.schema import Answer, Citation, IndexInfo


def make_answer(status: str = "answered") -> Answer:
    cites = (
        [
            Citation(
                n=1,
                title="T",
                source="documents/a.md",
                chunk_id="documents/a.md#0-5",
                char_start=0,
                char_end=5,
                quote="Bonjo",
                score=0.9,
            )
        ]
        if status == "answered"
        else []
    )
    return Answer(
        status=status,
        answer="Bonjour [1]." if cites else "",
        citations=cites,
        timings_ms={"embed": 3.0, "total": 12.5},
        index=IndexInfo(version="gen-x", model="m", chunks=1),
    )


@pytest.fixture
def log(database_url):
    log = ConversationLog(database_url, days=30)
    with log.engine.begin() as db:  # each test starts from empty tables
        db.execute(feedback.delete())
        db.execute(answers.delete())
    yield log
    log.close()


def test_schema_is_migrated_by_alembic(log):
    tables = set(inspect(log.engine).get_table_names())
    assert {"answers", "feedback", "alembic_version"} <= tables
    with log.engine.connect() as db:
        assert db.execute(text("SELECT version_num FROM alembic_version")).scalar() == "0002"
    # Opening it again (a restart) migrates nothing and keeps the data.
    ConversationLog(str(log.engine.url.render_as_string(hide_password=False)), days=30).close()


def test_answer_is_recorded_without_the_client_address(log):
    answer = make_answer()
    log.record(answer, "  Qui a lancé l'Alliance ?  ", client="203.0.113.7", route="/ask")
    log.flush()
    with log.engine.connect() as db:
        row = db.execute(select(answers)).one()
    assert row.id == answer.id and row.question == "Qui a lancé l'Alliance ?"
    assert row.status == "answered" and row.total_ms == 12.5 and row.index_version == "gen-x"
    assert row.sources == [{"n": 1, "source": "documents/a.md", "page": None, "char_start": 0, "char_end": 5}]
    assert row.client and "203.0.113.7" not in row.client and len(row.client) == 16
    assert log.client_hash("203.0.113.7") == row.client  # the same visitor on the same day
    assert log.client_hash("203.0.113.8") != row.client


def test_one_vote_per_answer_and_changeable(log):
    answer = make_answer()
    log.record(answer, "q")
    assert log.vote(answer.id, -1, "faux") is True  # accepted even before the row is written
    log.flush()
    assert log.vote(answer.id, 1, None) is True
    with log.engine.connect() as db:
        rows = db.execute(select(feedback)).all()
    assert [(r.answer_id, r.rating, r.comment) for r in rows] == [(answer.id, 1, None)]


def test_vote_on_an_unknown_answer_is_refused(log):
    assert log.vote("00000000-0000-0000-0000-000000000000", 1, None) is False
    with log.engine.connect() as db:
        assert db.execute(select(feedback)).all() == []


def test_old_rows_are_purged(log):
    old = utcnow() - timedelta(days=31)
    with log.engine.begin() as db:
        db.execute(
            insert(answers).values(
                id="old", asked_at=old, question="q", status="no_answer", answer="", sources=[], timings_ms={}
            )
        )
        db.execute(insert(feedback).values(answer_id="old", rating=-1, created_at=old, updated_at=old))
    log.record(make_answer(), "récente")
    log.flush()
    assert log.purge() == 1
    with log.engine.connect() as db:
        assert [r.question for r in db.execute(select(answers))] == ["récente"]
        assert db.execute(select(feedback)).all() == []


def count_answers(url: str) -> int:
    from sqlalchemy import create_engine, func

    engine = create_engine(url)
    try:
        with engine.connect() as db:
            return db.execute(select(func.count()).select_from(answers)).scalar()
    finally:
        engine.dispose()


def wait_for(predicate, seconds: float) -> bool:
    import time

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return predicate()


def test_answers_logged_during_a_sqlite_lock_are_written_after_it(tmp_path):
    """An answer logged during a 12 s SQLite lock was lost."""
    import sqlite3
    import time

    url = f"sqlite:///{tmp_path / 'log.sqlite'}"
    log = ConversationLog(url, pending_path=tmp_path / "pending.sqlite")
    locker = sqlite3.connect(tmp_path / "log.sqlite", isolation_level=None)
    locker.execute("BEGIN EXCLUSIVE")
    try:
        began = time.monotonic()
        for _ in range(20):
            log.record(make_answer(), "pendant le verrou")
        assert time.monotonic() - began < 0.1  # the request's path never waits
        assert wait_for(lambda: log.pending.count == 20, 15), "the lock was not noticed"
        assert log.status() is not None
    finally:
        locker.execute("COMMIT")
        locker.close()
    assert wait_for(lambda: log.pending.count == 0 and log.status() is None, 30)
    log.close()
    assert count_answers(url) == 20


def test_pending_answers_survive_a_restart_and_stay_bounded(tmp_path):
    """The database stays away across a restart: what was pending is written by the next process."""
    missing = "postgresql+psycopg://nobody@127.0.0.1:9/none"  # port 9: refused at once
    log = ConversationLog(missing, pending_path=tmp_path / "pending.sqlite")
    assert log.status() is not None  # started without its database
    ids = []
    for _ in range(30):
        answer = make_answer()
        ids.append(answer.id)
        log.record(answer, "base absente")
    log.flush()
    assert log.pending.count == 30
    log.close()

    from bot.operator.log.store import Pending

    small = Pending(tmp_path / "pending.sqlite", limit=25)  # reopened: still there, then bounded
    assert small.count == 30
    _, (row,) = small.head(1)
    assert small.add([dict(row, id=make_answer().id)]) == 6 and small.count == 25
    small.close()

    url = f"sqlite:///{tmp_path / 'log.sqlite'}"
    log = ConversationLog(url, pending_path=tmp_path / "pending.sqlite")
    assert wait_for(lambda: log.pending.count == 0, 30)
    log.close()
    assert count_answers(url) == 25
