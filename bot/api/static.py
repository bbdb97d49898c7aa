"""`/widget.js`: the script other sites embed, served from memory, compressed once at start-up,
with a content ETag.

The ETag is a hash of the file's bytes, not of its mtime, so every replica of one release
answers the same ETag and a browser's revalidation gets `304 Not Modified` from any of them.
The URL carries no version (sites paste it once), so the script cannot be `immutable`: a
browser keeps it for `WIDGET_MAX_AGE` seconds, then asks again with `If-None-Match`. A new
deploy therefore reaches every visitor within that hour; until then they run the old script
against the new server, which the unchanged answer contract keeps working.
"""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

import brotli
import zstandard
from fastapi import Request, Response

WIDGET_MAX_AGE = 3600

# Best levels, paid once per process (about 0.1 s for widget.js); smallest result first.
_CODECS = {
    "br": lambda b: brotli.compress(b, quality=11),
    "zstd": lambda b: zstandard.ZstdCompressor(level=19).compress(b),
    "gzip": lambda b: gzip.compress(b, compresslevel=9, mtime=0),
}


class StaticAsset:
    """One file read once at start-up (it ships with the package and changes only on deploy)."""

    def __init__(self, path: Path, media_type: str, max_age: int, compress: bool = True) -> None:
        self.body = path.read_bytes()
        self.media_type = media_type
        self.encoded = {name: codec(self.body) for name, codec in _CODECS.items()} if compress else {}
        # Weak: the br, zstd and gzip variants carry the same ETag as the bytes they encode.
        self.etag = 'W/"' + hashlib.sha256(self.body).hexdigest()[:20] + '"'
        self.headers = {
            "ETag": self.etag,
            "Cache-Control": f"public, max-age={max_age}",
            "Access-Control-Allow-Origin": "*",
            "Vary": "Accept-Encoding",
        }

    def response(self, request: Request) -> Response:
        if _matches(request.headers.get("if-none-match", ""), self.etag):
            return Response(status_code=304, headers=self.headers)
        accepted = _accepted(request.headers.get("accept-encoding", ""))
        for name, body in self.encoded.items():
            if name in accepted:  # the compression middleware leaves an encoded body alone
                headers = self.headers | {"Content-Encoding": name}
                return Response(body, media_type=self.media_type, headers=headers)
        return Response(self.body, media_type=self.media_type, headers=self.headers)


def _matches(header: str, etag: str) -> bool:
    """RFC 9110 weak comparison: `W/` is ignored on both sides; `*` matches anything."""
    tags = [t.strip().removeprefix("W/") for t in header.split(",") if t.strip()]
    return "*" in tags or etag.removeprefix("W/") in tags


def _accepted(header: str) -> set[str]:
    """Codings the client takes (`q=0` refuses one)."""
    out = set()
    for part in header.lower().split(","):
        name, *params = (p.strip() for p in part.split(";"))
        q = next((p[2:] for p in params if p.startswith("q=")), "1")
        try:
            if float(q) > 0:
                out.add(name)
        except ValueError:
            continue
    return out
