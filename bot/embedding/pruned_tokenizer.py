"""The e5 tokenizer, loaded in milliseconds: a Unigram model over the pieces a text can use.

`Tokenizer.from_file(tokenizer.json)` takes about a second here, nearly all of it building
the trie of the 250,002 pieces (`models.Unigram(...)` alone: 0.85 s), which a short-lived
`alliance-bot ask` paid for one 16-token question. The segmentation of a text only ever
looks at pieces that are substrings of its pre-tokenized words, so a Unigram model holding
those pieces (same scores, plus the lowest-scored piece, which sets the penalty of an
unknown character) gives the same tokens. The pieces are kept sorted in a memory-mapped
numpy array written once beside tokenizer.json, found with one `searchsorted`; the
normaliser, pre-tokenizer, special tokens and template are tokenizer.json's own, loaded
from a copy without the vocabulary. Large batches (an ingest) use the full tokenizer,
loaded once. tests/embedding/test_pruned_tokenizer.py checks both give the same ids.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer, models

from bot.embedding import derived

FOLDER = "pruned-tokenizer"
FORMAT = 1
# Tokens of the fixed head of every pruned vocabulary, in this order: the special tokens
# keep the same ids in every pruned model (the added tokens and the template refer to them).
SPECIALS = ("<s>", "<pad>", "</s>", "<unk>", "<mask>")
SPECIAL_SPLIT = re.compile("|".join(map(re.escape, SPECIALS)))
# Past this many characters in one call, the full tokenizer is cheaper than pruning.
MAX_PRUNED_CHARS = 20_000


@dataclass(frozen=True)
class Encoded:
    """What callers read of a `tokenizers.Encoding`, with the full vocabulary's ids."""

    ids: list[int]
    tokens: list[str]
    offsets: list[tuple[int, int]]
    attention_mask: list[int]


def write_pruned_files(model_dir: Path) -> Path:
    """Write `model_dir/pruned-tokenizer/` from tokenizer.json (once, atomically)."""
    source = model_dir / "tokenizer.json"

    def fill(work: Path) -> dict:
        spec = json.loads(source.read_text(encoding="utf-8"))
        vocab = spec["model"]["vocab"]
        pieces = [p for p, _ in vocab]
        scores = np.array([s for _, s in vocab], np.float64)
        head = [pieces.index(s) for s in SPECIALS]
        if spec["model"].get("byte_fallback") or spec["model"]["unk_id"] != head[SPECIALS.index("<unk>")]:
            raise ValueError(f"{source}: not the e5 Unigram tokenizer this module prunes")
        # The skeleton: tokenizer.json with only the special pieces, at local ids 0..4.
        spec["model"]["vocab"] = [vocab[i] for i in head]
        spec["model"]["unk_id"] = SPECIALS.index("<unk>")
        for token in spec["added_tokens"]:
            token["id"] = SPECIALS.index(token["content"])
        for special in spec["post_processor"].get("special_tokens", {}).values():
            special["ids"] = [SPECIALS.index(t) for t in special["tokens"]]
        order = np.argsort(np.array(pieces), kind="stable")
        np.save(work / "pieces.npy", np.array(pieces)[order])
        np.save(work / "ids.npy", order.astype(np.int32))
        np.save(work / "scores.npy", scores)
        (work / "skeleton.json").write_text(json.dumps(spec, ensure_ascii=False), encoding="utf-8")
        lowest = int(np.argmin(scores))
        return {"head": head, "lowest": lowest, "lowest_piece": pieces[lowest]}

    derived.write(model_dir / FOLDER, source, fill, format=FORMAT)
    return model_dir / FOLDER


def _meta(model_dir: Path) -> dict | None:
    """The pruned files' description if they are there and made from this tokenizer.json."""
    return derived.current(model_dir / FOLDER, model_dir / "tokenizer.json", format=FORMAT)


def load_tokenizer(model_dir: Path, max_length: int):
    """The model's tokenizer: pruned when its files are there or can be written, else the
    full one (a read-only cache made by an older version)."""
    if _meta(model_dir) is None:
        try:
            write_pruned_files(model_dir)
        except (OSError, ValueError):
            pass
    meta = _meta(model_dir)
    if meta is None:
        return _full(model_dir, max_length)
    return PrunedTokenizer(model_dir, meta, max_length)


