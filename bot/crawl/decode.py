"""A response body's Content-Encoding, decoded in bounded steps.

A 490-byte brotli body can decode to 300 MB: decoded in one call, it is in memory before
any size limit is checked. Here each step gives at most `STEP` bytes, so the reader can
stop as soon as its limit is passed and memory stays near that limit whatever the ratio.
One coding at most (gzip, deflate, br, zstd): a stacked one ("gzip, gzip") only multiplies
the ratio, and no server needs it, so it is refused, like a coding not known here.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterable, Iterator

import brotli
import zstandard

STEP = 64 * 1024  # decoded bytes at most per step
ZSTD_WINDOW = 8 * 1024 * 1024  # the window an HTTP zstd decoder must accept (RFC 9659)
ACCEPT_ENCODING = "gzip, deflate, br, zstd"

UNKNOWN = "compression non prise en charge ({coding}) — unsupported content encoding"
STACKED = "compressions empilées ({codings}) : refusées — stacked content encodings refused"


class EncodingRefused(Exception):
    """A Content-Encoding not decoded here: `str(exc)` is the reason, French then English."""


class CorruptBody(Exception):
    """A body its Content-Encoding cannot decode (truncated or not what it says)."""


def _gzip(raw: Iterable[bytes]) -> Iterator[bytes]:
    yield from _zlib(raw, 16 + zlib.MAX_WBITS)


def _deflate(raw: Iterable[bytes]) -> Iterator[bytes]:
    # "deflate" is zlib-wrapped by the RFC, raw deflate from some servers: the header tells.
    chunks = iter(raw)
    first = next(chunks, b"")
    wrapped = len(first) >= 2 and first[0] & 0x0F == 8 and (first[0] << 8 | first[1]) % 31 == 0
    yield from _zlib(_chain(first, chunks), zlib.MAX_WBITS if wrapped else -zlib.MAX_WBITS)


def _chain(first: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    yield first
    yield from rest


def _zlib(raw: Iterable[bytes], wbits: int) -> Iterator[bytes]:
    inflate = zlib.decompressobj(wbits)
    for data in raw:
        while True:
            out = inflate.decompress(data, STEP)
            if out:
                yield out
            if inflate.eof:
                # gzip members may follow one another (RFC 1952); after the last, nothing is read
                if wbits > zlib.MAX_WBITS and inflate.unused_data:
                    data, inflate = inflate.unused_data, zlib.decompressobj(wbits)
                    continue
                return
            data = inflate.unconsumed_tail
            if not data and len(out) < STEP:  # a full step may leave output inside zlib: ask again
                break


def _brotli(raw: Iterable[bytes]) -> Iterator[bytes]:
    decoder = brotli.Decompressor()
    for data in raw:
        # Past the limit the output waits inside the decoder: asked for with no input,
        # until a call gives nothing (the buffer may end a little past STEP).
        out = decoder.process(data, output_buffer_limit=STEP)
        while out:
            yield out
            out = decoder.process(b"", output_buffer_limit=STEP)
        if decoder.is_finished():
            return


class _Reader:
    """The raw chunks as a file for zstandard's stream reader."""

    def __init__(self, raw: Iterable[bytes]) -> None:
        self.chunks = iter(raw)

    def read(self, size: int = -1) -> bytes:
        return next(self.chunks, b"")


def _zstd(raw: Iterable[bytes]) -> Iterator[bytes]:
    decoder = zstandard.ZstdDecompressor(max_window_size=ZSTD_WINDOW)
    yield from decoder.read_to_iter(_Reader(raw), read_size=STEP, write_size=STEP)


def _identity(raw: Iterable[bytes]) -> Iterator[bytes]:
    yield from raw


DECODERS: dict[str, Callable[[Iterable[bytes]], Iterator[bytes]]] = {
    "gzip": _gzip,
    "x-gzip": _gzip,
    "deflate": _deflate,
    "br": _brotli,
    "zstd": _zstd,
}


def decoder_for(codings: list[str]) -> Callable[[Iterable[bytes]], Iterator[bytes]]:
    """The decoder of a Content-Encoding (its values, in order), or EncodingRefused."""
    named = [c.strip().lower() for c in codings if c.strip() and c.strip().lower() != "identity"]
    if len(named) > 1:
        raise EncodingRefused(STACKED.format(codings=", ".join(named)[:100]))
    if not named:
        return _identity
    if named[0] not in DECODERS:
        raise EncodingRefused(UNKNOWN.format(coding=named[0][:50]))
    return DECODERS[named[0]]


Decoder = Callable[[Iterable[bytes]], Iterator[bytes]]


def decoded(raw: Iterable[bytes], decoder: Decoder) -> Iterator[bytes]:
    """The body in steps of at most STEP bytes (raw chunks as they come when not encoded);
    CorruptBody when it does not decode."""
    steps = decoder(raw)
    try:
        yield from steps
    except (zlib.error, brotli.error, zstandard.ZstdError) as exc:
        raise CorruptBody(type(exc).__name__) from exc
    finally:
        steps.close()
