"""Writing the log: answers queued and written by one background thread (so `/ask` never
waits on the database), feedback written at once and committed before it is acknowledged."""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import queue
import threading
import time
from collections import OrderedDict
from datetime import UTC, datetime, timedelta
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, delete, event, insert, select, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError

from bot.log.tables import answers, feedback

log = logging.getLogger("bot.log")
MIGRATIONS = Path(__file__).resolve().parent / "migrations"
RECENT_IDS = 50_000  # answers given lately, accepted for feedback before their row is written
PURGE_EVERY = 3600.0


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def open_engine(url: str) -> Engine:
    """An engine for `url`, with the schema created or migrated (Alembic) to the latest version."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")  # psycopg 3, the one installed
    if parsed.drivername.startswith("sqlite") and parsed.database not in (None, "", ":memory:"):
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(parsed, pool_pre_ping=True)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    migrate(engine)
    return engine


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")  # readers (the report) never block the writer
    cursor.execute("PRAGMA synchronous=FULL")  # an acknowledged vote survives a crash
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def migrate(engine: Engine) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


class ConversationLog:
    def __init__(self, url: str, days: int = 90):
        self.engine = open_engine(url)
        self.days = days
        self._salt = os.urandom(32)  # per process: a client hash never leads back to an address
        self._queue: queue.Queue[dict | None] = queue.Queue()
        self._recent: OrderedDict[str, None] = OrderedDict()
        self._recent_lock = threading.Lock()
        self._closed = False
        self.purge()
        self._last_purge = time.monotonic()
        self._writer = threading.Thread(target=self._write_loop, name="conversation-log", daemon=True)
        self._writer.start()

    # --- answers -------------------------------------------------------------------------

    def client_hash(self, client: str | None) -> str | None:
        if not client:
            return None
        day = utcnow().strftime("%Y-%m-%d")
        return hmac.new(self._salt, f"{day}|{client}".encode(), hashlib.sha256).hexdigest()[:16]

    def record(self, answer, question: str, client: str | None = None, route: str = "/ask") -> None:
        """Queue one answer (a `bot.schema.Answer`); costs microseconds on the request's path."""
        row = {
            "id": answer.id,
            "asked_at": utcnow(),
            "question": question.strip(),
            "status": answer.status,
            "confidence": answer.confidence,
            "answer": answer.answer,
            "sources": [
                {"n": c.n, "source": c.source, "page": c.page, "char_start": c.char_start,
                 "char_end": c.char_end}
                for c in answer.citations
            ],
            "timings_ms": dict(answer.timings_ms),
            "total_ms": answer.timings_ms.get("total"),
            "index_version": answer.index.version if answer.index else None,
            "client": self.client_hash(client),
            "route": route,
        }
        with self._recent_lock:
            self._recent[answer.id] = None
            if len(self._recent) > RECENT_IDS:
                self._recent.popitem(last=False)
        self._queue.put(row)

    def _write_loop(self) -> None:
        while True:
            row = self._queue.get()
            batch = [row]
            while len(batch) < 500:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            rows = [r for r in batch if r is not None]
            try:
                if rows:
                    with self.engine.begin() as db:
                        db.execute(insert(answers), rows)
                if time.monotonic() - self._last_purge > PURGE_EVERY:
                    self._last_purge = time.monotonic()
                    self.purge()
            except Exception:  # the log must never take the service down
                log.exception("could not write %d logged answers", len(rows))
            finally:
                for _ in batch:
                    self._queue.task_done()
            if None in batch:
                return

    def flush(self) -> None:
        """Wait until every queued answer is written."""
        self._queue.join()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._queue.put(None)
        self._writer.join(timeout=10)
        self.engine.dispose()

    def purge(self) -> int:
        """Delete answers and votes older than the retention period."""
        cutoff = utcnow() - timedelta(days=self.days)
        with self.engine.begin() as db:
            gone = db.execute(delete(answers).where(answers.c.asked_at < cutoff)).rowcount
            db.execute(delete(feedback).where(feedback.c.updated_at < cutoff))
        return gone

    # --- feedback ------------------------------------------------------------------------

    def knows(self, answer_id: str) -> bool:
        with self._recent_lock:
            if answer_id in self._recent:
                return True
        with self.engine.connect() as db:
            return db.execute(select(answers.c.id).where(answers.c.id == answer_id)).first() is not None

    def vote(self, answer_id: str, rating: int, comment: str | None) -> bool:
        """Record (or change) the vote on an answer; False when no such answer was given.
        Returns only once the vote is committed."""
        if not self.knows(answer_id):
            return False
        now = utcnow()
        change = update(feedback).where(feedback.c.answer_id == answer_id).values(
            rating=rating, comment=comment, updated_at=now
        )
        try:
            with self.engine.begin() as db:
                if not db.execute(change).rowcount:
                    db.execute(insert(feedback).values(
                        answer_id=answer_id, rating=rating, comment=comment, created_at=now, updated_at=now,
                    ))
        except IntegrityError:  # two first votes at once: the other one inserted, this one updates
            with self.engine.begin() as db:
                db.execute(change)
        return True
