"""Writing the log: answers queued and written by one background thread (so `/ask` never
waits on the database), feedback written at once and committed before it is acknowledged."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import queue
import sqlite3
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from datetime import UTC, datetime, timedelta
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, delete, event, insert, select, update
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError

from bot.operator.log.tables import answers, feedback

log = logging.getLogger("bot.operator.log")
MIGRATIONS = Path(__file__).resolve().parent / "migrations"
RECENT_IDS = 50_000  # answers given lately, accepted for feedback before their row is written
PURGE_EVERY = 3600.0
CALL_TIMEOUT = 2.0  # seconds any one database call is waited for
STARTUP_TIMEOUT = 3.0  # the first contact, at start: past it the server starts without the log
MAX_QUEUED = 10_000  # answers in memory on their way to the database or the pending file
MAX_PENDING = 100_000  # answers kept in the pending file while the database is away
RETRY_MIN, RETRY_MAX = 0.5, 10.0  # seconds between tries while it is away (doubling)


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def open_engine(url: str) -> Engine:
    """An engine for `url`, with the schema created or migrated (Alembic) to the latest version."""
    engine = make_engine(url)
    migrate(engine)
    return engine


def make_engine(url: str) -> Engine:
    """An engine for `url` that gives up quickly on a server that is down or frozen; nothing
    is connected yet."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")  # psycopg 3, the one installed
    options: dict = {"pool_pre_ping": True}
    if parsed.drivername.startswith("sqlite") and parsed.database not in (None, "", ":memory:"):
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    if parsed.drivername.startswith("postgresql"):
        options |= {"pool_timeout": CALL_TIMEOUT, "connect_args": {"connect_timeout": 3}}
    engine = create_engine(parsed, **options)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
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


class Unavailable(Exception):
    """The log's database did not answer in time (down, frozen, locked, its disk full) or is busy."""


class Rejected(Unavailable):
    """The database answered and refused what it was given (a NUL in a text column, a value
    too long…): sending the same rows again will never work. Callers that only read may treat
    it as `Unavailable`; the writer sets the refused row aside instead of retrying it."""


# What says the database is away rather than refusing these rows: it may take them later.
# ProgrammingError (a missing table, a withdrawn right) is the statement, not the row: it is
# waited out like an outage, so that a schema problem never sets every answer aside.
_AWAY = (
    sa_exc.OperationalError,
    sa_exc.InterfaceError,
    sa_exc.ProgrammingError,
    sa_exc.DisconnectionError,
    sa_exc.TimeoutError,
    OSError,
)


def refused(error: BaseException) -> bool:
    """True when the database (or the driver, before sending) refused the data itself:
    DataError, IntegrityError, a value it cannot encode; False for an outage."""
    if isinstance(error, sa_exc.DBAPIError) and error.connection_invalidated:
        return False
    return not isinstance(error, _AWAY)


def _describe(error: BaseException) -> str:
    text = str(error)
    return f"{type(error).__name__}: {text.splitlines()[0][:200] if text else ''}"


class Calls:
    """Database calls on at most `workers` threads of their own, each waited for at most a
    timeout: a frozen database holds these threads, never a request's. With every thread
    taken, a call fails at once instead of queueing."""

    def __init__(self, workers: int, name: str):
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix=name)
        self._free = threading.BoundedSemaphore(workers)

    def submit(self, fn, *args) -> Future:
        if not self._free.acquire(blocking=False):
            raise Unavailable("busy")

        def run():
            try:
                return fn(*args)
            finally:
                self._free.release()

        return self._pool.submit(run)

    def call(self, fn, *args, timeout: float = CALL_TIMEOUT):
        try:
            return self.submit(fn, *args).result(timeout)
        except FutureTimeout:
            raise Unavailable(f"no reply in {timeout:g} s") from None
        except Unavailable:
            raise
        except Exception as e:  # the driver's own error: down, locked, disk full; or the data refused
            raise (Rejected if refused(e) else Unavailable)(_describe(e)) from e


Entry = tuple[int | None, dict]  # (its sequence number in the pending file, or None in memory; row)


