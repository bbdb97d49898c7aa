"""The OpenAI Chat Completions request that `/v1` reads (`bot.api.routes.chat`); what it sends
is in `bot.schema`, its errors in `bot.errors`.

Only what the routes read is modelled; a field OpenAI defines that changes the
answer and that this server cannot honour (`tools`, `n > 1`, `logprobs`, images…) is
refused with `unsupported_parameter`, never ignored. Fields that only tune sampling
(`temperature`, `max_tokens`…) are accepted and have no effect: the answer is extractive.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

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
