"""The shipped reader parameters: readable JSON, versioned, checked at load."""

from __future__ import annotations

import json

import numpy as np
import pytest

from bot.answer.reader.features import FEATURES
from bot.answer.reader.model import (
    PARAMS_FORMAT,
    VERIFIER_FEATURES,
    ReaderParamsError,
    default_params_path,
    load_model,
)


def _shipped() -> dict:
    return json.loads(default_params_path().read_text(encoding="utf-8"))


def test_shipped_params_load_and_describe_themselves():
    model = load_model()
    data = _shipped()
    assert data["format"] == PARAMS_FORMAT
    # Each model names the features it reads, among those this version computes.
    assert set(data["selector"]["features"]) <= set(FEATURES)
    assert set(data["verifier"]["features"]) <= set(VERIFIER_FEATURES)
    assert "align_min" in data["selector"]["features"] and "best_align_min" in data["verifier"]["features"]
    assert 0 < model.threshold < 1
    assert data["provenance"]["dataset"].startswith("piaf_fr") and "train" in data["provenance"]["dataset"]
    rows = np.tile(np.zeros(len(FEATURES)), (3, 1)) + np.arange(3)[:, None] * 0.1
    judgement = model.judge(rows)
    assert judgement.shares.shape == (3,) and abs(judgement.shares.sum() - 1) < 1e-9
    assert 0 < judgement.confidence < 1


def test_wrong_format_version_is_a_clear_error(tmp_path):
    data = _shipped()
    data["format"] = PARAMS_FORMAT + 1
    path = tmp_path / "params.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(ReaderParamsError, match="reader fit"):
        load_model(path)


def test_params_for_other_features_are_refused(tmp_path):
    data = _shipped()
    data["verifier"]["features"] = data["verifier"]["features"][:-1]
    path = tmp_path / "params.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(ReaderParamsError):
        load_model(path)


def test_an_unreadable_file_is_a_clear_error(tmp_path):
    path = tmp_path / "params.json"
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(ReaderParamsError, match="reader fit"):
        load_model(path)
