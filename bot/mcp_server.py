"""The assistant as an MCP server (the official `mcp` SDK): tools `ask`, `search` and
`list_documents`, and each indexed document as a resource `alliance://documents/<source>`.

Two transports share this one server: stdio (`alliance-bot mcp`, for desktop hosts) and
streamable HTTP on the running API at `/mcp` (`bot.api.mcp_http`, behind the API's keys and
rate limit). `ask` goes through the API's own answer path (`bot.answer.events`): same retrieval,
reader, refusal and citations; errors come back as MCP tool errors with the API's messages.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Annotated, Any
from urllib.parse import quote, unquote

import anyio
from mcp.server.lowlevel.helper_types import ReadResourceContents
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ResourceNotFoundError, ToolError
from mcp.types import CallToolResult, TextContent
from mcp.types import Resource as MCPResource
from pydantic import BaseModel, Field

from bot import __version__
from bot.answer.assistant import Assistant
from bot.errors import UserError, internal_error, public, unknown_collection
from bot.schema import Answer, Citation, Passage, ShortAnswer, Turn

SCHEME = "alliance://documents/"
COLLECTION = "La collection interrogée (omise : la collection par défaut)."


class AskResult(BaseModel):
    answer_id: str = Field(description="The answer's id in the conversation log (`POST /feedback`).")
    status: str = Field(description="answered | no_answer")
    answer: str = Field(description="Answer text; each [n] refers to citation n.")
    confidence: float
    short_answer: ShortAnswer | None = None
    citations: list[Citation] = []


class SearchResult(BaseModel):
    passages: list[Passage]


class DocumentEntry(BaseModel):
    uri: str
    source: str
    title: str
    url: str | None = None


class DocumentList(BaseModel):
    documents: list[DocumentEntry]


class Hooks:
    """What the transport adds around a question: a rate limit and the conversation log.
    stdio has neither by default (one local user); HTTP passes the API's."""

    def check(self, ctx: Context, payload: str) -> None:
        """Raises a `UserError` when this client must wait."""

    def record(self, ctx: Context, question: str, answer: Answer, collection: str | None = None) -> None:
        pass

    def assistant(self, ctx: Context | None, collection: str | None) -> Assistant | None:
        """The assistant of the `collection` a tool names, as this client may read it (raises
        `unknown_collection` otherwise); None: the server's own. Blocking."""
        if collection is not None:
            raise unknown_collection()
        return None

    def resources_listed(self) -> bool:
        """Whether the default collection's documents are listed as resources (the listing
        has no request at hand to tell who asks)."""
        return True


class LoggedHooks(Hooks):
    """stdio: no rate limit (one local user), answers in the conversation log when it is on."""

    def __init__(self, settings):
        self.log = None
        if settings.operator.log:
            import atexit

            from bot.operator.log import ConversationLog

            self.log = ConversationLog(settings.operator.log_url, settings.operator.log_days)
            atexit.register(self.log.close)

    def record(self, ctx: Context, question: str, answer: Answer, collection: str | None = None) -> None:
        if self.log is not None:
            self.log.record(answer, question, None, "mcp-stdio", collection)


def document_uri(source: str) -> str:
    return SCHEME + quote(source, safe="")


def tool_error(exc: Exception) -> ToolError:
    """The API's French and English messages, as an MCP tool error."""
    error = public(exc) if isinstance(exc, UserError) else internal_error()
    return ToolError(f"{error.code}: {error.detail} / {error.detail_en}")


def render(answer: Answer) -> str:
    """The text a host shows: the answer, then its numbered quotes."""
    lines = [answer.answer]
    for c in answer.citations:
        lines.append(f"[{c.n}] {c.title} ({c.source}, {c.char_start}–{c.char_end}) : « {c.quote} »")
    return "\n\n".join(lines)


