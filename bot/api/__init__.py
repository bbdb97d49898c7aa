"""The HTTP API (FastAPI): questions, streaming answers, search, documents and health."""