class Pending:
    """Answers not yet in the database, in a local SQLite file: they survive a restart, and
    at most `limit` are kept (past it, the oldest are dropped and counted).

    When the file cannot be written (its disk is full), answers wait in memory instead, within
    the same bound, and go to the file (or the database) as soon as it takes them again. Rows
    the database refused are set aside in the file's `quarantine` table, never retried."""

    def __init__(self, path: Path | None, limit: int = MAX_PENDING):
        self.limit = limit
        self.path = path
        self.db: sqlite3.Connection | None = None
        self.in_file = 0
        self.memory: deque[dict] = deque()  # newer than every row of the file
        self.quarantined = 0
        self.set_aside: list[tuple[dict, str]] = []  # refused rows the file could not take
        self.trouble: str | None = None  # why the file is not written to, while it is not
        self._open()

    @property
    def count(self) -> int:
        return self.in_file + len(self.memory)

    def _open(self) -> bool:
        if self.db is not None:
            return True
        db = None
        try:
            if self.path is not None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(str(self.path) if self.path else ":memory:", check_same_thread=False)
            db.execute("PRAGMA journal_mode=WAL")
            with db:
                db.execute(
                    "CREATE TABLE IF NOT EXISTS pending (seq INTEGER PRIMARY KEY AUTOINCREMENT, row TEXT)"
                )
                db.execute(
                    "CREATE TABLE IF NOT EXISTS quarantine (seq INTEGER PRIMARY KEY AUTOINCREMENT, "
                    "set_aside_at TEXT, reason TEXT, row TEXT)"
                )
            self.in_file = db.execute("SELECT count(*) FROM pending").fetchone()[0]
            self.quarantined = db.execute("SELECT count(*) FROM quarantine").fetchone()[0] + len(
                self.set_aside
            )
        except (sqlite3.Error, OSError) as e:
            if db is not None:
                db.close()
            self._failed(e)
            return False
        self.db = db
        return True

    def _failed(self, error: Exception) -> None:
        if self.trouble is None:  # once, not once per answer: a full disk stays full a while
            log.warning(
                "log: the pending file cannot be written (%s): answers wait in memory", _describe(error)
            )
        self.trouble = _describe(error)

    def add(self, rows: list[dict]) -> int:
        """Keep `rows`; returns how many of the oldest were dropped to stay under the limit."""
        self.memory.extend(rows)
        self._spill()
        return self._bound()

    def _spill(self) -> None:
        """What waits in memory, into the file when it takes it."""
        if not self.memory and not self.set_aside:
            return
        if not self._open():
            return
        assert self.db is not None
        try:
            with self.db:  # one transaction: all of it, or nothing
                self.db.executemany(
                    "INSERT INTO pending (row) VALUES (?)", [(_dumps(r),) for r in self.memory]
                )
                self.db.executemany(
                    "INSERT INTO quarantine (set_aside_at, reason, row) VALUES (?, ?, ?)",
                    [(utcnow().isoformat(), why, _dumps(r)) for r, why in self.set_aside],
                )
        except sqlite3.Error as e:
            self._failed(e)
            return
        if self.trouble is not None:
            log.info("log: the pending file is written again (%d answers from memory)", len(self.memory))
        self.in_file += len(self.memory)
        self.memory.clear()
        self.set_aside.clear()
        self.trouble = None

    def _bound(self) -> int:
        over = self.count - self.limit
        if over <= 0:
            return 0
        from_file = min(over, self.in_file)
        if from_file and self.db is not None:
            try:
                with self.db:
                    self.db.execute(
                        "DELETE FROM pending WHERE seq IN (SELECT seq FROM pending ORDER BY seq LIMIT ?)",
                        (from_file,),
                    )
                self.in_file -= from_file
            except sqlite3.Error as e:
                self._failed(e)
        for _ in range(min(self.count - self.limit, len(self.memory))):
            self.memory.popleft()
        return over

    def head(self, n: int) -> list[Entry]:
        """The `n` oldest rows (the file's, then those in memory), oldest first."""
        entries: list[Entry] = []
        if self.in_file and self.db is not None:
            try:
                found = self.db.execute("SELECT seq, row FROM pending ORDER BY seq LIMIT ?", (n,)).fetchall()
            except sqlite3.Error as e:
                self._failed(e)
                return []
            entries = [(seq, _loads(row)) for seq, row in found]
        if not self.in_file:
            entries = [(None, row) for row in list(self.memory)[:n]]
        return entries

    def remove(self, entries: list[Entry]) -> bool:
        """Forget `entries`, a prefix of `head` (written or set aside); False when the file
        could not be changed (they stay, and are written again: the insert skips them)."""
        seqs = [seq for seq, _ in entries if seq is not None]
        if seqs and self.db is not None:
            try:
                with self.db:
                    gone = self.db.execute("DELETE FROM pending WHERE seq <= ?", (max(seqs),)).rowcount
            except sqlite3.Error as e:
                self._failed(e)
                return False
            self.in_file -= gone
        for _ in range(len(entries) - len(seqs)):
            self.memory.popleft()
        return True

    def quarantine(self, row: dict, reason: str) -> None:
        """Set aside a row the database refused: kept (in the file when it can be written), counted."""
        self.set_aside.append((row, reason))
        self.quarantined += 1
        self._spill()

    def close(self) -> None:
        self._spill()
        if self.memory:
            log.warning(
                "log: %d answers still in memory at exit (the pending file cannot be written)",
                len(self.memory),
            )
        if self.db is not None:
            self.db.close()


