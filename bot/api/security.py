"""The headers that every page is sent with: a strict Content-Security-Policy, never framed,
`nosniff` (the pages themselves are drawn by bot/html.py)."""

from __future__ import annotations

import base64
import hashlib

from bot.html import SCROLL_JS

_SCROLL_HASH = base64.b64encode(hashlib.sha256(SCROLL_JS.encode()).digest()).decode()
# Styles stay inline (the pages' <style>, the widget's shadow-DOM <style>): CSS cannot run script.
CSP = (
    f"default-src 'none'; script-src 'self' 'sha256-{_SCROLL_HASH}'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; "
    "frame-ancestors 'none'"
)
# FastAPI's own /docs and /redoc pages load their viewer from its CDN and configure it in an
# inline script; they show the schema only, never stored or visitor text.
SCHEMA_PAGES = frozenset({"/docs", "/docs/oauth2-redirect", "/redoc"})
SCHEMA_CSP = (
    "default-src 'none'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
    "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net https://fonts.googleapis.com; "
    "font-src https://fonts.gstatic.com; img-src 'self' data: https://fastapi.tiangolo.com; "
    "connect-src 'self'; worker-src blob:; base-uri 'none'; frame-ancestors 'none'"
)


def page_headers(policy: str) -> list[tuple[bytes, bytes]]:
    return [
        (b"content-security-policy", policy.encode()),
        (b"x-frame-options", b"DENY"),
        (b"referrer-policy", b"no-referrer"),
    ]


PAGE_HEADERS, SCHEMA_PAGE_HEADERS = page_headers(CSP), page_headers(SCHEMA_CSP)


class SecurityHeaders:
    """`nosniff` on every response; on HTML ones, the strict policy above: no script but ours,
    never inside another site's frame."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def with_headers(message):
            if message["type"] == "http.response.start":
                headers = [
                    (k, v) for k, v in message.get("headers", ()) if k.lower() != b"x-content-type-options"
                ]
                headers.append((b"x-content-type-options", b"nosniff"))
                kind = dict((k.lower(), v) for k, v in headers).get(b"content-type", b"")
                if kind.startswith(b"text/html"):
                    headers += SCHEMA_PAGE_HEADERS if scope.get("path") in SCHEMA_PAGES else PAGE_HEADERS
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)
