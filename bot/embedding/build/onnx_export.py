"""ONNX Runtime variants of the converted model, exported once into the model cache.

`onnx/model.onnx` (float32) is exported from the transformers model with torch's ONNX
exporter; `onnx/model_qint8_<isa>.onnx` is its dynamic int8 quantisation
(`onnxruntime.quantization`, int8 weights per channel, activations quantized at run
time) for the instruction set this CPU reports. Same layout and file names as
sentence-transformers' `backend="onnx"` exports. Only this export needs torch; serving
reads the files with onnxruntime alone. Written in a temporary directory and renamed
into place, with a marker written last, like the model build itself.
"""

from __future__ import annotations

import contextlib
import json
import logging
import platform
import shutil
import sys
import tempfile
import warnings
from pathlib import Path

from bot.embedding.build.cache import WRITABLE, cannot_convert, install_dir, remove_stale, wrong_size
from bot.embedding.build.convert import MARKER, write_json
from bot.embedding.build.errors import ModelBuildError

ONNX_DIR = "onnx"
ONNX_MARKER = "alliance-onnx.json"
# Bump when the export changes, so existing caches are exported again.
EXPORT_VERSION = 1
FLOAT_FILE = "model.onnx"
OPSET = 18


def int8_target(cpuinfo: Path = Path("/proc/cpuinfo")) -> tuple[str, bool]:
    """(instruction set, reduce_range) for the int8 variant, as sentence-transformers names them.

    Without VNNI, x86's u8 x s8 multiply can saturate, so weights keep 7 bits
    (reduce_range) as optimum's avx2 configuration does; VNNI and arm64 need not.
    """
    if platform.machine().lower() in ("aarch64", "arm64"):
        return "arm64", False
    try:
        flags = set(
            next(
                (
                    line.split(":", 1)[1].split()
                    for line in cpuinfo.read_text().splitlines()
                    if line.startswith("flags")
                ),
                [],
            )
        )
    except OSError:
        flags = set()
    if "avx512_vnni" in flags:
        return "avx512_vnni", False
    return "avx2", True


def complete_export(model_dir: Path) -> dict | None:
    """The export's marker if `model_dir/onnx` is complete and made from these weights."""
    folder = model_dir / ONNX_DIR
    try:
        marker = json.loads((folder / ONNX_MARKER).read_text(encoding="utf-8"))
        model = json.loads((model_dir / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if marker.get("export_version") != EXPORT_VERSION:
        return None
    if marker.get("weights_sha256") != model.get("weights_sha256"):
        return None
    if wrong_size(folder, marker.get("files", {})):
        return None
    return marker


def variant_path(model_dir: Path, marker: dict, backend: str) -> Path:
    """The ONNX file of a backend ("onnx" or "onnx-int8")."""
    return model_dir / ONNX_DIR / marker["variants"][backend]


def ensure_onnx(model_dir: Path, force: bool = False) -> dict:
    """Export the ONNX variants next to the model if they are missing; their marker."""
    marker = None if force else complete_export(model_dir)
    if marker is not None:
        return marker
    if error := cannot_convert(model_dir.parent, "the ONNX export"):
        raise error
    remove_stale(model_dir, ".onnx.*")
    try:
        work = Path(tempfile.mkdtemp(prefix=".onnx.build-", dir=model_dir))
        work.chmod(0o755)  # the cache may be shared (Docker)
    except OSError as e:
        raise ModelBuildError(f"cannot write into {model_dir} ({e.strerror or e}): {WRITABLE}") from e
    try:
        print(f"alliance-bot: exporting the ONNX variants into {model_dir / ONNX_DIR}", file=sys.stderr)
        marker = _export(model_dir, work)
        install_dir(work, model_dir / ONNX_DIR, lambda: complete_export(model_dir) is not None, force)
    except OSError as e:
        raise ModelBuildError(
            f"cannot write the ONNX export into {model_dir} ({e.strerror or e}): free some space "
            f"or {WRITABLE}"
        ) from e
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return complete_export(model_dir) or marker


def _export(model_dir: Path, out: Path) -> dict:
    try:
        import onnxruntime
        import torch
        from onnxruntime.quantization import QuantType, quantize_dynamic
        from transformers import AutoModel
    except ImportError as e:
        raise ModelBuildError(
            f"the ONNX export needs {e.name}: pip install alliance-bot (its dependencies), "
            "or set ALLIANCE_EMBEDDING_BACKEND=torch"
        ) from e

    class LastHiddenState(torch.nn.Module):
        """The transformer alone, as sentence-transformers' ONNX backend expects it."""

        def __init__(self, model: torch.nn.Module):
            super().__init__()
            self.model = model

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            return self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state

    model = AutoModel.from_pretrained(model_dir, local_files_only=True).eval()
    ids = torch.tensor([[0, 41, 1294, 12, 10, 2], [0, 41, 1294, 2, 1, 1]])
    batch, seq = torch.export.Dim("batch"), torch.export.Dim("sequence", max=512)
    float_path = out / FLOAT_FILE
    # The exporter reports its steps on stdout, which `alliance-bot model path` keeps for the path.
    with torch.no_grad(), contextlib.redirect_stdout(sys.stderr), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = torch.onnx.export(
            LastHiddenState(model),
            (ids, (ids != 1).long()),
            None,
            dynamo=True,
            opset_version=OPSET,
            input_names=["input_ids", "attention_mask"],
            output_names=["last_hidden_state"],
            dynamic_shapes={"input_ids": {0: batch, 1: seq}, "attention_mask": {0: batch, 1: seq}},
        )
        program.save(str(float_path), external_data=False)
    del program, model

    isa, reduce_range = int8_target()
    int8_file = f"model_qint8_{isa}.onnx"
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # quantize_dynamic advises pre-processing on every call
    try:
        quantize_dynamic(
            float_path,
            out / int8_file,
            weight_type=QuantType.QInt8,
            per_channel=True,
            reduce_range=reduce_range,
        )
    finally:
        root.setLevel(level)
    model_marker = json.loads((model_dir / MARKER).read_text(encoding="utf-8"))
    marker = {
        "export_version": EXPORT_VERSION,
        "weights_sha256": model_marker["weights_sha256"],
        "variants": {"onnx": FLOAT_FILE, "onnx-int8": int8_file},
        "int8": {
            "isa": isa,
            "per_channel": True,
            "reduce_range": reduce_range,
            "weights": "QInt8",
            "activations": "dynamic QUInt8",
        },
        "opset": OPSET,
        "torch": torch.__version__,
        "onnxruntime": onnxruntime.__version__,
        "files": {p.name: p.stat().st_size for p in sorted(out.iterdir()) if p.is_file()},
    }
    for file in out.iterdir():
        file.chmod(0o644)
    write_json(out / ONNX_MARKER, marker)
    return marker
