"""Document admin (`/admin/documents`), the operator's report (`/admin/report`) and the admin page.

Every route here needs `Authorization: Bearer <ALLIANCE_ADMIN_TOKEN>`; with no token configured
they do not exist (404). Uploaded files go to `<data dir>/uploads`, one of the index's roots,
and are indexed by the same incremental ingest as `alliance-bot ingest`."""

from __future__ import annotations

import errno
import hmac
import logging
import os
import re
import tempfile
import threading
import time
import unicodedata
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse, HTMLResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from bot.api.problems import NOT_FOUND, problem
from bot.crawl.limits import DEFAULT_DELAY, DEFAULT_MAX_BYTES, DEFAULT_MAX_DEPTH, DEFAULT_MAX_PAGES
from bot.ingest.loaders import MAX_FILE_BYTES, SUPPORTED_SUFFIXES, DocumentError, load_bytes
from bot.ingest.pipeline import ingest
from bot.operator.log.store import Unavailable

UPLOADS = "uploads"
WIDGET_DIR = Path(__file__).resolve().parent.parent / "widget"
logger = logging.getLogger("bot.api")
REPORT_TIMEOUT = 10.0
_ingest_lock = threading.Lock()  # one admin ingest at a time in this process


def bearer_matches(authorization: str, token: str) -> bool:
    """`Authorization: Bearer <token>`, compared in constant time."""
    scheme, _, given = authorization.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())


def require_admin(request: Request) -> None:
    token = request.app.state.settings.admin_token
    if not token:
        raise problem(404, "http_error", *NOT_FOUND)
    if not bearer_matches(request.headers.get("authorization", ""), token):
        raise problem(
            401,
            "unauthorized",
            "Jeton d'administration absent ou incorrect.",
            "Missing or wrong admin token.",
            {"WWW-Authenticate": "Bearer"},
        )


Admin = Depends(require_admin)
router = APIRouter(prefix="/admin", tags=["admin"], dependencies=[Admin])
page_router = APIRouter()


class AdminDocument(BaseModel):
    source: str
    title: str
    url: str | None
    chunks: int
    ingested_at: str
    managed: bool  # uploaded through /admin: may be deleted there


class IngestResult(BaseModel):
    added: list[str]
    updated: list[str]
    removed: list[str]
    skipped: list[dict]
    chunks: int
    version: str
    seconds: float


def uploads_dir(request: Request) -> Path:
    return request.app.state.settings.data_path / UPLOADS


@router.get("/documents", response_model=list[AdminDocument])
def list_documents(request: Request) -> list[AdminDocument]:
    """Every indexed document with its number of passages."""
    assistant = request.app.state.assistant
    assistant.refresh_if_changed()
    counts: dict[str, int] = {}
    for chunk in assistant.index.chunks:
        counts[chunk.source] = counts.get(chunk.source, 0) + 1
    uploads = uploads_dir(request)
    return [
        AdminDocument(
            source=d.source,
            title=d.title,
            url=d.url,
            chunks=counts.get(d.source, 0),
            ingested_at=d.ingested_at,
            managed=_managed_file(uploads, d.source) is not None,
        )
        for d in assistant.index.documents.values()
    ]


@router.post(
    "/documents",
    response_model=IngestResult,
    status_code=201,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
        }
    },
)
async def upload_document(
    request: Request,
    filename: Annotated[str, Query(max_length=200, description="File name, e.g. `guide.md`.")],
) -> IngestResult:
    """Upload one document (the request body is the file: md, txt, html, pdf, docx, odt or pptx) and index it.
    A file of the same name is replaced."""
    name = _safe_name(filename)
    limit = int(request.app.state.settings.admin_max_upload_mb * 1024 * 1024)
    data = await request.body()  # already read, under twice this limit, by bot.api.guards.BodyGuard
    if len(data) > limit:
        raise problem(
            413,
            "file_too_large",
            f"Fichier trop volumineux (> {limit} octets).",
            f"File too large (> {limit} bytes).",
        )
    if not data:
        raise problem(422, "empty_file", "Le fichier est vide.", "The file is empty.")
    # Checked before it replaces anything: a corrupt re-upload leaves the good file indexed.
    reason = await run_in_threadpool(_unreadable, data, name)
    if reason:
        raise problem(422, "unreadable_file", f"Fichier ignoré : {reason}", f"File skipped: {reason}")
    folder = uploads_dir(request)
    target = folder / name
    await run_in_threadpool(_store, folder, target, data)
    result = await run_in_threadpool(_reingest, request)
    source = f"{UPLOADS}/{name}"
    skipped = next((s for s in result.skipped if Path(s.get("path", "")).name == name), None)
    if skipped is not None and not _indexed(request, source):
        target.unlink(missing_ok=True)
        reason = skipped.get("reason", "")
        raise problem(422, "unreadable_file", f"Fichier ignoré : {reason}", f"File skipped: {reason}")
    return result


