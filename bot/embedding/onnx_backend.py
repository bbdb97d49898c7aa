"""The ONNX Runtime backend: the packaged model's exported graph, without torch.

What sentence-transformers does for this model, in a few lines: the `tokenizers`
tokenizer from tokenizer.json, the prompts from config_sentence_transformers.json,
the transformer as an `onnxruntime.InferenceSession`, then mean pooling over the
attention mask (prompt tokens included, as 1_Pooling/config.json says) and L2
normalisation. tests/embedding/test_backends.py checks it against sentence-transformers.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnxruntime as ort

from bot.embedding import Tokens, token_vectors
from bot.embedding.build.errors import ModelBuildError
from bot.embedding.pruned_tokenizer import load_tokenizer
from bot.embedding.threads import usable_cores

MAX_BATCH_TOKENS = 4096


def session_options(threads: int, optimized: bool = False) -> ort.SessionOptions:
    """Threads for one forward pass at a time, on every core we may use; graph optimizations
    unless the graph was `optimized` when written (bot.embedding.mapped_onnx).

    Callers never run two passes at once (queries go through one QueryBatcher, which
    batches instead), so intra-op threads = cores uses both cores of this machine
    without oversubscribing them under uvicorn's thread pool, and one inter-op thread
    is enough for a sequential graph. Spinning is off: on a shared machine, threads
    busy-waiting between passes took the cores the other work needed (p50 of a single
    query under load went from 12.7 ms without spinning to 25 ms with it).
    """
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = (
        ort.GraphOptimizationLevel.ORT_DISABLE_ALL if optimized else ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    )
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.add_session_config_entry("session.inter_op.allow_spinning", "0")
    options.log_severity_level = 3  # errors only
    return options


class OnnxEmbedder:
    """L2-normalised float32 embeddings from an exported sentence-transformers model."""

    def __init__(self, model_dir: Path, onnx_file: Path, name: str, backend: str, optimized: bool = False):
        self.name, self.backend = name, backend
        # How many concurrent queries may share a pass (bot.embedding.batching). Dynamic int8 picks
        # one activation scale per pass, so batched a query's vector would depend on the
        # queries beside it (cosine 0.996 to its vector alone), and batching measured no
        # faster for int8 (about 190 single queries/s either way): it runs one per pass.
        self.query_batch = 1 if backend == "onnx-int8" else 16
        prompts = _json(model_dir / "config_sentence_transformers.json").get("prompts", {})
        self.query_prompt = prompts.get("query", "")
        self.passage_prompt = prompts.get("document", prompts.get("passage", ""))
        pooling = _json(model_dir / "1_Pooling" / "config.json")
        if pooling.get("pooling_mode", "mean") != "mean" or not pooling.get("include_prompt", True):
            raise ModelBuildError(f"{model_dir}: only mean pooling over every token is supported")
        self.dimension: int = pooling["embedding_dimension"]
        self.pad_id: int = _json(model_dir / "config.json")["pad_token_id"]
        max_length = _json(model_dir / "sentence_bert_config.json").get("max_seq_length", 512)
        # Pruned per call (bot.embedding.pruned_tokenizer): loads in ms, where tokenizer.json
        # takes a second; never padded, each batch is padded to its own longest text below.
        self.tokenizer = load_tokenizer(model_dir, max_length)
        self.session = ort.InferenceSession(
            str(onnx_file),
            session_options(usable_cores(), optimized),
            providers=["CPUExecutionProvider"],
        )
        self.input_names = {i.name for i in self.session.get_inputs()}

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        return self._encode(texts, self.query_prompt, batch_size=32)

    def encode_passages(
        self, texts: list[str], batch_size: int = 32, show_progress: bool = False
    ) -> np.ndarray:
        return self._encode(texts, self.passage_prompt, batch_size)

    def encode_with_tokens(self, texts: list[str], query: bool) -> tuple[np.ndarray, list[Tokens]]:
        prompt = self.query_prompt if query else self.passage_prompt
        tokens: list[Tokens | None] = [None] * len(texts)
        return self._encode(texts, prompt, 32, tokens), tokens

    def _encode(
        self, texts: list[str], prompt: str, batch_size: int, tokens: list[Tokens | None] | None = None
    ) -> np.ndarray:
        encodings = self.tokenizer.encode_batch([prompt + t for t in texts])
        ids = [e.ids for e in encodings]
        out = np.zeros((len(ids), self.dimension), np.float32)
        # Longest first, as sentence-transformers does: a batch pads to its own longest text.
        order = sorted(range(len(ids)), key=lambda i: -len(ids[i]))
        start = 0
        while start < len(order):
            # At most MAX_BATCH_TOKENS padded tokens a pass: ONNX Runtime keeps the memory
            # of its largest pass, and 32 texts of 512 tokens would hold gigabytes.
            rows = max(1, min(batch_size, MAX_BATCH_TOKENS // len(ids[order[start]])))
            chosen = order[start : start + rows]
            hidden, out[chosen] = self._forward([ids[i] for i in chosen])
            if tokens is not None:
                for row, i in enumerate(chosen):
                    tokens[i] = _tokens(hidden[row, : len(ids[i])], encodings[i].offsets, prompt, texts[i])
            start += rows
        return out

    def _forward(self, batch: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
        width = max(len(x) for x in batch)
        input_ids = np.full((len(batch), width), self.pad_id, np.int64)
        mask = np.zeros((len(batch), width), np.int64)
        for row, x in enumerate(batch):
            input_ids[row, : len(x)] = x
            mask[row, : len(x)] = 1
        feeds = {"input_ids": input_ids, "attention_mask": mask}
        if "token_type_ids" in self.input_names:
            feeds["token_type_ids"] = np.zeros_like(input_ids)
        hidden = self.session.run(None, feeds)[0]
        weights = mask[:, :, None].astype(np.float32)
        mean = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
        norms = np.linalg.norm(mean, axis=1, keepdims=True)
        return hidden, (mean / np.maximum(norms, 1e-12)).astype(np.float32)


def _tokens(hidden: np.ndarray, offsets: list[tuple[int, int]], prompt: str, text: str) -> Tokens:
    return token_vectors(hidden, np.asarray(offsets, dtype=np.int32).reshape(-1, 2), prompt, text)


def _json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise ModelBuildError(
            f"{path} is missing or unreadable: run `alliance-bot model install --force`"
        ) from e
