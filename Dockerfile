# Alliance Bot: the assistant serving its widget and API on the default corpus.
#   docker build -t alliance-bot .
#   docker run --rm -p 8000:8000 alliance-bot     # then open http://localhost:8000/
FROM python:3.11-slim

ENV PIP_NO_CACHE_DIR=1 \
    HF_HUB_OFFLINE=1 \
    ALLIANCE_MODEL_CACHE=/opt/alliance/model \
    ALLIANCE_INDEX_DIR=/opt/alliance/index \
    ALLIANCE_DATA_DIR=/opt/alliance/data \
    ALLIANCE_DOCUMENTS_DIR=/app/documents \
    ALLIANCE_LIMIT_PER_CLIENT=64 \
    ALLIANCE_HEAD_READ_TIMEOUT=10
# The server's own guards against slow or greedy clients (README, *HTTP API*): one address
# holds at most 64 connections (then 429), a request head must arrive whole within 10 s.
# Behind a reverse proxy, set ALLIANCE_TRUSTED_PROXIES to its address (it is then exempt).

RUN useradd --create-home --uid 10001 alliance
WORKDIR /app
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY documents ./documents

# The model is converted, its ONNX variants exported (the server runs int8 ONNX Runtime and
# never imports torch) and the index built at build time, so the container starts ready.
RUN pip install . \
 && alliance-bot model install \
 && alliance-bot ingest /app/documents \
 && chown -R alliance:alliance /opt/alliance

USER alliance
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD python -c "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=4).status != 200)"
CMD ["alliance-bot", "serve", "--host", "0.0.0.0", "--port", "8000"]
