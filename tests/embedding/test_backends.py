"""The embedding backends: each loads offline from a fresh cache, agrees with float32
torch within the fidelity bound, and an index refuses vectors that do not mix."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bot.config import DEFAULT_MODEL, REPO_ROOT, Settings
from bot.embedding import interchangeable, load_embedder
from bot.embedding.build.errors import ModelBuildError
from bot.embedding.build.onnx_export import ONNX_DIR, ONNX_MARKER, complete_export
from bot.errors import IndexUnavailable
from bot.index.store import Manifest, check_compatible

BACKENDS = ("torch", "onnx", "onnx-int8")


@pytest.fixture(scope="session")
def backends(built, e5_cache) -> dict:
    return {b: load_embedder(Settings(model_cache=e5_cache, embedding_backend=b).embedding) for b in BACKENDS}


@pytest.fixture(scope="session")
def texts(shared_dir) -> dict[str, list[str]]:
    """A small French and English sample of queries and passages (bench/fidelity.py has 1,222)."""

    def rows(path: Path, step: int, count: int) -> list[dict]:
        lines = path.read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines[::step][:count]]

    piaf, scifact = shared_dir / "bench" / "piaf_fr", shared_dir / "bench" / "scifact"
    return {
        "queries": [q["text"] for q in rows(piaf / "queries.jsonl", 97, 24)]
        + [q["text"] for q in rows(scifact / "queries.jsonl", 61, 6)],
        "passages": [f"{d['title']}\n{d['text']}" for d in rows(piaf / "corpus.jsonl", 53, 12)]
        + [f"{d['title']}\n{d['text'][:1500]}" for d in rows(scifact / "corpus.jsonl", 701, 6)],
    }


def test_each_backend_loads_offline_from_a_fresh_cache(built, backends):
    marker = complete_export(built)
    assert marker is not None
    assert set(marker["variants"]) == {"onnx", "onnx-int8"}
    for file in marker["variants"].values():
        assert (built / ONNX_DIR / file).stat().st_size > 50_000_000
    assert (built / ONNX_DIR / ONNX_MARKER).is_file()
    assert not list(built.glob(".onnx.*"))  # no build leftovers
    for backend, embedder in backends.items():
        assert (embedder.name, embedder.backend, embedder.dimension) == (DEFAULT_MODEL, backend, 384)
        vector = embedder.encode_queries(["Qui a lancé l'Alliance Dynamique ?"])
        assert vector.shape == (1, 384) and vector.dtype == np.float32
        assert abs(np.linalg.norm(vector) - 1) < 1e-5


def test_vectors_match_torch_within_the_fidelity_bound(backends, texts):
    reference = {
        "queries": backends["torch"].encode_queries(texts["queries"]),
        "passages": backends["torch"].encode_passages(texts["passages"]),
    }
    bounds = {"onnx": (0.9999, 0.9999), "onnx-int8": (0.99, 0.97)}  # mean, min
    for backend, (mean, low) in bounds.items():
        embedder = backends[backend]
        cos = np.concatenate(
            [
                np.sum(embedder.encode_queries(texts["queries"]) * reference["queries"], axis=1),
                np.sum(embedder.encode_passages(texts["passages"]) * reference["passages"], axis=1),
            ]
        )
        assert len(cos) >= 40
        assert cos.mean() >= mean and cos.min() >= low, (backend, cos.mean(), cos.min())


def test_onnx_encoder_feeds_the_model_what_sentence_transformers_does(backends, texts):
    """Same token ids (prompts, truncation) and, in float32, the same vectors: the
    pre- and post-processing around the ONNX graph is sentence-transformers' own."""
    torch_model, onnx = backends["torch"].model, backends["onnx"]
    long_text = "mot " * 700
    for text in texts["queries"][:5] + texts["passages"][:5] + [long_text]:
        for prompt_name, prompt in (("query", onnx.query_prompt), ("document", onnx.passage_prompt)):
            assert torch_model.prompts[prompt_name] == prompt
            ours = onnx.tokenizer.encode(prompt + text).ids
            theirs = torch_model.tokenizer(prompt + text, truncation=True, max_length=512)["input_ids"]
            assert ours == theirs
    assert len(onnx.tokenizer.encode(onnx.passage_prompt + long_text).ids) == 512
    ours = onnx.encode_passages(texts["passages"] + [long_text], batch_size=4)
    theirs = torch_model.encode_document(texts["passages"] + [long_text], normalize_embeddings=True)
    assert np.abs(ours - theirs).max() < 1e-4