def _full(model_dir: Path, max_length: int) -> Tokenizer:
    tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    tokenizer.enable_truncation(max_length)
    tokenizer.no_padding()
    return tokenizer


class PrunedTokenizer:
    """`encode_batch` as `tokenizers.Tokenizer`'s, over a vocabulary pruned for each call."""

    def __init__(self, model_dir: Path, meta: dict, max_length: int):
        folder = model_dir / FOLDER
        self.model_dir, self.max_length = model_dir, max_length
        self.pieces = np.load(folder / "pieces.npy", mmap_mode="r")
        self.ids = np.load(folder / "ids.npy", mmap_mode="r")
        self.scores = np.load(folder / "scores.npy", mmap_mode="r")
        self.head = [int(i) for i in meta["head"]]
        self.lowest, self.lowest_piece = int(meta["lowest"]), meta["lowest_piece"]
        self.longest = self.pieces.dtype.itemsize // 4  # numpy's str: 4 bytes a character
        self.skeleton = Tokenizer.from_str((folder / "skeleton.json").read_text(encoding="utf-8"))
        self.skeleton.enable_truncation(max_length)
        self.skeleton.no_padding()
        self._lock = threading.Lock()  # the skeleton's model is swapped for each call
        self._full: Tokenizer | None = None

    def encode_batch(self, texts: list[str]) -> list[Encoded]:
        if sum(map(len, texts)) > MAX_PRUNED_CHARS:
            return [_plain(e) for e in self.full.encode_batch(texts)]
        with self._lock:
            local_to_global = self._prune(texts)
            encodings = self.skeleton.encode_batch(texts)
        return [
            Encoded(
                ids=[int(local_to_global[i]) for i in e.ids],
                tokens=e.tokens,
                offsets=e.offsets,
                attention_mask=e.attention_mask,
            )
            for e in encodings
        ]

    def encode(self, text: str) -> Encoded:
        return self.encode_batch([text])[0]

    @property
    def full(self) -> Tokenizer:
        if self._full is None:
            self._full = _full(self.model_dir, self.max_length)
        return self._full

    def _prune(self, texts: list[str]) -> np.ndarray:
        """Install in the skeleton a Unigram model of the pieces these texts can use; the
        global id of each of its local ids."""
        normalizer, pre_tokenizer = self.skeleton.normalizer, self.skeleton.pre_tokenizer
        candidates: set[str] = set()
        for text in texts:
            # Special tokens in a text split it before normalisation: read the parts too.
            for part in {text, *SPECIAL_SPLIT.split(text)}:
                for word, _ in pre_tokenizer.pre_tokenize_str(normalizer.normalize_str(part)):
                    n = len(word)
                    for start in range(n):
                        for end in range(start + 1, min(n, start + self.longest) + 1):
                            candidates.add(word[start:end])
        found: dict[int, str] = {}
        if candidates:
            wanted = np.array(sorted(candidates))
            at = np.searchsorted(self.pieces, wanted)
            inside = at < len(self.pieces)
            hit = np.zeros(len(wanted), bool)
            hit[inside] = self.pieces[at[inside]] == wanted[inside]
            found = dict(zip(self.ids[at[hit]].tolist(), wanted[hit].tolist(), strict=True))
        fixed = {**dict(zip(self.head, SPECIALS, strict=True)), self.lowest: self.lowest_piece}
        chosen = [*fixed.items(), *sorted((i, p) for i, p in found.items() if i not in fixed)]
        vocab = [(piece, float(self.scores[i])) for i, piece in chosen]
        self.skeleton.model = models.Unigram(vocab, SPECIALS.index("<unk>"), False)
        return np.array([i for i, _ in chosen], np.int64)

    def enable_truncation(self, max_length: int) -> None:
        self.max_length = max_length
        self.skeleton.enable_truncation(max_length)
        if self._full is not None:
            self._full.enable_truncation(max_length)

    def no_padding(self) -> None:
        """Never padded already: each batch is padded by its caller."""

    # The full tokenizer's other methods (a caller that needs more than encode_batch).
    def __getattr__(self, name: str):
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self.full, name)


def _plain(e) -> Encoded:
    return Encoded(ids=e.ids, tokens=e.tokens, offsets=e.offsets, attention_mask=e.attention_mask)
