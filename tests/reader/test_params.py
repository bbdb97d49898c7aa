"""The shipped reader parameters: readable JSON, versioned, checked at load."""

from __future__ import annotations

import json

import numpy as np
import pytest

from bot.reader.features import FEATURES
from bot.reader.model import PARAMS_FORMAT, ReaderParamsError, default_params_path, load_model


def test_shipped_params_load_and_describe_themselves():
    model = load_model()
    data = json.loads(default_params_path().read_text(encoding="utf-8"))
    assert data["format"] == PARAMS_FORMAT and tuple(data["features"]) == FEATURES
    assert 0 < model.threshold < 1
    assert data["provenance"]["dataset"].startswith("piaf_fr") and "train" in data["provenance"]["dataset"]
    p = model.probabilities(np.tile(model.mean, (3, 1)))
    assert p.shape == (3,) and np.all((p > 0) & (p < 1))


def test_wrong_format_version_is_a_clear_error(tmp_path):
    data = json.loads(default_params_path().read_text(encoding="utf-8"))
    data["format"] = PARAMS_FORMAT + 1
    path = tmp_path / "params.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(ReaderParamsError, match="reader fit"):
        load_model(path)


def test_params_for_other_features_are_refused(tmp_path):
    data = json.loads(default_params_path().read_text(encoding="utf-8"))
    data["features"] = data["features"][:-1]
    path = tmp_path / "params.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(ReaderParamsError):
        load_model(path)