def test_onnx_path_imports_no_torch(built, e5_cache, assistant, settings):
    """The serving path (settings, index, assistant, API app) with the int8 backend."""
    code = (
        "import sys\n"
        "from bot.api.app import create_app\n"
        "from bot.answer.assistant import Assistant\n"
        "from bot.config import Settings\n"
        f"s = Settings(index_dir={str(settings.index_dir)!r}, model_cache={str(e5_cache)!r})\n"
        "assert s.backend == 'onnx-int8'\n"
        'answer = Assistant(s.answer).ask("Qui a lancé l\'Alliance Dynamique ?")\n'
        "assert answer.status == 'answered', answer\n"
        "print(sorted(m for m in ('torch', 'transformers', 'sentence_transformers', 'optimum')"
        " if m in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO_ROOT, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_the_packaged_model_backends_are_interchangeable_others_are_not():
    for a in BACKENDS:
        for b in BACKENDS:
            assert interchangeable(DEFAULT_MODEL, a, b)
    assert interchangeable("/models/other", "torch", "torch")
    assert not interchangeable("/models/other", "onnx-int8", "torch")


def _manifest(model: str, backend: str) -> Manifest:
    return Manifest(
        version="gen-x",
        model=model,
        dimension=384,
        chunk_size=800,
        chunk_overlap=1,
        language="fr",
        backend=backend,
    )


def test_an_index_whose_vectors_do_not_mix_is_refused():
    other = "/models/minilm"
    with pytest.raises(IndexUnavailable, match=r"ingest --rebuild") as caught:
        check_compatible(_manifest(other, "onnx-int8"), Settings(embedding_model=other).index)
    assert "'onnx-int8'" in str(caught.value) and "'torch'" in str(caught.value)
    with pytest.raises(IndexUnavailable, match=r"ingest --rebuild"):
        check_compatible(_manifest(DEFAULT_MODEL, "torch"), Settings(embedding_model=other).index)
    # Built with float32 torch (every index before the backend was recorded), searched
    # with int8 ONNX: accepted, the fidelity figure shows the vectors mix.
    check_compatible(_manifest(DEFAULT_MODEL, "torch"), Settings(embedding_backend="onnx-int8").index)
    check_compatible(_manifest(DEFAULT_MODEL, "onnx-int8"), Settings(embedding_backend="torch").index)


def test_the_index_records_its_backend(assistant, settings):
    assert assistant.index.manifest.backend == settings.backend == "onnx-int8"


def test_onnx_backends_are_for_the_packaged_model_only():
    with pytest.raises(ModelBuildError, match="ALLIANCE_EMBEDDING_BACKEND=torch"):
        load_embedder(Settings(embedding_model="/models/minilm", embedding_backend="onnx").embedding)
    assert Settings(embedding_model="/models/minilm").backend == "torch"
    assert Settings().backend == "onnx-int8"


def test_ingest_encoding_sorts_by_length_and_keeps_the_order(backends, texts):
    from bot.ingest.pipeline import encode_with_progress

    mixed = [t for pair in zip(texts["queries"], texts["passages"], strict=False) for t in pair]
    embedder = backends["onnx"]
    vectors, tokens = encode_with_progress(embedder, mixed, progress=False)
    assert tokens == [None] * len(mixed)
    np.testing.assert_allclose(vectors, embedder.encode_passages(mixed), atol=1e-5)
    np.testing.assert_allclose(vectors[3], embedder.encode_passages([mixed[3]])[0], atol=1e-5)
