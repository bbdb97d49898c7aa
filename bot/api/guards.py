"""A pure ASGI middleware that reads each request body itself, under a size limit and a
deadline, before the application sees it.

`Content-Length` alone is not a limit (a chunked body has none), so the bytes are counted
as they arrive: past `max_bytes` the request is answered 413 without reading further, and a
body that takes longer than `timeout` seconds to arrive is answered 408. What is buffered is
at most `max_bytes`; the application then receives it as one message.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from bot.api.responses import send_error
from bot.errors import too_large, too_slow

log = logging.getLogger("bot.api")


class BodyGuard:
    def __init__(
        self,
        app,
        max_bytes: int,
        timeout: float,
        override: Callable[[dict], tuple[int, float] | None] | None = None,
    ):
        """`override(scope)`: other (max bytes, timeout) for some requests (document uploads)."""
        self.app = app
        self.max_bytes = max_bytes
        self.timeout = timeout
        self.override = override

    def limits(self, scope) -> tuple[int, float]:
        other = self.override(scope) if self.override else None
        return other or (self.max_bytes, self.timeout)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        max_bytes, timeout = self.limits(scope)
        declared = _content_length(scope)
        if declared is not None and declared > max_bytes:
            return await send_error(send, too_large(max_bytes), scope.get("path", ""))
        try:
            async with asyncio.timeout(timeout):
                body, disconnect = await self._read(receive, max_bytes)
        except TooLarge:
            return await send_error(send, too_large(max_bytes), scope.get("path", ""))
        except TimeoutError:
            log.info("request body not received in %s s", timeout)
            return await send_error(send, too_slow(timeout), scope.get("path", ""))
        if disconnect is not None:
            return  # the client left: nobody to answer
        scope.setdefault("state", {})["body"] = body
        replayed = False

        async def replay():
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # afterwards: only http.disconnect can come

        await self.app(scope, replay, send)

    async def _read(self, receive, max_bytes: int) -> tuple[bytes, dict | None]:
        parts, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return b"", message
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > max_bytes:
                raise TooLarge
            parts.append(chunk)
            if not message.get("more_body", False):
                return b"".join(parts), None


class TooLarge(Exception):
    pass


def _content_length(scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            return int(value) if value.isdigit() and len(value) < 20 else None
    return None
