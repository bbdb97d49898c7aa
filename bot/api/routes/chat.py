"""`/v1`: the OpenAI Chat Completions protocol over the same answer path as `/ask`.

The last `user` message is the question, earlier `user`/`assistant` messages its history,
`system` messages are read and set aside. The reply's content is the answer with its [n]
markers, then its numbered sources; the citations, short answer and answer id travel in the
extra field `alliance`. Errors here use OpenAI's body (`bot.errors.body(error, openai=True)`).
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Iterator
from typing import Annotated

from fastapi import APIRouter, Body, Request
from fastapi.responses import StreamingResponse
from pydantic import ValidationError

from bot.answer.events import final_answer
from bot.api.access import Caller, Served, readable, resolve
from bot.api.chat_schema import IGNORED, ChatMessage, ChatRequest
from bot.api.deps import ApiKey, CallerDep, Limited, Record, RecordDep, ServicesDep, SettingsDep
from bot.api.responses import V1, openai_error_responses
from bot.api.services import Services
from bot.api.sources import source_link
from bot.config import Settings
from bot.errors import IndexUnavailable, invalid_request, model_not_found, unsupported
from bot.errors import body as error_body
from bot.schema import (
    MAX_TURNS,
    Answer,
    AnswerData,
    AskRequest,
    ChatCompletion,
    Choice,
    ModelCard,
    ModelList,
    ResponseMessage,
    Usage,
)

ROUTE = V1 + "/chat/completions"
HISTORY_TURNS = MAX_TURNS  # the last turns kept, as `/ask` takes them (only the previous question is used)
# What a message may carry besides `role` and `content`: a participant's `name` changes nothing.
# Anything else (`tool_calls`, `function_call`, `tool_call_id`, `audio`…) is tool use or media,
# which this server refuses rather than ignores.
MESSAGE_FIELDS_IGNORED = frozenset({"name"})
_WORDS = re.compile(r"\w+|[^\w\s]")

router = APIRouter(prefix=V1, tags=["openai"], dependencies=[ApiKey])


def corpus_id(settings) -> str:
    return f"alliance-bot:{settings.operator.corpus_name or settings.paths.documents_dir.name}"


def model_id(settings: Settings, served: Served) -> str:
    """`alliance-bot:<corpus>@<index version>`; a request may name any version of the corpus.
    The default collection keeps the corpus's id; another is `alliance-bot:<collection>`."""
    return f"{collection_model(settings, served.name)}@{served.snapshot.info().version}"


def collection_model(settings: Settings, collection: str | None) -> str:
    if collection is None or collection == settings.collections.default:
        return corpus_id(settings)
    return f"alliance-bot:{collection}"


@router.get("/models", response_model=ModelList, responses=openai_error_responses(401, 500, 503))
def list_models(services: ServicesDep, caller: CallerDep, settings: SettingsDep) -> ModelList:
    """One model a collection the key may read (the default collection alone, without
    collections): each answered from its current index."""
    cards = []
    for entry in readable(services.library, caller):
        try:
            served = resolve(services.library, caller, entry.name)
        except IndexUnavailable:
            if entry.default:
                raise
            continue  # created, never ingested: nothing to answer from yet
        created = int(served.snapshot.index.created)
        cards.append(ModelCard(id=model_id(settings, served), created=created))
    return ModelList(data=cards)


def served_model(services: Services, caller: Caller, asked: str) -> Served:
    """The collection the request's `model` names, as this caller may read it; else the same
    404 `model_not_found`, whether it does not exist or may not be read."""
    settings = services.settings
    wanted = asked.split("@")[0]
    for entry in readable(services.library, caller):
        if wanted == collection_model(settings, entry.name):
            return resolve(services.library, caller, entry.name)
    default = resolve(services.library, caller, None)  # a 404 too when the default is private
    raise model_not_found(model_id(settings, default))


_STREAM_DOC = (
    "With `stream: true`: server-sent `chat.completion.chunk` events (`data: {...}`), the last "
    "one with `finish_reason` and the extra field `alliance`, then `data: [DONE]`."
)


