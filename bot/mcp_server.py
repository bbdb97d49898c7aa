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
from urllib.parse import parse_qs, quote, unquote

import anyio
from mcp.server.lowlevel.helper_types import ReadResourceContents
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ResourceNotFoundError, ToolError
from mcp.types import CallToolResult, ListResourcesResult, TextContent
from mcp.types import Resource as MCPResource
from pydantic import BaseModel, Field

from bot import __version__
from bot.answer.assistant import Assistant
from bot.answer.snapshot import Snapshot
from bot.errors import IndexUnavailable, UserError, internal_error, public, unknown_collection
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

    def served(self, request: Any, collection: str | None) -> tuple[Assistant, Snapshot] | None:
        """The `collection` a tool or resource names, as the client who sent `request` may
        read it (raises `unknown_collection` otherwise), resolved once: its assistant and the
        snapshot the call reads. None: the server's own. Blocking."""
        if collection is not None:
            raise unknown_collection()
        return None

    def named(self, collection: str | None) -> str | None:
        """How a collection is named in resource URIs: None for the default one."""
        return collection

    def listed(self, request: Any) -> list[str | None]:
        """The collections whose documents are listed as resources to the client who sent
        `request` (None: the server's own)."""
        return [None]


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


def document_uri(source: str, collection: str | None = None) -> str:
    """`alliance://documents/<source>`; a collection other than the default one is named in
    the query (`?collection=interne`), so that the default's URIs stay what they were."""
    uri = SCHEME + quote(source, safe="")
    return f"{uri}?collection={collection}" if collection else uri


def parse_uri(uri: str) -> tuple[str, str | None] | None:
    """(source, collection) of a document URI, None when it is none."""
    if not uri.startswith(SCHEME):
        return None
    path, _, query = uri[len(SCHEME) :].partition("?")
    collection = None
    if query:
        found = parse_qs(query).get("collection")
        if found is None or len(found) != 1 or len(parse_qs(query)) != 1:
            return None
        collection = found[0]
    return unquote(path), collection


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

    async def _handle_list_resources(self, ctx: Any, params: Any) -> ListResourcesResult:
        # The SDK's handler calls `list_resources()` without the request: here who asks
        # decides which collections' documents are listed.
        return ListResourcesResult(resources=await self.list_resources(ctx.request))

    async def list_resources(self, request: Any = None) -> list[MCPResource]:
        return await anyio.to_thread.run_sync(self._resources, request)

    def _resources(self, request: Any) -> list[MCPResource]:
        out = []
        for collection in self.hooks.listed(request):
            try:
                _, snapshot = self._taken(request, collection)
            except IndexUnavailable:
                if collection is None:
                    raise
                continue  # created, never ingested: no document yet
            out += [
                MCPResource(
                    uri=document_uri(d.source, collection),
                    name=d.source if collection is None else f"{collection}/{d.source}",
                    title=d.title,
                    mime_type="text/plain",
                    description=d.url,
                )
                for d in snapshot.index.documents.values()
            ]
        return out

    async def read_resource(self, uri: Any, context: Context | None = None) -> Iterable[ReadResourceContents]:
        text = str(uri)
        unknown = ResourceNotFoundError(f"Document inconnu / unknown document: {text[:200]}")
        parsed = parse_uri(text)
        if parsed is None:
            raise unknown
        source, collection = parsed
        request = context.request_context.request if context is not None else None
        try:  # a collection the client may not read is an unknown document, like a missing one
            _, snapshot = await anyio.to_thread.run_sync(self._taken, request, collection)
        except UserError:
            raise unknown from None
        doc = snapshot.index.documents.get(source)
        if doc is None:
            raise unknown
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
                assistant, snapshot = await anyio.to_thread.run_sync(self._tool_taken, ctx, collection)
                answer = await anyio.to_thread.run_sync(
                    assistant.ask, question, None, history or [], snapshot
                )
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
                assistant, snapshot = await anyio.to_thread.run_sync(self._tool_taken, ctx, collection)
                found = await anyio.to_thread.run_sync(assistant.search, query, k, (), snapshot)
            except Exception as e:
                raise tool_error(e) from e
            return SearchResult(passages=found.passages)

        @self.tool(description="Les documents indexés, avec l'URI de ressource de chacun.")
        async def list_documents(
            ctx: Context,
            collection: Annotated[str | None, Field(description=COLLECTION, max_length=40)] = None,
        ) -> DocumentList:
            try:
                _, snapshot = await anyio.to_thread.run_sync(self._tool_taken, ctx, collection)
            except Exception as e:
                raise tool_error(e) from e
            named = self.hooks.named(collection)
            return DocumentList(
                documents=[
                    DocumentEntry(
                        uri=document_uri(d.source, named), source=d.source, title=d.title, url=d.url
                    )
                    for d in snapshot.index.documents.values()
                ]
            )

    def _taken(self, request: Any, collection: str | None) -> tuple[Assistant, Snapshot]:
        """The call's collection resolved once: its assistant and the snapshot the call reads."""
        if (served := self.hooks.served(request, collection)) is not None:
            return served
        assistant = self.get_assistant()
        return assistant, assistant.snapshot

    def _tool_taken(self, ctx: Context, collection: str | None) -> tuple[Assistant, Snapshot]:
        return self._taken(ctx.request_context.request, collection)
