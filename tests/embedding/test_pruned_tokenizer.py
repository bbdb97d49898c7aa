"""The pruned tokenizer gives exactly the ids of the full tokenizer.json, loads in
milliseconds, and falls back to the full tokenizer when its files cannot be written."""

from __future__ import annotations

import random
import re
import shutil

import pytest
from tokenizers import Tokenizer

from bot.config import REPO_ROOT, Settings
from bot.embedding import pruned_tokenizer
from bot.embedding.pruned_tokenizer import FOLDER, PrunedTokenizer, load_tokenizer

ODD = [
    "",
    " ",
    "a  <s>  b",
    "<mask> x</s>",
    "<unk><pad>",
    "😀😀 ok 😀",
    "中文字符 日本語",
    "ﬁ œuvre Œ",
    "  lots   of    spaces  ",
    "x\u200by\u00a0z",
    "\u202eevil",
    "مرحبا بالعالم",
    "e\u0301\u0301 combining",
    "\t\ttab\nnew\r\n",
    "query: " + "Alliance Dynamique " * 400,  # past 512 tokens: truncated alike
]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    """A folder with the converted model's tokenizer.json only (what the module reads)."""
    from bot.embedding.build.cache import ensure_model

    built = ensure_model(Settings().embedding.cache)
    folder = tmp_path_factory.mktemp("model")
    shutil.copy2(built / "tokenizer.json", folder / "tokenizer.json")
    return folder


@pytest.fixture(scope="module")
def full(model_dir):
    tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    tokenizer.enable_truncation(512)
    return tokenizer


def texts() -> list[str]:
    documents = [p.read_text(encoding="utf-8") for p in sorted((REPO_ROOT / "documents").glob("*.md"))]
    sentences = [s for d in documents for s in re.split(r"(?<=[.!?])\s+", d)]
    rng = random.Random(0)
    alphabet = [(32, 127), (160, 0x3000), (0x1F300, 0x1F6FF)]
    noise = [
        "".join(chr(rng.randrange(*rng.choice(alphabet))) for _ in range(rng.randrange(1, 60)))
        for _ in range(300)
    ]
    return ["query: " + s for s in sentences] + ODD + noise


def test_same_ids_as_the_full_tokenizer(model_dir, full):
    pruned = load_tokenizer(model_dir, 512)
    assert isinstance(pruned, PrunedTokenizer)
    samples = texts()
    for text in samples:  # one at a time, as queries come
        expected = full.encode(text)
        got = pruned.encode_batch([text])[0]
        assert (got.ids, got.tokens, got.offsets) == (expected.ids, expected.tokens, expected.offsets), text
    batch = samples[:40]  # several texts share one pruned vocabulary
    assert [e.ids for e in pruned.encode_batch(batch)] == [e.ids for e in full.encode_batch(batch)]
    large = samples * 5  # past MAX_PRUNED_CHARS: the full tokenizer
    assert [e.ids for e in pruned.encode_batch(large)] == [e.ids for e in full.encode_batch(large)]


def test_a_question_never_reads_the_full_vocabulary(model_dir, monkeypatch):
    """What made `ask` slow: tokenizer.json's 250,002 pieces parsed and built into a trie
    (about 1 s of CPU). Once the pruned files exist, a question never does that."""
    load_tokenizer(model_dir, 512)  # the files exist from here on

    def full_tokenizer(*args):
        raise AssertionError("tokenizer.json was loaded whole")

    monkeypatch.setattr(Tokenizer, "from_file", full_tokenizer)
    monkeypatch.setattr(pruned_tokenizer.Tokenizer, "from_file", full_tokenizer)
    tokenizer = load_tokenizer(model_dir, 512)
    assert tokenizer.encode_batch(["query: Qui a lancé l'Alliance Dynamique ?"])[0].ids[:3] == [0, 41, 1294]


def test_stale_files_are_rewritten_and_a_read_only_cache_falls_back(model_dir, full, tmp_path, monkeypatch):
    copy = tmp_path / "model"
    copy.mkdir()
    shutil.copy2(model_dir / "tokenizer.json", copy / "tokenizer.json")
    load_tokenizer(copy, 512)
    with (copy / "tokenizer.json").open("a") as f:  # another tokenizer.json: stale pruned files
        f.write(" ")
    stamp_before = (copy / FOLDER / "stamp.json").read_text(encoding="utf-8")
    load_tokenizer(copy, 512)
    assert (copy / FOLDER / "stamp.json").read_text(encoding="utf-8") != stamp_before

    shutil.rmtree(copy / FOLDER)

    def read_only(model_dir):
        raise PermissionError(13, "Permission denied", str(model_dir))

    monkeypatch.setattr(pruned_tokenizer, "write_pruned_files", read_only)
    tokenizer = load_tokenizer(copy, 512)
    assert isinstance(tokenizer, Tokenizer)  # the full one, slower but right
    text = "query: Qui a lancé l'Alliance Dynamique ?"
    assert tokenizer.encode_batch([text])[0].ids == full.encode(text).ids