def _unreadable(data: bytes, name: str) -> str | None:
    """Why the loaders refuse `data` as the file `name`, or None when it reads."""
    try:
        load_bytes(data, Path(name), Path(name).suffix.lower())
    except DocumentError as e:
        return str(e)
    except Exception as e:  # noqa: BLE001 - a loader's own failure is a refusal, never a 500
        logger.warning("upload %s: %s", name, type(e).__name__)
        return f"fichier illisible ({type(e).__name__}) — unreadable file"
    return None


def _store(folder: Path, target: Path, data: bytes) -> None:
    """Write `data` to `target` atomically (temp file, fsync, rename); on any failure, the
    temp file is removed and `target` is as it was."""
    tmp = None
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{target.name}.", suffix=".part")
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
        tmp = None
    except OSError as e:
        logger.warning("upload %s not stored: %s", target.name, e.strerror or type(e).__name__)
        if e.errno in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT):
            raise problem(
                507,
                "disk_full",
                "Espace disque insuffisant : le fichier n'a pas été enregistré.",
                "Not enough disk space: the file was not stored.",
            ) from None
        raise problem(
            500, "not_stored", "Le fichier n'a pas pu être enregistré.", "The file could not be stored."
        ) from None
    finally:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)


@router.delete("/documents/{source:path}", response_model=IngestResult)
def delete_document(source: str, request: Request) -> IngestResult:
    """Remove an uploaded document from the index (and its file from the managed folder)."""
    file = _managed_file(uploads_dir(request), source)
    if file is None or not file.is_file():
        if _indexed(request, source):
            raise problem(
                409,
                "not_managed",
                "Ce document ne vient pas du dossier géré par l'admin : retirez-le de son "
                "dossier puis relancez l'indexation.",
                "This document was not uploaded here: remove it from its folder, then re-ingest.",
            )
        raise problem(404, "unknown_document", "Document inconnu.", "Unknown document.")
    file.unlink()
    return _reingest(request)


@router.post("/reingest", response_model=IngestResult)
def reingest(request: Request) -> IngestResult:
    """Bring the index in step with its folders (what `alliance-bot ingest` does)."""
    return _reingest(request)


class CrawlRequest(BaseModel):
    urls: list[Annotated[str, Field(max_length=2000)]] = Field(
        min_length=1, max_length=20, description="Start pages or sitemap.xml addresses (http or https)."
    )
    max_pages: int = Field(DEFAULT_MAX_PAGES, ge=1, le=10_000)
    max_depth: int = Field(DEFAULT_MAX_DEPTH, ge=0, le=50)
    max_bytes: int = Field(DEFAULT_MAX_BYTES, ge=1024, le=MAX_FILE_BYTES)
    delay: float = Field(DEFAULT_DELAY, ge=0, le=60, description="Seconds between two requests to a host.")


class CrawlResult(BaseModel):
    fetched: list[str]
    unchanged: list[str]
    added: list[str]
    updated: list[str]
    removed: list[str]
    kept: list[str]
    skipped: list[dict]
    not_visited: int
    requests: int
    chunks: int
    version: str
    seconds: float


@router.post("/crawl", response_model=CrawlResult)
def crawl_site(body: CrawlRequest, request: Request) -> CrawlResult:
    """Crawl a website and index its pages (what `alliance-bot ingest URL --crawl` does).
    Loopback, link-local and private addresses are refused unless the server runs with
    ALLIANCE_CRAWL_ALLOW_PRIVATE=1."""
    from bot.crawl.crawler import CrawlOptions, crawl

    settings = request.app.state.settings
    assistant = request.app.state.assistant
    options = CrawlOptions(
        body.urls,
        body.max_pages,
        body.max_depth,
        body.max_bytes,
        body.delay,
        allow_private=settings.crawl_allow_private,
    )
    began = time.perf_counter()
    with _ingest_lock:
        summary = crawl(options, settings.index, lambda: assistant.embedder, progress=False)
    request.app.state.metrics.ingest.observe(time.perf_counter() - began)
    assistant.refresh_if_changed()
    data = summary.as_dict()
    data["skipped"] = [{"url": s.path, "reason": s.reason} for s in summary.skipped]
    data["seconds"] = round(summary.seconds, 3)
    return CrawlResult(**{k: data[k] for k in CrawlResult.model_fields})


