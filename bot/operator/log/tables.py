"""The log's tables. Change them only together with a new migration in `migrations/versions/`."""

from __future__ import annotations

from sqlalchemy import JSON, Column, DateTime, Float, Index, MetaData, SmallInteger, String, Table, Text

metadata = MetaData()

# One row per answer given. No IP address: `client` is a salted hash that changes daily.
# Times are naive UTC.
answers = Table(
    "answers",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("asked_at", DateTime, nullable=False),
    Column("question", Text, nullable=False),
    Column("status", String(16), nullable=False),
    Column("confidence", Float),
    Column("answer", Text, nullable=False),
    Column("sources", JSON, nullable=False),  # cited: [{"n", "source", "page", "char_start", "char_end"}]
    Column("timings_ms", JSON, nullable=False),
    Column("total_ms", Float),
    Column("index_version", String(100)),
    Column("client", String(32)),
    Column("route", String(32)),
    Column("collection", String(40)),  # NULL: the default collection (migration 0002)
    Index("answers_by_time", "asked_at"),
)

# One vote per answer (changeable): written at once and durably, unlike the answer rows.
feedback = Table(
    "feedback",
    metadata,
    Column("answer_id", String(36), primary_key=True),
    Column("rating", SmallInteger, nullable=False),  # 1 = 👍, -1 = 👎
    Column("comment", Text),
    Column("created_at", DateTime, nullable=False),
    Column("updated_at", DateTime, nullable=False),
    Index("feedback_by_time", "updated_at"),
)
