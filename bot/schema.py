"""The one JSON answer contract shared by the CLI (`ask --json`), `POST /ask` and the widget."""

from __future__ import annotations

import uuid
from typing import Literal

from pydantic import BaseModel, Field


class Passage(BaseModel):
    """A ranked passage, with the evidence from each retriever that put it there."""

    rank: int
    chunk_id: str
    title: str
    source: str
    url: str | None = None
    page: int | None = None
    headings: list[str] = []
    text: str
    char_start: int
    char_end: int
    score: float = Field(description="Fused score (higher is better).")
    dense_rank: int | None = None
    dense_score: float | None = None
    bm25_rank: int | None = None
    bm25_score: float | None = None


class Citation(BaseModel):
    """A verbatim quote: `quote == stored_text[char_start:char_end]` of document `source`."""

    n: int
    title: str
    source: str
    url: str | None = None
    page: int | None = None
    chunk_id: str
    char_start: int
    char_end: int
    quote: str
    score: float


class ShortAnswer(BaseModel):
    """The name, date, number or place the question asks for, inside citation `n`:
    `text == stored_text[char_start:char_end]` of that citation's document."""

    text: str
    n: int
    char_start: int
    char_end: int


class IndexInfo(BaseModel):
    version: str
    model: str
    chunks: int
    documents: int = 0


class Answer(BaseModel):
    id: str = Field(
        default_factory=lambda: str(uuid.uuid4()),
        description="This answer's id, for `POST /feedback` and the operator's log.",
    )
    status: Literal["answered", "no_answer"]
    answer: str = Field(description="Answer text; each [n] refers to citation n.")
    confidence: float = Field(
        0.0, ge=0.0, le=1.0,
        description="The reader's probability that its best sentence answers; no_answer below the threshold.",
    )
    short_answer: ShortAnswer | None = Field(
        None, description="The person, organisation, date, number or place asked for, when one is found."
    )
    citations: list[Citation] = []
    passages: list[Passage] = []
    timings_ms: dict[str, float] = {}
    index: IndexInfo | None = None


class Turn(BaseModel):
    role: Literal["user", "assistant"]
    content: str = Field(max_length=8000)
