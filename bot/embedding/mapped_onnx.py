"""The ONNX graph optimized once, with its weights in a separate file that ONNX Runtime
memory-maps.

A graph with its weights inside (119 MB for int8) is parsed as one protobuf message, which
took 0.4 s of CPU each time a session opened here; with the weights in a side file ONNX
Runtime maps them instead, 0.15 s. The copy is written by ONNX Runtime itself (no `onnx`
package: the serving install has none) with its extended graph optimizations applied
(fusions, constant folding), which every session otherwise redid as it opened: 60-100 ms
of CPU of each `alliance-bot ask`. So a session on the copy opens with optimizations off
(`optimized=True` in bot.embedding.onnx_backend), and gives the very vectors of the export
(tested). Extended, not all: the layout optimizations of level "all" may depend on the
CPU, and a cache can move to another machine (the Docker image); on this graph they
change nothing.
"""

from __future__ import annotations

import logging
from pathlib import Path

import onnxruntime as ort

from bot.embedding import derived

FOLDER = "onnx-optimized"  # "onnx-mapped" held format 1, as exported: left to older code
WEIGHTS = "weights.data"
FORMAT = 2  # 2: the graph optimized (1: as exported)
log = logging.getLogger("bot.embedding")


def mapped_path(onnx_file: Path) -> Path:
    return onnx_file.parent.parent / FOLDER / onnx_file.stem / onnx_file.name


def write_mapped(onnx_file: Path) -> Path:
    """Write the mapped copy of `onnx_file` (once, atomically)."""
    target = mapped_path(onnx_file)

    def fill(work: Path) -> dict:
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
        options.optimized_model_filepath = str(work / onnx_file.name)
        options.add_session_config_entry("session.optimized_model_external_initializers_file_name", WEIGHTS)
        options.add_session_config_entry(
            "session.optimized_model_external_initializers_min_size_in_bytes", "1024"
        )
        options.log_severity_level = 3
        ort.InferenceSession(str(onnx_file), options, providers=["CPUExecutionProvider"])
        return {}

    derived.write(target.parent, onnx_file, fill, format=FORMAT, onnxruntime=ort.__version__)
    return target


def fast_path(onnx_file: Path) -> Path:
    """The mapped copy of `onnx_file`, written first if it is missing or stale; `onnx_file`
    itself when the cache cannot take it."""
    target = mapped_path(onnx_file)
    if derived.current(target.parent, onnx_file, format=FORMAT, onnxruntime=ort.__version__):
        return target
    try:
        write_mapped(onnx_file)
    except Exception as e:  # OSError, or ONNX Runtime's own errors: the export still serves
        log.info("kept %s (no mapped copy: %s)", onnx_file.name, e)
        return onnx_file
    return target
