"""The int8 graph re-saved optimized, with its weights in a side file (memory-mapped by ONNX
Runtime), gives the very vectors of the export, and a cache that cannot take it keeps the
export."""

from __future__ import annotations

import shutil

import numpy as np
import onnxruntime as ort
import pytest

from bot.config import Settings
from bot.embedding import derived, mapped_onnx
from bot.embedding.onnx_backend import session_options

IDS = np.array([[0, 41, 1294, 12, 7644, 10, 152472, 96, 25, 6210, 87587, 73327, 266, 944, 705, 2]])


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """A copy of the int8 export, in a folder laid out like the model cache's."""
    from bot.embedding.build.cache import ensure_model
    from bot.embedding.build.onnx_export import ensure_onnx, variant_path

    model_dir = ensure_model(Settings().embedding.cache)
    source = variant_path(model_dir, ensure_onnx(model_dir), "onnx-int8")
    copy = tmp_path_factory.mktemp("model") / "onnx" / source.name
    copy.parent.mkdir()
    shutil.copy2(source, copy)
    return copy


def run(path, optimized: bool = False) -> np.ndarray:
    options = session_options(1, optimized)
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return session.run(None, {"input_ids": IDS, "attention_mask": np.ones_like(IDS)})[0]


def test_the_mapped_graph_gives_the_same_vectors(exported):
    mapped = mapped_onnx.fast_path(exported)
    assert mapped != exported and (mapped.parent / mapped_onnx.WEIGHTS).is_file()
    # The graph file is small: its weights are read by mapping the side file.
    assert mapped.stat().st_size < exported.stat().st_size / 20
    # Optimized when written, it opens with optimizations off (bot.embedding.load_embedder);
    # the export, unoptimized, gives other vectors that way (fused and plain kernels differ).
    assert np.array_equal(run(mapped, optimized=True), run(exported))
    assert not np.array_equal(run(exported, optimized=True), run(exported))
    assert mapped_onnx.fast_path(exported) == mapped  # written once


def test_a_changed_export_or_an_unwritable_cache_falls_back(exported, tmp_path, monkeypatch):
    copy = tmp_path / "onnx" / exported.name
    copy.parent.mkdir()
    shutil.copy2(exported, copy)
    mapped = mapped_onnx.fast_path(copy)
    with copy.open("r+b") as f:  # another export in its place: the mapped copy is stale
        f.seek(copy.stat().st_size - 8)
        f.write(b"\0" * 8)
    assert (
        derived.current(mapped.parent, copy, format=mapped_onnx.FORMAT, onnxruntime=ort.__version__) is None
    )

    def read_only(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(derived, "write", read_only)
    assert mapped_onnx.fast_path(copy) == copy  # the export itself, slower to open but right
