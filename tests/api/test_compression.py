"""Compression and caching on the real server (`live_server`): widget.js, pages, JSON and the
answer stream, negotiated by Accept-Encoding; widget.js revalidated by its ETag."""

from __future__ import annotations

import gzip
import zlib

import brotli
import httpx
import pytest
import zstandard

from bot.config import REPO_ROOT

WIDGET_JS = REPO_ROOT / "bot" / "widget" / "widget.js"
QUESTION = "Qui a lancé l'Alliance Dynamique ?"
DECODE = {
    "gzip": gzip.decompress,
    "br": brotli.decompress,
    "zstd": lambda b: zstandard.ZstdDecompressor().decompressobj().decompress(b),
}


def raw(method: str, url: str, **kwargs) -> tuple[httpx.Response, bytes]:
    """The response and its body as sent on the wire (not decoded)."""
    with httpx.stream(method, url, timeout=60, **kwargs) as r:
        return r, b"".join(r.iter_raw())


@pytest.mark.parametrize("encoding", ["gzip", "br", "zstd"])
def test_widget_script_is_compressed_and_small(live_server: str, encoding: str) -> None:
    r, body = raw("GET", live_server + "/widget.js", headers={"Accept-Encoding": encoding})
    assert r.status_code == 200 and r.headers["content-encoding"] == encoding
    assert "Accept-Encoding" in r.headers["vary"]
    assert DECODE[encoding](body) == WIDGET_JS.read_bytes()
    print(f"\nwidget.js with {encoding}: {len(body):,} bytes on the wire ({WIDGET_JS.stat().st_size:,} raw)")
    assert len(body) <= 15 * 1024


def test_widget_script_identity_and_refused_codings(live_server: str) -> None:
    r, body = raw("GET", live_server + "/widget.js", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in r.headers and body == WIDGET_JS.read_bytes()
    r, _ = raw("GET", live_server + "/widget.js", headers={"Accept-Encoding": "br;q=0, zstd;q=0, gzip"})
    assert r.headers["content-encoding"] == "gzip"


def test_widget_script_etag_and_304(live_server: str) -> None:
    first = httpx.get(live_server + "/widget.js")
    etag = first.headers["etag"]
    assert etag.startswith('W/"') and first.headers["cache-control"] == "public, max-age=3600"
    assert first.headers["access-control-allow-origin"] == "*"
    again = httpx.get(live_server + "/widget.js", headers={"If-None-Match": etag, "Accept-Encoding": "gzip"})
    assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == etag
    assert "content-encoding" not in again.headers
    # Strong form, a list, or *: still the same script. Another tag: the whole script.
    for header in (etag.removeprefix("W/"), f'"x", {etag}', "*"):
        assert httpx.get(live_server + "/widget.js", headers={"If-None-Match": header}).status_code == 304
    stale = httpx.get(live_server + "/widget.js", headers={"If-None-Match": 'W/"0123"'})
    assert stale.status_code == 200 and stale.content == WIDGET_JS.read_bytes()


def test_pages_and_json_are_compressed_small_bodies_are_not(live_server: str) -> None:
    r, body = raw(
        "GET",
        live_server + "/sources/documents/historique.md?start=0&end=40",
        headers={"Accept-Encoding": "gzip"},
    )
    assert r.headers["content-encoding"] == "gzip" and b"<mark" in gzip.decompress(body)
    r, body = raw("GET", live_server + "/", headers={"Accept-Encoding": "br"})
    assert r.headers["content-encoding"] == "br" and b"widget.js" in brotli.decompress(body)
    r, body = raw(
        "POST", live_server + "/ask", json={"question": QUESTION}, headers={"Accept-Encoding": "gzip"}
    )
    assert r.headers["content-encoding"] == "gzip"
    assert httpx.Response(200, content=gzip.decompress(body)).json()["status"] == "answered"
    r, body = raw("GET", live_server + "/health", headers={"Accept-Encoding": "gzip"})
    assert len(body) < 512 and "content-encoding" not in r.headers  # not worth it
    r = httpx.post(live_server + "/ask", json={"question": QUESTION})  # httpx decodes: contract unchanged
    assert set(r.json()) >= {"status", "answer", "citations", "passages", "timings_ms", "index"}


def test_stream_is_compressed_and_flushed_event_by_event(live_server: str) -> None:
    """Each server-sent event leaves in a sync-flushed gzip segment (ending 00 00 ff ff), so a
    client can decode it at once: nothing waits for the end of the stream."""
    chunks: list[bytes] = []
    with httpx.stream(
        "POST",
        live_server + "/ask/stream",
        json={"question": QUESTION},
        headers={"Accept-Encoding": "gzip"},
        timeout=60,
    ) as r:
        assert r.headers["content-encoding"] == "gzip"
        assert r.headers["content-type"].startswith("text/event-stream")
        chunks = list(r.iter_raw())
    body = b"".join(chunks)
    text = gzip.decompress(body).decode()
    events = text.count("\n\n")
    assert events >= 3 and "event: done" in text
    assert body.count(b"\x00\x00\xff\xff") >= events  # one flush an event
    # The first event decodes from the first flushed segment alone.
    first = body[: body.index(b"\x00\x00\xff\xff") + 4]
    assert zlib.decompressobj(31).decompress(first).decode().startswith("event: passages")
