# Alliance Bot: the assistant serving its widget and API on the default corpus.
#   docker build -t alliance-bot .
#   docker run --rm -p 8000:8000 alliance-bot     # then open http://localhost:8000/
#
# Two stages. `build` has the full install: it converts the packaged model (the one step
# that needs torch), exports its ONNX variants and indexes documents/. The image itself has
# the serving profile (requirements/serve.txt: no torch, transformers, sentence-transformers,
# onnx, onnxscript, nor any CUDA library), the model cache and the index built by `build`,
# and runs as a non-root user. docs/operations.md, "Install profiles".

FROM python:3.11-slim AS build

ENV PIP_NO_CACHE_DIR=1 \
    HF_HUB_OFFLINE=1 \
    ALLIANCE_MODEL_CACHE=/opt/alliance/model \
    ALLIANCE_INDEX_DIR=/opt/alliance/index \
    ALLIANCE_DOCUMENTS_DIR=/app/documents
WORKDIR /app

# On Linux the public index's torch==2.13.0 is the CUDA build, with several GB of NVIDIA
# libraries as dependencies. PyTorch's CPU index has the same release as 2.13.0+cpu, which
# satisfies pyproject.toml's torch==2.13.0 (a local version label is ignored by ==), so the
# `pip install .` below keeps it and pulls no CUDA library. Only this stage ever has torch.
RUN pip install --index-url https://download.pytorch.org/whl/cpu torch==2.13.0

COPY pyproject.toml README.md ./
COPY bot ./bot
COPY documents ./documents
# `model install` also writes what makes a start fast (the pruned tokenizer, the int8 graph
# with mapped weights), so the image never writes into its model cache.
RUN pip install . \
 && alliance-bot model install \
 && alliance-bot ingest /app/documents


FROM python:3.11-slim

ENV PIP_NO_CACHE_DIR=1 \
    HF_HUB_OFFLINE=1 \
    ALLIANCE_MODEL_CACHE=/opt/alliance/model \
    ALLIANCE_INDEX_DIR=/opt/alliance/index \
    ALLIANCE_DATA_DIR=/opt/alliance/data \
    ALLIANCE_DOCUMENTS_DIR=/app/documents \
    ALLIANCE_LIMIT_PER_CLIENT=64 \
    ALLIANCE_HEAD_READ_TIMEOUT=10
# The server's own guards against slow or greedy clients (docs/interfaces.md, "HTTP API"):
# one address holds at most 64 connections (then 429), a request head must arrive whole
# within 10 s. Behind a reverse proxy, set ALLIANCE_TRUSTED_PROXIES to its address (it is
# then exempt).

RUN useradd --create-home --uid 10001 alliance \
 && mkdir -p /opt/alliance/data \
 && chown alliance:alliance /opt/alliance /opt/alliance/data
WORKDIR /app

# The serving profile, pinned with everything it needs: --no-deps, so nothing resolves
# torch back in; then the package itself, without its (full) dependency list.
COPY requirements/serve.txt ./requirements/serve.txt
RUN pip install --no-deps -r requirements/serve.txt
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY documents ./documents
RUN pip install --no-deps . \
 && python -c "import importlib.util as u, sys; sys.exit(any(u.find_spec(m) for m in ('torch', 'transformers', 'onnx', 'onnxscript')))"

# The model cache and the index, converted and built by the first stage.
COPY --from=build --chown=alliance:alliance /opt/alliance/model /opt/alliance/model
COPY --from=build --chown=alliance:alliance /opt/alliance/index /opt/alliance/index

USER alliance
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD python -c "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=4).status != 200)"
CMD ["alliance-bot", "serve", "--host", "0.0.0.0", "--port", "8000"]
