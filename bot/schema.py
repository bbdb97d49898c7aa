"""The one JSON answer contract shared by the CLI (`ask --json`), `POST /ask` and the widget,
and every other body the API sends: its routes' responses, `/v1`'s (OpenAI's shapes) and the
errors'."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, Field, StrictInt


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
        0.0,
        ge=0.0,
        le=1.0,
        description="The reader's probability that its best sentence answers; no_answer below the threshold.",
    )
    short_answer: ShortAnswer | None = Field(
        None, description="The person, organisation, date, number or place asked for, when one is found."
    )
    citations: list[Citation] = []
    passages: list[Passage] = []
    timings_ms: dict[str, float] = {}
    index: IndexInfo | None = None
    collection: str | None = Field(
        None, description="The collection the question was read in (`?collection=`, `--collection`)."
    )


# The limits of a question's companions, the same on every way in (`bot.answer.question`).
MAX_TURNS = 20  # history turns a question may carry
MAX_TURN_CHARS = 8000  # characters in one history turn
MAX_K = 50  # passages one question may ask for


def unreadable(text: str) -> str | None:
    """Why `text` is not text that can be stored and searched (a NUL, a lone surrogate), in
    English for the validators' messages; None when it is. PostgreSQL refuses NUL in a text
    column, and lone surrogates ("\\ud800", valid JSON) cannot be encoded at all."""
    if "\x00" in text:
        return "NUL character"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "unencodable text"
    return None


def _encodable(text: str) -> str:
    """Refused up front (422) by the request models."""
    if (why := unreadable(text)) == "NUL character":
        raise ValueError("caractère nul / NUL character")
    if why is not None:
        raise ValueError("texte illisible (caractère non codable en UTF-8) / unencodable text")
    return text


Text = Annotated[str, AfterValidator(_encodable)]


class Turn(BaseModel):
    role: Literal["user", "assistant"]
    content: Text = Field(max_length=MAX_TURN_CHARS)


class AskRequest(BaseModel):
    """The body of `/ask`, `/ask/stream` and `/search`."""

    question: Text = Field(description="La question, en français de préférence (2 000 caractères au plus).")
    k: StrictInt | None = Field(None, ge=1, le=MAX_K, description="Passages to retrieve (an integer).")
    history: list[Turn] = Field(
        [],
        max_length=MAX_TURNS,
        description="Previous turns, for follow-ups such as « Et en quelle année ? ».",
    )


class ErrorResponse(BaseModel):
    """Every error the API sends: a stable code, a French message and its English version."""

    code: str = Field(description="Stable machine-readable code, e.g. `rate_limited`.")
    detail: str = Field(description="What is wrong and what to do, in French.")
    detail_en: str = Field(description="The same in English.")


class NotReady(ErrorResponse):
    """`/health` while the index cannot be used."""

    status: Literal["not_ready"] = "not_ready"


# The API's other routes. No docstrings on these: they would change the documented schema.


class DocumentInfo(BaseModel):
    source: str
    title: str
    url: str | None
    chunks: int
    ingested_at: str


class AdminDocument(DocumentInfo):
    managed: bool  # uploaded through /admin: may be deleted there


class LogCounts(BaseModel):
    pending: int = Field(description="Answers waiting for the log's database (pending file and memory).")
    in_memory: int = Field(
        description="Of those, held in memory: the pending file cannot be written (disk full)."
    )
    quarantined: int = Field(
        description="Answers the database refused (a NUL…), set aside in the pending file's "
        "`quarantine` table."
    )
    dropped: int = Field(description="Answers lost past the bounds since the server started.")


class CollectionInfo(BaseModel):
    name: str
    visibility: Literal["public", "private"]
    default: bool
    documents: int
    chunks: int


class Health(BaseModel):
    status: str = Field(
        description="`ready`, or `degraded` while an optional store (the log's "
        "database, Redis) is unreachable: questions are still answered."
    )
    index: IndexInfo
    reasons: list[str] = Field(default_factory=list, description="Why `degraded`, in a few words each.")
    log: LogCounts | None = Field(None, description="The conversation log's queue, when the log is on.")
    collection: str | None = Field(None, description="The default collection, whose index `index` describes.")
    collections: list[str] = Field(
        default_factory=list,
        description="The collections the caller may read (public ones, and those its key names).",
    )
    store: str | None = Field(
        None,
        description="Which store the index is read from: `folder` or `postgresql` (ALLIANCE_STORE_URL).",
    )


class FeedbackAck(BaseModel):
    answer_id: str
    rating: Literal["up", "down"]
    saved: bool = True


class IngestResult(BaseModel):
    added: list[str]
    updated: list[str]
    removed: list[str]
    skipped: list[dict]
    chunks: int
    version: str
    seconds: float


class CrawlResult(BaseModel):
    fetched: list[str]
    unchanged: list[str]
    added: list[str]
    updated: list[str]
    removed: list[str]
    kept: list[str]
    skipped: list[dict]
    not_visited: int
    requests: int
    chunks: int
    version: str
    seconds: float


# `/v1`: OpenAI's Chat Completions shapes (the request is `bot.api.chat_schema.ChatRequest`).


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str = "alliance-bot"


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]


class Usage(BaseModel):
    """Word and punctuation counts, not a model tokenizer's: approximate (README)."""

    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class AnswerData(BaseModel):
    """The extra field `alliance`: what a client that knows this server can render."""

    answer_id: str = Field(description="The answer's id in the conversation log, for `POST /feedback`.")
    status: Literal["answered", "no_answer"]
    confidence: float
    short_answer: ShortAnswer | None = None
    citations: list[Citation] = []


class ResponseMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str


class Choice(BaseModel):
    index: int = 0
    message: ResponseMessage
    finish_reason: Literal["stop"] = "stop"
    logprobs: None = None


class ChatCompletion(BaseModel):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[Choice]
    usage: Usage
    alliance: AnswerData = Field(description="Citations, short answer and answer id (not OpenAI's).")


class OpenAIError(BaseModel):
    message: str = Field(description="What is wrong and what to do, in French.")
    message_en: str = Field(description="The same in English.")
    type: str
    param: str | None = None
    code: str | None = None


class OpenAIErrorResponse(BaseModel):
    """Every error of `/v1`, in OpenAI's shape."""

    error: OpenAIError