@router.post(
    "/chat/completions",
    response_model=ChatCompletion,
    dependencies=[Limited],
    responses={
        200: {"content": {"text/event-stream": {}}, "description": _STREAM_DOC},
        **openai_error_responses(400, 401, 404, 408, 413, 429, 500, 503),
    },
)
def chat_completions(
    body: Annotated[ChatRequest, Body()],
    services: ServicesDep,
    caller: CallerDep,
    settings: SettingsDep,
    record: RecordDep,
    request: Request,
):
    """Answer the last user message with cited sources, in OpenAI's chat completion shape;
    `model` chooses the collection (`GET /v1/models`)."""
    checked = parse_question(body)
    served = served_model(services, caller, body.model)
    model = requested_model(body.model, model_id(settings, served))
    prompt_tokens = sum(count_tokens(_text(m, i)) for i, m in enumerate(body.messages))
    # 4xx before any stream; the snapshot taken once for this request (`served`)
    events = served.assistant.events(checked.question, None, checked.history, served.snapshot)
    base = public_base(request, settings)
    named = None if served.name == settings.collections.default else served.name  # in source links
    if not body.stream:
        answer = final_answer(events)
        record(checked.question, answer, ROUTE, collection=served.name)
        content = answer.answer + sources_text(answer, base, named)
        return ChatCompletion(
            id=f"chatcmpl-{uuid.uuid4().hex}",
            created=int(time.time()),
            model=model,
            choices=[Choice(message=ResponseMessage(content=content))],
            usage=usage(prompt_tokens, content),
            alliance=answer_data(answer),
        )
    include_usage = bool(body.stream_options and body.stream_options.include_usage)
    chunks = stream_chunks(events, record, checked.question, model, base, prompt_tokens, include_usage, named)
    return StreamingResponse(
        chunks,
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


def stream_chunks(
    events,
    record: Record,
    question: str,
    model: str,
    base: str,
    prompt_tokens: int,
    include_usage: bool,
    collection: str | None = None,
) -> Iterator[str]:
    head = {
        "id": f"chatcmpl-{uuid.uuid4().hex}",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
    }

    def chunk(delta: dict, finish: str | None = None, **extra) -> str:
        data = (
            head
            | {"choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}]}
            | extra
        )
        return f"data: {json.dumps(data, ensure_ascii=False)}\n\n"

    yield chunk({"role": "assistant", "content": ""})
    streamed = []
    for event in events:
        if event.name == "delta":
            streamed.append(event.data["text"])
            yield chunk({"content": event.data["text"]})
        elif event.name == "replace":  # the LLM's reply failed midway: say so, then the answer that stands
            notice = REPLACED + event.data["text"]
            streamed.append(notice)
            yield chunk({"content": notice}, alliance_replace=event.data)
        elif event.answer is not None:
            answer = event.answer
            record(question, answer, ROUTE, collection=collection)
            tail = sources_text(answer, base, collection)
            if tail:
                yield chunk({"content": tail})
            yield chunk({}, "stop", alliance=answer_data(answer).model_dump())
            if include_usage:
                data = head | {
                    "choices": [],
                    "usage": usage(prompt_tokens, "".join(streamed) + tail).model_dump(),
                }
                yield f"data: {json.dumps(data, ensure_ascii=False)}\n\n"
            yield "data: [DONE]\n\n"
        elif event.error is not None:  # the stream has started: the error travels in-band
            yield f"data: {json.dumps(error_body(event.error, openai=True), ensure_ascii=False)}\n\n"


def parse_question(body: ChatRequest) -> AskRequest:
    """The question and history, checked by `/ask`'s own request model (same limits). Every
    message is read, whatever its role: what it cannot carry is refused with its own index."""
    refuse_unsupported(body)
    turns = []
    for i, message in enumerate(body.messages):
        if message.role in ("tool", "function"):
            raise unsupported(f"messages[{i}].role", "pas d'outils", "no tools")
        refuse_message_fields(message, i)
        text = _text(message, i)
        if message.role in ("user", "assistant"):
            turns.append({"role": message.role, "content": text})
    if not turns or turns[-1]["role"] != "user":
        raise invalid_request("messages", "le dernier message doit venir de « user »")
    *history, last = turns
    for turn in history:
        if turn["role"] == "assistant":  # the sources appended to our own replies are not history
            turn["content"] = turn["content"].split(SOURCES_HEADING)[0][:8000]
    try:
        return AskRequest.model_validate({"question": last["content"], "history": history[-HISTORY_TURNS:]})
    except ValidationError as e:
        first = e.errors()[0]
        field = "messages" if first["loc"][0] == "history" else f"messages[{len(body.messages) - 1}].content"
        raise invalid_request(field, str(first.get("msg", "")).split("\n")[0][:200]) from None


def refuse_message_fields(message: ChatMessage, i: int) -> None:
    """`tool_calls` on an assistant turn was accepted and silently ignored: tool use is refused."""
    for name, value in (message.model_extra or {}).items():
        if name in MESSAGE_FIELDS_IGNORED or value is None:
            continue
        shown = name if name.isascii() and name.isprintable() and len(name) <= 60 else "?"
        raise unsupported(
            f"messages[{i}].{shown}",
            "ce serveur ne répond qu'en texte cité, sans outils",
            "this server only answers with cited text, without tools",
        )


def refuse_unsupported(body: ChatRequest) -> None:
    for name in body.model_extra or {}:
        if name not in IGNORED:
            shown = name if name.isascii() and name.isprintable() and len(name) <= 60 else "?"
            raise unsupported(
                shown,
                "ce serveur ne répond qu'en texte cité, sans outils",
                "this server only answers with cited text, without tools",
            )
    if body.n not in (None, 1):
        raise unsupported("n", "une seule réponse par requête", "one answer per request")
    if body.logprobs:
        raise unsupported(
            "logprobs", "la réponse est extraite, pas échantillonnée", "the answer is extracted, not sampled"
        )


def _text(message: ChatMessage, i: int = 0) -> str:
    if message.content is None or isinstance(message.content, str):
        return message.content or ""
    parts = []
    for part in message.content:
        if part.type != "text" or part.text is None:
            raise unsupported(
                f"messages[{i}].content", "texte seulement, ni image ni son", "text only, no images or audio"
            )
        parts.append(part.text)
    return "\n".join(parts)


def requested_model(asked: str, current: str) -> str:
    corpus = current.split("@")[0]
    if asked == corpus or asked.split("@")[0] == corpus:
        return current
    raise model_not_found(current)


SOURCES_HEADING = "\n\nSources :\n"
# Chat clients cannot take back text they showed: a withdrawn LLM reply is followed by this and
# the extractive answer (the extra field `alliance_replace` carries it alone, for clients that can).
REPLACED = "\n\n(Réponse retirée : elle citait mal ses sources. Réponse extraite des documents :)\n\n"


def sources_text(answer: Answer, base: str, collection: str | None = None) -> str:
    """The numbered sources after the answer: title and the link to the quoted passage."""
    if not answer.citations:
        return ""
    lines = [
        f"[{c.n}] {c.title} — {source_link(base, c.source, c.char_start, c.char_end, collection)}"
        for c in answer.citations
    ]
    return SOURCES_HEADING + "\n".join(lines)


def public_base(request: Request, settings: Settings) -> str:
    """`ALLIANCE_PUBLIC_URL` when it is set, else the address the client used."""
    return (
        settings.operator.public_url if "public_url" in settings.model_fields_set else str(request.base_url)
    )


def answer_data(answer: Answer) -> AnswerData:
    return AnswerData(
        answer_id=answer.id,
        status=answer.status,
        confidence=answer.confidence,
        short_answer=answer.short_answer,
        citations=answer.citations,
    )


def count_tokens(text: str) -> int:
    return len(_WORDS.findall(text))


def usage(prompt_tokens: int, content: str) -> Usage:
    completion = count_tokens(content)
    return Usage(
        prompt_tokens=prompt_tokens, completion_tokens=completion, total_tokens=prompt_tokens + completion
    )


def document_v1(app, settings: Settings) -> None:
    """Two corrections to the generated schema. FastAPI documents a 422 `HTTPValidationError`
    on every route with a body; `/v1` answers a bad body with 400 in OpenAI's shape
    (documented on the route), so that entry goes. And `model` gets the pattern of the ids
    this server accepts (this corpus, any index version)."""
    build = app.openapi

    def openapi() -> dict:
        if app.openapi_schema is None:
            schema = build()
            for path, item in schema["paths"].items():
                if path.startswith(V1 + "/"):
                    for operation in item.values():
                        operation["responses"].pop("422", None)
            text = json.dumps(schema["paths"])
            components = schema.get("components", {}).get("schemas", {})
            for name in ("HTTPValidationError", "ValidationError"):
                if f'/{name}"' not in text and name in components:
                    del components[name]
            accepted = f"^({re.escape(corpus_id(settings))}|alliance-bot:[a-z0-9][a-z0-9_-]{{0,39}})(@.*)?$"
            components["ChatRequest"]["properties"]["model"]["pattern"] = accepted
        return app.openapi_schema

    app.openapi = openapi
