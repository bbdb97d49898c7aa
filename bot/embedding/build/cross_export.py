"""The cross-encoder reader's ONNX file, built once into the model cache.

The fitted files in `bot/answer/reader/cross/` hold only what the fit changed (the top layers
and two heads); the lower layers are the packaged e5 weights. This merges them,
exports the graph with torch and quantises it to int8 like the embedder, so that
serving needs onnxruntime alone. Refused when the base weights are not the ones the
fit started from.
"""

from __future__ import annotations

import contextlib
import json
import logging
import shutil
import sys
import tempfile
import warnings
from pathlib import Path

from bot.embedding.build.cache import WRITABLE, remove_stale
from bot.embedding.build.convert import MARKER, sha256_file, write_json
from bot.embedding.build.errors import ModelBuildError
from bot.embedding.build.onnx_export import OPSET, int8_target

CROSS_MARKER = "alliance-cross.json"
EXPORT_VERSION = 1


def fitted_dir() -> Path:
    from importlib import resources

    return Path(str(resources.files("bot.answer.reader") / "cross"))


def read_card(folder: Path) -> dict:
    try:
        return json.loads((folder / "cross.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise ModelBuildError(
            f"the cross-encoder reader's files are unreadable ({folder}: {e}): reinstall alliance-bot, "
            "rebuild them with `alliance-bot reader fit --cross`, or set ALLIANCE_READER=fast"
        ) from e


def check_base(card: dict, model_dir: Path) -> None:
    marker = json.loads((model_dir / MARKER).read_text(encoding="utf-8"))
    if marker.get("weights_sha256") != card["base"]["weights_sha256"]:
        raise ModelBuildError(
            f"the cross-encoder reader was fitted on base weights {card['base']['weights_sha256'][:12]}, "
            f"but {model_dir} holds {str(marker.get('weights_sha256'))[:12]}: run "
            "`alliance-bot model install --force`, or refit with `alliance-bot reader fit --cross`"
        )


def export_dir(model_dir: Path, folder: Path) -> Path:
    return model_dir / f"cross-{sha256_file(folder / 'weights.safetensors')[:16]}"


def ensure_cross_onnx(model_dir: Path, folder: Path | None = None) -> Path:
    """The int8 ONNX file of the fitted reader, exported first if needed."""
    folder = folder or fitted_dir()
    card = read_card(folder)
    check_base(card, model_dir)
    target = export_dir(model_dir, folder)
    done = target / CROSS_MARKER
    if done.is_file():
        marker = json.loads(done.read_text(encoding="utf-8"))
        if marker.get("export_version") == EXPORT_VERSION and (target / marker["file"]).is_file():
            return target / marker["file"]
    try:
        remove_stale(model_dir, ".cross-*")
        work = Path(tempfile.mkdtemp(prefix=".cross-", dir=model_dir))
    except OSError as e:
        raise ModelBuildError(f"cannot write into {model_dir} ({e.strerror or e}): {WRITABLE}") from e
    try:
        print(f"alliance-bot: exporting the cross-encoder reader into {target}", file=sys.stderr)
        name = _export(model_dir, folder, card, work)
        work.chmod(0o755)
        if target.exists():
            shutil.rmtree(target)
        work.rename(target)
    except OSError as e:
        raise ModelBuildError(f"cannot write into {model_dir} ({e.strerror or e}): {WRITABLE}") from e
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return target / name


def load_fitted(model_dir: Path, folder: Path, card: dict):
    """The torch reader: base weights with the fitted layers and heads put in."""
    import torch
    from safetensors.torch import load_file
    from transformers import AutoModel

    from bot.embedding.build.cross_model import CrossReader

    base = AutoModel.from_pretrained(model_dir, attn_implementation="eager", local_files_only=True)
    model = CrossReader(base, card["depth"], card["trained"]).eval()
    tensors = load_file(str(folder / "weights.safetensors"))
    state = model.state_dict()
    missing = [n for n, p in model.named_parameters() if p.requires_grad and n not in tensors]
    if missing:
        raise ModelBuildError(f"{folder}/weights.safetensors lacks {missing[0]}: refit the reader")
    with torch.no_grad():
        for n, t in tensors.items():
            state[n].copy_(t.float())
    return model


def _export(model_dir: Path, folder: Path, card: dict, out: Path) -> str:
    try:
        import torch
        from onnxruntime.quantization import QuantType, quantize_dynamic
    except ImportError as e:
        raise ModelBuildError(f"the reader's export needs {e.name}: pip install alliance-bot") from e

    model = load_fitted(model_dir, folder, card)
    ids = torch.tensor([[0, 41, 1294, 2, 2, 10, 12, 2], [0, 41, 2, 2, 10, 2, 1, 1]])
    mask = (ids != 1).long()
    second = torch.tensor([[0, 0, 0, 0, 0, 1, 1, 0], [0, 0, 0, 0, 1, 0, 0, 0]])
    extras = torch.zeros(2, 2)
    batch, seq = torch.export.Dim("batch"), torch.export.Dim("sequence", max=512)
    float_path = out / "reader.onnx"
    with torch.no_grad(), contextlib.redirect_stdout(sys.stderr), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = torch.onnx.export(
            model,
            (ids, mask, second, extras),
            None,
            dynamo=True,
            opset_version=OPSET,
            input_names=["input_ids", "attention_mask", "second", "extras"],
            output_names=["score", "start", "end"],
            dynamic_shapes={
                "input_ids": {0: batch, 1: seq},
                "attention_mask": {0: batch, 1: seq},
                "second": {0: batch, 1: seq},
                "extras": {0: batch},
            },
        )
        program.save(str(float_path), external_data=False)
    isa, reduce_range = int8_target()
    name = f"reader_qint8_{isa}.onnx"
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        quantize_dynamic(
            float_path, out / name, weight_type=QuantType.QInt8, per_channel=True, reduce_range=reduce_range
        )
    finally:
        root.setLevel(level)
    float_path.unlink()
    write_json(out / CROSS_MARKER, {"export_version": EXPORT_VERSION, "file": name, "card": card["format"]})
    return name
