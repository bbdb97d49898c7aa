"""The MCP server (`bot.mcp_server`) on the running API at `/mcp` (streamable HTTP, stateless,
JSON replies), behind the API's keys (`ALLIANCE_API_KEYS`), body limit and per-client rate
limit; each `ask` is logged like `/ask` and its answer id accepted by `POST /feedback`."""

from __future__ import annotations

import contextlib
from typing import Any

from fastapi import FastAPI
from mcp.server.mcpserver import Context
from mcp.server.transport_security import TransportSecuritySettings
from starlette.datastructures import Headers
from starlette.requests import Request

from bot.api.access import Caller, identify, readable, resolve
from bot.api.auth import check_key
from bot.api.responses import send_error
from bot.api.services import Services
from bot.errors import rate_limited
from bot.mcp_server import AllianceMCP, Hooks

PATH = "/mcp"


class HTTPHooks(Hooks):
    def __init__(self, services: Services):
        self.services = services

    def check(self, ctx: Context, payload: str) -> None:
        limiter = self.services.limiter
        if not limiter.enabled:
            return
        request = ctx.request_context.request
        client = request.client.host if isinstance(request, Request) and request.client else "unknown"
        wait = limiter.retry_after(client, payload.encode("utf-8", "replace"))
        if wait:
            raise rate_limited(wait)

    def record(self, ctx: Context, question: str, answer, collection: str | None = None) -> None:
        request = ctx.request_context.request
        if isinstance(request, Request):
            client = request.client.host if request.client else None
            self.services.record(question, answer, PATH, client, collection)

    def _caller(self, request: Any) -> Caller:
        authorization = request.headers.get("authorization", "") if isinstance(request, Request) else ""
        settings = self.services.settings
        return identify(authorization, self.services.keys, settings.operator.admin_token)

    def served(self, request: Any, collection: str | None):
        served = resolve(self.services.library, self._caller(request), collection)
        return served.assistant, served.snapshot

    def named(self, collection: str | None) -> str | None:
        return None if collection == self.services.library.default_name else collection

    def listed(self, request: Any) -> list[str | None]:
        """The documents of every collection this client may read, and of no other."""
        return [None if e.default else e.name for e in readable(self.services.library, self._caller(request))]


class KeyedEndpoint:
    """An ASGI endpoint: the key first (401 in the API's error shape), then the SDK."""

    def __init__(self, keys: list[str], handle, services: Services | None = None):
        self.keys = keys
        self.handle = handle
        self.services = services  # its keys file's keys are accepted too

    async def __call__(self, scope, receive, send) -> None:
        headers = Headers(scope=scope)
        error = check_key(headers, self.keys)
        if error is not None and self.services is not None:
            caller = identify(headers.get("authorization", ""), self.services.keys, None)
            error = None if caller.key is not None else error
        if error is not None:
            return await send_error(send, error)
        await self.handle(scope, receive, send)


def install_mcp(app: FastAPI, services: Services) -> contextlib.AbstractAsyncContextManager:
    """Adds the route; returns what the app's lifespan must run (the SDK's session manager)."""
    server = AllianceMCP(services.current_assistant, HTTPHooks(services))
    # The host check of the SDK is for servers that trust whoever reaches localhost; this one
    # answers any host, like /ask, and guards /mcp with its keys.
    server.streamable_http_app(
        stateless_http=True,
        json_response=True,
        transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
    )
    manager = server.session_manager
    app.add_route(
        PATH,
        KeyedEndpoint(services.settings.http.api_keys, manager.handle_request, services),
        methods=["GET", "POST", "DELETE"],
        include_in_schema=False,
    )
    return manager.run()