def _dumps(row: dict) -> str:
    # ASCII: a lone surrogate that slipped through is kept as an escape, never an encoding error.
    return json.dumps(row, default=_iso)


def _loads(text: str) -> dict:
    row = json.loads(text)
    row["asked_at"] = datetime.fromisoformat(row["asked_at"])
    return row


def _iso(value):
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(type(value).__name__)


class ConversationLog:
    """Answers go to a bounded in-memory queue (microseconds on the request's path), then one
    writer thread puts them in the database; while it is down, frozen or locked they wait in
    a file (`Pending`) and are written once it answers again. Nothing here can hold a request
    for more than `CALL_TIMEOUT` seconds."""

    def __init__(self, url: str, days: int = 90, pending_path: Path | None = None):
        self.engine = make_engine(url)
        self.days = days
        self._salt = os.urandom(32)  # per process: a client hash never leads back to an address
        self._queue: queue.Queue[dict | None] = queue.Queue(MAX_QUEUED)
        self._recent: OrderedDict[str, str | None] = OrderedDict()  # id -> collection
        self._recent_lock = threading.Lock()
        self._closed = False
        self.pending = Pending(pending_path or _default_pending(self.engine))
        self.dropped = 0  # answers lost past the bounds (queue full, pending file full)
        self.problem: str | None = None  # why the database is not written to, while it is not
        self._migrated = False
        self._migrate_lock = threading.Lock()
        self._retry_at = 0.0
        self._backoff = RETRY_MIN
        self._writes = Calls(1, "log-writer-db")  # the writer's calls, one at a time
        self.calls = Calls(4, "log-db")  # votes and reports
        self._last_purge = 0.0
        try:  # a database that is there at start is ready at once; one that is not, later
            self._writes.call(self._start, timeout=STARTUP_TIMEOUT)
        except Unavailable as e:
            self._failed(e)
        self._writer = threading.Thread(target=self._write_loop, name="conversation-log", daemon=True)
        self._writer.start()

    def _start(self) -> None:
        self._migrate()
        self.purge()
        self._last_purge = time.monotonic()

    def _migrate(self) -> None:
        with self._migrate_lock:
            if not self._migrated:
                migrate(self.engine)
                self._migrated = True

    # --- answers -------------------------------------------------------------------------

    def client_hash(self, client: str | None) -> str | None:
        if not client:
            return None
        day = utcnow().strftime("%Y-%m-%d")
        return hmac.new(self._salt, f"{day}|{client}".encode(), hashlib.sha256).hexdigest()[:16]

    def record(
        self,
        answer,
        question: str,
        client: str | None = None,
        route: str = "/ask",
        collection: str | None = None,
    ) -> None:
        """Queue one answer (a `bot.schema.Answer`); costs microseconds on the request's path.
        `collection`: None for the default one."""
        row = {
            "id": answer.id,
            "asked_at": utcnow(),
            "question": question.strip(),
            "status": answer.status,
            "confidence": answer.confidence,
            "answer": answer.answer,
            "sources": [
                {
                    "n": c.n,
                    "source": c.source,
                    "page": c.page,
                    "char_start": c.char_start,
                    "char_end": c.char_end,
                }
                for c in answer.citations
            ],
            "timings_ms": dict(answer.timings_ms),
            "total_ms": answer.timings_ms.get("total"),
            "index_version": answer.index.version if answer.index else None,
            "client": self.client_hash(client),
            "route": route,
            "collection": collection,
        }
        with self._recent_lock:
            self._recent[answer.id] = collection
            if len(self._recent) > RECENT_IDS:
                self._recent.popitem(last=False)
        try:
            self._queue.put_nowait(row)
        except queue.Full:  # the writer cannot even reach its file: count it, never wait
            self.dropped += 1
            log.warning("log queue full: one answer not logged (%d so far)", self.dropped)

    def _write_loop(self) -> None:
        while True:
            try:
                row = self._queue.get(timeout=RETRY_MIN if self.pending.count else None)
            except queue.Empty:
                row, batch = (), []
            else:
                batch = [row]
            while batch and len(batch) < 500:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            rows = [r for r in batch if r is not None]
            try:
                if rows:  # behind those already waiting, or written now
                    left = rows if self.pending.count else self._write(rows)
                    if left:
                        self._keep(left)
                elif self.pending.memory:  # the pending file's disk may have room again
                    self.pending.add([])
                if self.pending.count and time.monotonic() >= self._retry_at:
                    self._drain()
                if self.problem is None and time.monotonic() - self._last_purge > PURGE_EVERY:
                    self._last_purge = time.monotonic()
                    self._writes.call(self.purge)
            except Exception:  # the log must never take the service down
                log.exception("conversation log writer")
            finally:
                for _ in batch:
                    self._queue.task_done()
            if None in batch:
                return

    def _write(self, rows: list[dict]) -> list[dict]:
        """Write `rows` to the database; returns those it could not write now (an outage: the
        reason is kept). A batch the database refuses is written row by row, and a row refused
        on its own is set aside (`Pending.quarantine`): the rows behind it are still written."""
        try:
            if not self._migrated:  # whatever fails here is the schema's, never a row's
                try:
                    self._writes.call(self._migrate)
                except Rejected as e:
                    raise Unavailable(str(e)) from e
            self._writes.call(self._insert, rows)
        except Rejected as e:
            if len(rows) == 1:
                self._set_aside(rows[0], e)
            else:
                for i, row in enumerate(rows):
                    if self._write([row]):
                        return rows[i:]
        except Unavailable as e:
            self._failed(e)
            return rows
        self.problem, self._backoff = None, RETRY_MIN
        return []

    def _set_aside(self, row: dict, error: Exception) -> None:
        self.pending.quarantine(row, str(error))
        log.warning(
            "log: answer %s refused by the database (%s), set aside (%d so far)",
            row.get("id"),
            error,
            self.pending.quarantined,
        )

    def _insert(self, rows: list[dict]) -> None:
        rows = [{"collection": None} | row for row in rows]  # rows queued before 0002 have none
        with self.engine.begin() as db:
            db.execute(_insert_new(self.engine.dialect.name), rows)

    def _keep(self, rows: list[dict]) -> None:
        dropped = self.pending.add(rows)
        if dropped:
            self.dropped += dropped
            log.warning("log: %d pending answers over %d, the oldest dropped", dropped, self.pending.limit)

    def _drain(self) -> None:
        """Write what waits (pending file, then memory), oldest first, while the database answers."""
        while self.pending.count:
            entries = self.pending.head(500)
            if not entries:
                return
            left = self._write([row for _, row in entries])
            if not self.pending.remove(entries[: len(entries) - len(left)]) or left:
                return
        log.info("log: the database answers again, pending answers written")

    def _failed(self, error: Exception) -> None:
        if self.problem is None:
            log.warning("log database unavailable (%s): answers wait in the pending file", error)
        self.problem = str(error) or type(error).__name__
        self._retry_at = time.monotonic() + self._backoff
        self._backoff = min(self._backoff * 2, RETRY_MAX)

    def status(self) -> str | None:
        """None when the log is written as answers come; else why not, in a few words."""
        reasons = []
        if self.problem is not None:
            reasons.append(f"log database unavailable ({self.problem}); {self.pending.count} answers pending")
        if self.pending.memory:
            reasons.append(
                f"log pending file not writable ({self.pending.trouble or 'disk full?'}): "
                f"{len(self.pending.memory)} answers kept in memory (at most {self.pending.limit}), "
                "written once there is room"
            )
        return "; ".join(reasons) or None

    def counts(self) -> dict[str, int]:
        """For `/health` and the metrics: answers waiting (of which in memory), set aside, lost."""
        return {
            "pending": self.pending.count,
            "in_memory": len(self.pending.memory),
            "quarantined": self.pending.quarantined,
            "dropped": self.dropped,
        }

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every queued answer is written (or kept in the pending file); False
        when `timeout` ran out first."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._queue.all_tasks_done:
            while self._queue.unfinished_tasks:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self._queue.all_tasks_done.wait(left)
        return True

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self._queue.put(None, timeout=5)
        except queue.Full:
            pass
        self._writer.join(timeout=10)
        self.engine.dispose()
        if not self._writer.is_alive():
            self.pending.close()

    def purge(self) -> int:
        """Delete answers and votes older than the retention period."""
        cutoff = utcnow() - timedelta(days=self.days)
        with self.engine.begin() as db:
            gone = db.execute(delete(answers).where(answers.c.asked_at < cutoff)).rowcount
            db.execute(delete(feedback).where(feedback.c.updated_at < cutoff))
        return gone

    # --- feedback ------------------------------------------------------------------------

    def knows(self, answer_id: str) -> bool:
        return self.collection_of(answer_id) is not False

    def collection_of(self, answer_id: str) -> str | None | bool:
        """The collection an answer was given in (None: the default one); False when unknown."""
        with self._recent_lock:
            if answer_id in self._recent:
                return self._recent[answer_id]
        with self.engine.connect() as db:
            row = db.execute(select(answers.c.collection).where(answers.c.id == answer_id)).first()
        return False if row is None else row[0]

    def vote(
        self,
        answer_id: str,
        rating: int,
        comment: str | None,
        may_vote: Callable[[str | None], bool] | None = None,
    ) -> bool:
        """Record (or change) the vote on an answer; False when no such answer was given, or
        `may_vote(its collection)` says no (told the same way: the answer stays unknown).
        Returns only once the vote is committed."""
        self._migrate()
        collection = self.collection_of(answer_id)
        if collection is False or (may_vote is not None and not may_vote(collection)):
            return False
        now = utcnow()
        change = (
            update(feedback)
            .where(feedback.c.answer_id == answer_id)
            .values(rating=rating, comment=comment, updated_at=now)
        )
        try:
            with self.engine.begin() as db:
                if not db.execute(change).rowcount:
                    db.execute(
                        insert(feedback).values(
                            answer_id=answer_id,
                            rating=rating,
                            comment=comment,
                            created_at=now,
                            updated_at=now,
                        )
                    )
        except IntegrityError:  # two first votes at once: the other one inserted, this one updates
            with self.engine.begin() as db:
                db.execute(change)
        return True


def _insert_new(dialect: str):
    """INSERT that skips rows already there: a batch written just as its call timed out is
    written again from the pending file."""
    if dialect == "postgresql":
        return postgresql.insert(answers).on_conflict_do_nothing(index_elements=["id"])
    if dialect == "sqlite":
        return sqlite.insert(answers).on_conflict_do_nothing(index_elements=["id"])
    return insert(answers)


def _default_pending(engine: Engine) -> Path | None:
    """Next to a SQLite log; in memory otherwise (the server passes a file in its data folder)."""
    database = engine.url.database
    if engine.dialect.name == "sqlite" and database not in (None, "", ":memory:"):
        return Path(database).with_name(Path(database).name + ".pending")
    return None
