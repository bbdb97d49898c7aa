"""`/widget.js`: the script other sites embed, served from memory with a content ETag.

The ETag is a hash of the file's bytes, not of its mtime, so every replica of one release
answers the same ETag and a browser's revalidation gets `304 Not Modified` from any of them.
The URL carries no version (sites paste it once), so the script cannot be `immutable`: a
browser keeps it for `WIDGET_MAX_AGE` seconds, then asks again with `If-None-Match`. A new
deploy therefore reaches every visitor within that hour; until then they run the old script
against the new server, which the unchanged answer contract keeps working.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from fastapi import Request, Response

WIDGET_MAX_AGE = 3600


class StaticAsset:
    """One file read once at start-up (it ships with the package and changes only on deploy)."""

    def __init__(self, path: Path, media_type: str, max_age: int) -> None:
        self.body = path.read_bytes()
        self.media_type = media_type
        # Weak: the compression layer sends gzip/br/zstd variants of the same bytes.
        self.etag = 'W/"' + hashlib.sha256(self.body).hexdigest()[:20] + '"'
        self.headers = {
            "ETag": self.etag,
            "Cache-Control": f"public, max-age={max_age}",
            "Access-Control-Allow-Origin": "*",
        }

    def response(self, request: Request) -> Response:
        if _matches(request.headers.get("if-none-match", ""), self.etag):
            return Response(status_code=304, headers=self.headers)
        return Response(self.body, media_type=self.media_type, headers=self.headers)


def _matches(header: str, etag: str) -> bool:
    """RFC 9110 weak comparison: `W/` is ignored on both sides; `*` matches anything."""
    tags = [t.strip().removeprefix("W/") for t in header.split(",") if t.strip()]
    return "*" in tags or etag.removeprefix("W/") in tags
