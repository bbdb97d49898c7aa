"""The cross-encoder reader's pipeline on two PIAF train articles (`reader fit --cross --tiny`):
fit, files, resume, export, serving without torch. It checks the pipeline, not the figures."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from bot.config import REPO_ROOT, Settings
from bot.embedding.build.errors import ModelBuildError


@pytest.fixture(scope="module")
def tiny(shared_dir, embedder, tmp_path_factory):
    from bot.training.cross_fit import TINY, run_cross_fit

    root = tmp_path_factory.mktemp("cross")
    out, work = root / "cross", root / "work"
    card = run_cross_fit(
        shared_dir / "bench" / "piaf_fr",
        out,
        work,
        TINY,
        limit=2,
        settings=Settings(),
        embedder=embedder,
        log=lambda m: None,
    )
    return out, work, card


def test_the_tiny_fit_writes_small_readable_files(tiny):
    out, _, card = tiny
    weights = (out / "weights.safetensors").read_bytes()
    assert len(weights) < 10 * 1024 * 1024
    header = json.loads(weights[8 : 8 + int.from_bytes(weights[:8], "little")])  # safetensors, not a pickle
    assert any(name.startswith("top.") for name in header) and "score.weight" in header
    assert json.loads((out / "cross.json").read_text(encoding="utf-8")) == card
    assert card["base"]["weights_sha256"] and card["data"]["groups_sha256"]
    assert card["config"]["seed"] and card["fit"]["command"].startswith("alliance-bot reader fit --cross")
    assert 0.0 < card["threshold"] < 1.0


def test_a_second_run_resumes_from_the_checkpoint_with_the_same_bytes(tiny, embedder, shared_dir, tmp_path):
    from bot.training.cross_fit import TINY, run_cross_fit

    out, work, _ = tiny
    again = tmp_path / "again"
    run_cross_fit(
        shared_dir / "bench" / "piaf_fr",
        again,
        work,
        TINY,
        limit=2,
        settings=Settings(),
        embedder=embedder,
        log=lambda m: None,
    )
    assert (again / "weights.safetensors").read_bytes() == (out / "weights.safetensors").read_bytes()


def test_other_base_weights_are_refused_with_what_to_run(tiny, tmp_path):
    from bot.embedding.build.cache import ensure_model
    from bot.embedding.build.cross_export import ensure_cross_onnx

    out, _, card = tiny
    other = tmp_path / "other"
    shutil.copytree(out, other)
    card = dict(card, base=dict(card["base"], weights_sha256="0" * 64))
    (other / "cross.json").write_text(json.dumps(card), encoding="utf-8")
    with pytest.raises(ModelBuildError, match="model install"):
        ensure_cross_onnx(ensure_model(Settings().model_cache), other)


def test_the_cross_reader_answers_without_torch(tiny, assistant, settings):
    from bot.embedding.build.cache import ensure_model
    from bot.embedding.build.cross_export import ensure_cross_onnx

    out, _, _ = tiny
    ensure_cross_onnx(ensure_model(Settings().model_cache), out)  # the export itself needs torch
    code = (
        "import sys\n"
        "from bot.answer.assistant import Assistant\n"
        "from bot.config import Settings\n"
        f"s = Settings(index_dir={str(settings.index_dir)!r}, reader='cross',"
        f" reader_cross_dir={str(out)!r})\n"
        'answer = Assistant(s.answer).ask("Qui a lancé l\'Alliance Dynamique ?")\n'
        "assert answer.status in ('answered', 'no_answer') and 0 <= answer.confidence <= 1, answer\n"
        "for c in answer.citations:\n"
        "    assert c.quote\n"
        "print(sorted(m for m in ('torch', 'transformers', 'sentence_transformers') if m in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO_ROOT, timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"