class AllianceMCP(MCPServer):
    """Resources listed from the served index at each request, so that an ingest shows."""

    def __init__(self, get_assistant: Callable[[], Assistant], hooks: Hooks | None = None):
        super().__init__(
            "alliance-bot",
            version=__version__,
            log_level="WARNING",
            instructions="Questions en français sur les documents indexés ; réponses citées "
            "(chaque [n] renvoie à une citation verbatim).",
        )
        self.get_assistant = get_assistant
        self.hooks = hooks or Hooks()
        self._add_tools()

    async def list_resources(self) -> list[MCPResource]:
        if not self.hooks.resources_listed():
            return []
        assistant = await anyio.to_thread.run_sync(self.get_assistant)
        return [
            MCPResource(
                uri=document_uri(d.source),
                name=d.source,
                title=d.title,
                mime_type="text/plain",
                description=d.url,
            )
            for d in assistant.index.documents.values()
        ]

    async def read_resource(self, uri: Any, context: Context | None = None) -> Iterable[ReadResourceContents]:
        text = str(uri)
        try:
            assistant = await anyio.to_thread.run_sync(self._assistant, context, None)
        except UserError:
            raise ResourceNotFoundError(f"Document inconnu / unknown document: {text[:200]}") from None
        doc = assistant.index.documents.get(unquote(text[len(SCHEME) :])) if text.startswith(SCHEME) else None
        if doc is None:
            raise ResourceNotFoundError(f"Document inconnu / unknown document: {text[:200]}")
        return [ReadResourceContents(content=doc.text, mime_type="text/plain")]

    def _add_tools(self) -> None:
        hooks = self.hooks

        @self.tool(
            description="Répond à une question sur les documents, avec citations verbatim ; "
            "refuse (status no_answer) quand les documents ne contiennent pas la réponse."
        )
        async def ask(
            question: str,
            ctx: Context,
            history: list[Turn] | None = None,
            collection: Annotated[str | None, Field(description=COLLECTION, max_length=40)] = None,
        ) -> Annotated[CallToolResult, AskResult]:
            try:
                hooks.check(ctx, question)
                assistant = await anyio.to_thread.run_sync(self._assistant, ctx, collection)
                answer = await anyio.to_thread.run_sync(assistant.ask, question, None, history or [])
            except Exception as e:
                raise tool_error(e) from e
            hooks.record(ctx, question, answer, collection)
            result = AskResult(
                answer_id=answer.id,
                status=answer.status,
                answer=answer.answer,
                confidence=answer.confidence,
                short_answer=answer.short_answer,
                citations=answer.citations,
            )
            return CallToolResult(
                content=[TextContent(type="text", text=render(answer))],
                structured_content=result.model_dump(mode="json"),
            )

        @self.tool(description="Passages classés (recherche dense + BM25), avec leur source et positions.")
        async def search(
            query: str,
            ctx: Context,
            k: Annotated[int, Field(ge=1, le=50)] = 5,
            collection: Annotated[str | None, Field(description=COLLECTION, max_length=40)] = None,
        ) -> SearchResult:
            try:
                hooks.check(ctx, query)
                assistant = await anyio.to_thread.run_sync(self._assistant, ctx, collection)
                found = await anyio.to_thread.run_sync(assistant.search, query, k)
            except Exception as e:
                raise tool_error(e) from e
            return SearchResult(passages=found.passages)

        @self.tool(description="Les documents indexés, avec l'URI de ressource de chacun.")
        async def list_documents(
            ctx: Context,
            collection: Annotated[str | None, Field(description=COLLECTION, max_length=40)] = None,
        ) -> DocumentList:
            try:
                assistant = await anyio.to_thread.run_sync(self._assistant, ctx, collection)
            except Exception as e:
                raise tool_error(e) from e
            return DocumentList(
                documents=[
                    DocumentEntry(uri=document_uri(d.source), source=d.source, title=d.title, url=d.url)
                    for d in assistant.index.documents.values()
                ]
            )

    def _assistant(self, ctx: Context | None, collection: str | None) -> Assistant:
        return self.hooks.assistant(ctx, collection) or self.get_assistant()
