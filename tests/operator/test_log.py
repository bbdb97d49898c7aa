"""The conversation log on a real SQLite file and a real PostgreSQL cluster (`database_url`)."""

from __future__ import annotations

import json
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
    ((_, row),) = small.head(1)
    assert small.add([dict(row, id=make_answer().id)]) == 6 and small.count == 25
    small.close()

    url = f"sqlite:///{tmp_path / 'log.sqlite'}"
    log = ConversationLog(url, pending_path=tmp_path / "pending.sqlite")
    assert wait_for(lambda: log.pending.count == 0, 30)
    log.close()
    assert count_answers(url) == 25


def logged(url: str, ids: list[str]) -> set[str]:
    from sqlalchemy import create_engine

    engine = create_engine(url)
    try:
        with engine.connect() as db:
            return set(db.execute(select(answers.c.id).where(answers.c.id.in_(ids))).scalars())
    finally:
        engine.dispose()


def test_a_row_postgresql_refuses_is_set_aside_and_the_rows_behind_it_are_written(postgres_url, tmp_path):
    """A NUL in a question: PostgreSQL refused the row (DataError), the writer took it for an
    outage and every later answer waited behind it for good. Now the refused row is set aside
    (in the pending file's quarantine table, counted) and the rest are written, in one batch
    and one at a time."""
    import sqlite3

    log = ConversationLog(postgres_url, pending_path=tmp_path / "pending.sqlite")
    before, poisoned, after = make_answer(), make_answer(), [make_answer() for _ in range(5)]
    log.record(before, "avant")
    log.record(poisoned, "Qui a lancé\x00 l'Alliance ?")
    for answer in after:
        log.record(answer, "après")
    log.flush()
    good = [before.id] + [a.id for a in after]
    assert wait_for(lambda: logged(postgres_url, good) == set(good), 10)
    assert logged(postgres_url, [poisoned.id]) == set()
    assert log.status() is None and log.pending.count == 0
    assert log.counts() == {"pending": 0, "in_memory": 0, "quarantined": 1, "dropped": 0}
    lone = make_answer()  # alone in its batch
    log.record(make_answer(status="no_answer"), "\x00")
    log.record(lone, "seule")
    log.flush()
    assert wait_for(lambda: logged(postgres_url, [lone.id]) == {lone.id}, 10)
    assert log.counts()["quarantined"] == 2
    log.close()
    with sqlite3.connect(tmp_path / "pending.sqlite") as kept:
        rows = kept.execute("SELECT reason, row FROM quarantine ORDER BY seq").fetchall()
    assert [json.loads(row)["id"] for _, row in rows][0] == poisoned.id
    assert all("DataError" in reason for reason, _ in rows)


def test_a_refused_row_at_the_head_of_the_pending_file_no_longer_blocks_it(postgres_url, tmp_path):
    """The poisoned row waited in the pending file (the database away when it was answered):
    every drain retried it and failed, the answers behind it piled up across restarts."""
    missing = "postgresql+psycopg://nobody@127.0.0.1:9/none"
    log = ConversationLog(missing, pending_path=tmp_path / "pending.sqlite")
    poisoned, behind = make_answer(), [make_answer() for _ in range(20)]
    log.record(poisoned, "\x00")
    for answer in behind:
        log.record(answer, "derrière")
    log.flush()
    assert log.pending.count == 21
    log.close()

    log = ConversationLog(postgres_url, pending_path=tmp_path / "pending.sqlite")
    ids = [a.id for a in behind]
    assert wait_for(lambda: log.pending.count == 0, 30), log.status()
    assert logged(postgres_url, ids) == set(ids) and log.counts()["quarantined"] == 1
    assert log.status() is None
    log.close()


def test_answers_wait_in_memory_within_the_bound_while_the_pending_file_cannot_be_written(tmp_path):
    """A pending file that cannot be written (here its folder is a file; on a full disk, the
    same OSError) lost every answer with a traceback: they now wait in memory, bounded."""
    from bot.operator.log.store import Pending

    blocked = tmp_path / "not-a-folder"
    blocked.write_text("")
    pending = Pending(blocked / "pending.sqlite", limit=5)
    rows = [{"id": str(i), "asked_at": utcnow()} for i in range(8)]
    assert pending.add(rows) == 3  # the 3 oldest dropped, counted
    assert pending.count == 5 and len(pending.memory) == 5 and pending.trouble
    entries = pending.head(2)
    assert [row["id"] for _, row in entries] == ["3", "4"]
    assert pending.remove(entries) and [r["id"] for _, r in pending.head(10)] == ["5", "6", "7"]

    blocked.unlink()  # room again: the next add moves what waits into the file
    assert pending.add([{"id": "8", "asked_at": utcnow()}]) == 0
    assert pending.in_file == 4 and not pending.memory and pending.trouble is None
    assert [r["id"] for _, r in pending.head(10)] == ["5", "6", "7", "8"]
    pending.close()