@router.get("/report", response_class=HTMLResponse)
def report(
    request: Request,
    since: Annotated[str, Query(pattern=r"^\d{1,4}[dhm]$", description="Period, e.g. `7d`, `24h`.")] = "7d",
    format: Annotated[str | None, Query(pattern="^(html|json)$")] = None,
):
    """The operator's report, as a page (default) or JSON (`?format=json` or `Accept: application/json`)."""
    from fastapi.responses import JSONResponse

    from bot.operator import report as reports

    log = request.app.state.conversation_log
    if log is None:
        raise problem(
            503,
            "log_disabled",
            "Le journal est désactivé (ALLIANCE_LOG=0).",
            "The log is off (ALLIANCE_LOG=0).",
        )
    assistant = request.app.state.assistant
    assistant.refresh_if_changed()
    log.flush(timeout=2)
    try:  # on the log's own threads, for a bounded time: a frozen database holds no request
        titles = {d.source: d.title for d in assistant.index.documents.values()}
        data = log.calls.call(
            reports.build_report,
            log.engine,
            reports.parse_since(since),
            assistant.embedder,
            titles,
            timeout=REPORT_TIMEOUT,
        )
    except Unavailable as e:
        logger.warning("report: log database unavailable (%s)", e)
        raise problem(
            503,
            "log_unavailable",
            "Le journal est indisponible : réessayez dans 30 s.",
            "The log is unavailable: try again in 30 s.",
            {"Retry-After": "30"},
        ) from None
    accept = request.headers.get("accept", "")
    wants_json = format == "json" or (format is None and "application/json" in accept)
    if wants_json:
        return JSONResponse(data)
    return HTMLResponse(reports.render_html(data))


@page_router.get("/admin", include_in_schema=False)
def admin_page(request: Request):
    if not request.app.state.settings.admin_token:
        raise problem(404, "http_error", *NOT_FOUND)
    return FileResponse(
        WIDGET_DIR / "admin.html", media_type="text/html", headers={"Cache-Control": "no-store"}
    )


@page_router.get("/admin.js", include_in_schema=False)
def admin_script(request: Request):
    if not request.app.state.settings.admin_token:
        raise problem(404, "http_error", *NOT_FOUND)
    return FileResponse(WIDGET_DIR / "admin.js", media_type="text/javascript")


def _reingest(request: Request) -> IngestResult:
    settings = request.app.state.settings
    assistant = request.app.state.assistant
    folder = uploads_dir(request)
    folder.mkdir(parents=True, exist_ok=True)
    roots = [Path(r) for r in assistant.index.manifest.roots if Path(r).exists()]
    if folder.resolve() not in [r.resolve() for r in roots]:
        roots.append(folder)
    began = time.perf_counter()
    with _ingest_lock:
        summary = ingest(roots, settings.index, lambda: assistant.embedder, progress=False)
    request.app.state.metrics.ingest.observe(time.perf_counter() - began)
    assistant.refresh_if_changed()  # this server answers from the new generation at once
    return IngestResult(
        added=summary.added,
        updated=summary.updated,
        removed=summary.removed,
        skipped=[{"path": _public_path(s.path, roots), "reason": s.reason} for s in summary.skipped],
        chunks=summary.chunks,
        version=summary.version,
        seconds=round(summary.seconds, 3),
    )


def _public_path(path: str, roots: list[Path]) -> str:
    """A skipped file as its source would be named (`uploads/x.md`): never the server's path."""
    for root in roots:
        try:
            return Path(path).relative_to(root.resolve().parent).as_posix()
        except ValueError:
            continue
    return Path(path).name


def _indexed(request: Request, source: str) -> bool:
    return source in request.app.state.assistant.index.documents


def _managed_file(folder: Path, source: str) -> Path | None:
    prefix = f"{UPLOADS}/"
    if not source.startswith(prefix) or "/" in source[len(prefix) :]:
        return None
    return folder / source[len(prefix) :]


def _safe_name(filename: str) -> str:
    """A plain file name: no folder, no control character, a known extension."""
    name = unicodedata.normalize("NFC", filename.strip())
    bad = (
        not name
        or name.startswith(".")
        or "/" in name
        or "\\" in name
        or any(unicodedata.category(ch)[0] == "C" for ch in name)
        or not re.fullmatch(r"[\w .,()'&+-]{1,200}", name)
    )
    if bad:
        raise problem(
            422,
            "invalid_filename",
            "Nom de fichier invalide (lettres, chiffres, . - _ espace).",
            "Invalid file name (letters, digits, . - _ space).",
        )
    if Path(name).suffix.lower() not in SUPPORTED_SUFFIXES:
        raise problem(
            422,
            "unsupported_format",
            "Format non pris en charge : md, txt, html, pdf, docx, odt ou pptx.",
            "Unsupported format: md, txt, html, pdf, docx, odt or pptx.",
        )
    return name
