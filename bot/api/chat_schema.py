"""The OpenAI Chat Completions shapes that `/v1` speaks (`bot.api.chat`), and its error body.

Only what the routes send and read is modelled; a field OpenAI defines that changes the
answer and that this server cannot honour (`tools`, `n > 1`, `logprobs`, images…) is
refused with `unsupported_parameter`, never ignored. Fields that only tune sampling
(`temperature`, `max_tokens`…) are accepted and have no effect: the answer is extractive.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from bot.errors import UserError
from bot.schema import Citation, ShortAnswer

# Accepted and without effect (README, "OpenAI-compatible API").
IGNORED = frozenset(
    {
        "temperature",
        "top_p",
        "max_tokens",
        "max_completion_tokens",
        "presence_penalty",
        "frequency_penalty",
        "seed",
        "stop",
        "user",
        "store",
        "metadata",
        "stream_options",
    }
)


# The schema documents what is answered; the models read wider, so that the rest is refused
# with a clear `unsupported_parameter` rather than a generic validation error.


class ContentPart(BaseModel):
    model_config = ConfigDict(extra="allow", json_schema_extra={"required": ["type", "text"]})
    type: str = Field(json_schema_extra={"enum": ["text"]})
    text: str | None = None


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: Literal["system", "developer", "user", "assistant", "tool", "function"] = Field(
        json_schema_extra={"enum": ["system", "developer", "user", "assistant"]}
    )
    content: str | list[ContentPart] | None = None


class StreamOptions(BaseModel):
    include_usage: bool = False


class ChatRequest(BaseModel):
    """OpenAI's request. The sampling fields are read and have no effect (`IGNORED`); unknown
    fields are collected and refused by name."""

    # Documented closed: another field is answered 400 `unsupported_parameter`, by name.
    model_config = ConfigDict(extra="allow", json_schema_extra={"additionalProperties": False})
    model: str = Field(description="The id from `GET /v1/models` (any index version of the corpus).")
    messages: list[ChatMessage] = Field(min_length=1, max_length=200)
    stream: bool = False
    stream_options: StreamOptions | None = None
    n: int | None = Field(None, description="1 only.", json_schema_extra={"minimum": 1, "maximum": 1})
    logprobs: bool | None = Field(None, description="false only.", json_schema_extra={"enum": [False, None]})
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    max_completion_tokens: int | None = None
    user: str | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    seed: int | None = None
    stop: str | list[str] | None = None
    store: bool | None = None
    metadata: dict[str, str] | None = None


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


_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    404: "invalid_request_error",
    408: "invalid_request_error",
    413: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
}


def openai_status(error: UserError) -> int:
    """OpenAI answers a bad request with 400 where the rest of this API says 422."""
    return 400 if error.status == 422 else error.status


def openai_error(error: UserError) -> dict[str, Any]:
    kind = _TYPES.get(error.status, "server_error" if error.status >= 500 else "invalid_request_error")
    body = OpenAIError(
        message=error.detail,
        message_en=error.detail_en,
        type=kind,
        param=getattr(error, "param", None),
        code=error.code,
    )
    return OpenAIErrorResponse(error=body).model_dump()


def unsupported(param: str, what_fr: str, what_en: str) -> UserError:
    error = UserError(
        "unsupported_parameter",
        f"Paramètre non pris en charge : « {param} » ({what_fr}). Retirez-le de la requête.",
        f"Unsupported parameter: '{param}' ({what_en}). Remove it from the request.",
        status=400,
    )
    error.param = param
    return error


def openai_error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    from bot.api.responses import error_responses

    out = error_responses(*statuses)
    for entry in out.values():
        entry["model"] = OpenAIErrorResponse
    return out
