"""Document admin (`/admin/documents`, `/admin/reingest`, `/admin/crawl`).

Every route here needs `Authorization: Bearer <ALLIANCE_ADMIN_TOKEN>` (`bot.api.deps.AdminAuth`);
with no token configured they do not exist (404). Uploaded files go to `<data dir>/uploads`
(`bot.api.uploads`), one of the index's roots, and are indexed by the same incremental ingest
as `alliance-bot ingest`."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path as FilePath
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from bot.api.access import Caller
from bot.api.deps import AdminAuth, AdminDep, Administered, CallerDep, ServicesDep
from bot.api.responses import error_responses
from bot.api.routes.documents import document_infos
from bot.api.services import Services
from bot.api.uploads import (
    UPLOADS,
    managed_file,
    public_path,
    safe_name,
    unreadable,
    uploads_dir,
)
from bot.api.uploads import store as store_file
from bot.crawl.limits import DEFAULT_DELAY, DEFAULT_MAX_BYTES, DEFAULT_MAX_DEPTH, DEFAULT_MAX_PAGES
from bot.errors import (
    UserError,
    empty_file,
    file_too_large,
    not_managed,
    operator_only,
    unknown_collection,
    unknown_document,
    unreadable_file,
)
from bot.index.collections import delete_collection, rename_collection
from bot.index.store import IngestBusy
from bot.index.stores import open_store, published_manifest
from bot.ingest.loaders import MAX_FILE_BYTES
from bot.ingest.pipeline import ingest
from bot.schema import AdminDocument, CollectionInfo, CrawlResult, IngestResult

router = APIRouter(prefix="/admin", tags=["admin"], dependencies=[AdminAuth])
# One admin ingest at a time per collection in this process (the index's file lock holds
# across processes); two collections are ingested at once.
_ingest_locks: dict[str, threading.Lock] = {}
_locks_lock = threading.Lock()


def _ingest_lock(name: str) -> threading.Lock:
    with _locks_lock:
        return _ingest_locks.setdefault(name, threading.Lock())


@router.get("/collections", response_model=list[CollectionInfo])
def list_collections(services: ServicesDep, caller: CallerDep) -> list[CollectionInfo]:
    """The collections this token or key administers, with their size and visibility."""
    registry = services.library.registry
    out = []
    for entry in registry.entries():
        if not caller.administers(entry.name):
            continue
        manifest = published_manifest(services.settings.for_collection(entry.name).index)
        out.append(
            CollectionInfo(
                name=entry.name,
                visibility=entry.visibility,
                default=entry.default,
                documents=manifest.documents if manifest else 0,
                chunks=manifest.chunks if manifest else 0,
            )
        )
    return out


class CollectionChanged(BaseModel):
    name: str = Field(description="The collection's name now (the new one after a rename).")
    deleted: bool = False
    keys: list[str] = Field(default_factory=list, description="The keys file's keys that named it, changed.")


class RenameRequest(BaseModel):
    name: str = Field(max_length=40, description="The new name (lower-case letters, digits, - and _).")


def _operated(services: Services, caller: Caller, name: str) -> None:
    """Deleting or renaming a collection rewrites the keys file: the admin token's alone. A key
    that administers the collection is told so; any other caller gets the usual 404."""
    if not services.library.registry.exists(name) or not caller.administers(name):
        raise unknown_collection()
    if not caller.operator:
        raise operator_only()


def _busy() -> UserError:
    return UserError(
        "ingest_running",
        "Un ingest de cette collection est en cours : réessayez quand il sera terminé.",
        "An ingest of this collection is running: retry when it is over.",
        status=409,
    )


CollectionName = Annotated[str, Path(max_length=40)]


@contextmanager
def _not_ingesting(name: str) -> Iterator[None]:
    """The collection's admin lock in this process, or 409 at once: an upload or crawl running
    here is not waited for (the ingest lock, taken next, refuses other processes' alike)."""
    lock = _ingest_lock(name)
    if not lock.acquire(blocking=False):
        raise _busy()
    try:
        yield
    except IngestBusy:
        raise _busy() from None
    finally:
        lock.release()


CHANGE_ERRORS = error_responses(401, 403, 404, 409, 422, 500)


@router.delete("/collections/{name}", response_model=CollectionChanged, responses=CHANGE_ERRORS)
def delete_collection_route(
    name: CollectionName, services: ServicesDep, caller: CallerDep
) -> CollectionChanged:
    """Delete a collection (never the default one): its index, its uploads, its name in the keys
    file. Refused (409) while an ingest of it runs."""
    _operated(services, caller, name)
    settings = services.settings
    with _not_ingesting(name):
        done = delete_collection(
            services.library.registry, name, settings.paths.data_dir, settings.collections.keys_file
        )
    return CollectionChanged(name=name, deleted=True, keys=done.keys)


@router.post("/collections/{name}/rename", response_model=CollectionChanged, responses=CHANGE_ERRORS)
def rename_collection_route(
    name: CollectionName, body: RenameRequest, services: ServicesDep, caller: CallerDep
) -> CollectionChanged:
    """Rename a collection (nothing embedded again); the keys that name it name the new one."""
    _operated(services, caller, name)
    settings = services.settings
    with _not_ingesting(name):
        done = rename_collection(
            services.library.registry,
            name,
            body.name,
            settings.paths.data_dir,
            settings.collections.keys_file,
        )
    return CollectionChanged(name=done.name, keys=done.keys)


@router.get("/documents", response_model=list[AdminDocument])
def list_documents(admin: AdminDep) -> list[AdminDocument]:
    """Every indexed document of the collection with its number of passages."""
    uploads = uploads_dir(admin.settings)
    if admin.default or open_store(admin.settings.index).current() is not None:
        index = admin.assistant().index
    else:
        return []  # created, nothing ingested yet
    return [
        AdminDocument(**info.model_dump(), managed=managed_file(uploads, info.source) is not None)
        for info in document_infos(index)
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
    services: ServicesDep,
    admin: AdminDep,
    filename: Annotated[str, Query(max_length=200, description="File name, e.g. `guide.md`.")],
) -> IngestResult:
    """Upload one document (the request body is the file: md, txt, html, pdf, docx, odt or pptx) and index it.
    A file of the same name is replaced."""
    name = safe_name(filename)
    limit = int(services.settings.operator.admin_max_upload_mb * 1024 * 1024)
    data = await request.body()  # already read, under twice this limit, by bot.api.guards.BodyGuard
    if len(data) > limit:
        raise file_too_large(limit)
    if not data:
        raise empty_file()
    # Checked before it replaces anything: a corrupt re-upload leaves the good file indexed.
    reason = await run_in_threadpool(unreadable, data, name)
    if reason:
        raise unreadable_file(reason)
    folder = uploads_dir(admin.settings)
    target = folder / name
    await run_in_threadpool(store_file, folder, target, data)
    result = await run_in_threadpool(_reingest, services, admin)
    skipped = next((s for s in result.skipped if FilePath(s.get("path", "")).name == name), None)
    if skipped is not None and f"{UPLOADS}/{name}" not in _indexed(admin):
        target.unlink(missing_ok=True)
        raise unreadable_file(skipped.get("reason", ""))
    return result


@router.delete("/documents/{source:path}", response_model=IngestResult)
def delete_document(source: str, services: ServicesDep, admin: AdminDep) -> IngestResult:
    """Remove an uploaded document from the collection (and its file from the managed folder)."""
    file = managed_file(uploads_dir(admin.settings), source)
    if file is None or not file.is_file():
        if source in _indexed(admin):
            raise not_managed()
        raise unknown_document()
    file.unlink()
    return _reingest(services, admin)


@router.post("/reingest", response_model=IngestResult)
def reingest(services: ServicesDep, admin: AdminDep) -> IngestResult:
    """Bring the collection's index in step with its folders (what `alliance-bot ingest` does)."""
    return _reingest(services, admin)


class CrawlRequest(BaseModel):
    urls: list[Annotated[str, Field(max_length=2000)]] = Field(
        min_length=1, max_length=20, description="Start pages or sitemap.xml addresses (http or https)."
    )
    max_pages: int = Field(DEFAULT_MAX_PAGES, ge=1, le=10_000)
    max_depth: int = Field(DEFAULT_MAX_DEPTH, ge=0, le=50)
    max_bytes: int = Field(DEFAULT_MAX_BYTES, ge=1024, le=MAX_FILE_BYTES)
    delay: float = Field(DEFAULT_DELAY, ge=0, le=60, description="Seconds between two requests to a host.")


@router.post("/crawl", response_model=CrawlResult)
def crawl_site(body: CrawlRequest, services: ServicesDep, admin: AdminDep) -> CrawlResult:
    """Crawl a website and index its pages (what `alliance-bot ingest URL --crawl` does).
    Loopback, link-local and private addresses are refused unless the server runs with
    ALLIANCE_CRAWL_ALLOW_PRIVATE=1."""
    from bot.crawl.crawler import CrawlOptions, crawl

    settings, assistant = admin.settings, services.assistant  # the model is shared by every collection
    options = CrawlOptions(
        body.urls,
        body.max_pages,
        body.max_depth,
        body.max_bytes,
        body.delay,
        allow_private=settings.operator.crawl_allow_private,
    )
    began = time.perf_counter()
    with _ingest_lock(admin.name):
        summary = crawl(options, settings.index, lambda: assistant.embedder, progress=False)
    _ingested(services, admin, time.perf_counter() - began)
    data = summary.as_dict()
    data["skipped"] = [{"url": s.path, "reason": s.reason} for s in summary.skipped]
    data["seconds"] = round(summary.seconds, 3)
    return CrawlResult(**{k: data[k] for k in CrawlResult.model_fields})


def _indexed(admin: Administered) -> dict:
    """The collection's documents by source; none before its first ingest."""
    if not admin.default and open_store(admin.settings.index).current() is None:
        return {}
    return admin.assistant().index.documents


def _ingested(services: Services, admin: Administered, seconds: float) -> None:
    """Counted, and answered from the new generation at once."""
    services.metrics.ingest.observe(seconds)
    admin.assistant()


def _reingest(services: Services, admin: Administered) -> IngestResult:
    settings, assistant = admin.settings, services.assistant  # the model is shared by every collection
    folder = uploads_dir(settings)
    folder.mkdir(parents=True, exist_ok=True)
    manifest = published_manifest(settings.index)
    published = manifest.roots if manifest is not None else ()
    roots = [FilePath(r) for r in published if FilePath(r).exists()]
    if folder.resolve() not in [r.resolve() for r in roots]:
        roots.append(folder)
    began = time.perf_counter()
    with _ingest_lock(admin.name):
        summary = ingest(roots, settings.index, lambda: assistant.embedder, progress=False)
    _ingested(services, admin, time.perf_counter() - began)
    return IngestResult(
        added=summary.added,
        updated=summary.updated,
        removed=summary.removed,
        skipped=[{"path": public_path(s.path, roots), "reason": s.reason} for s in summary.skipped],
        chunks=summary.chunks,
        version=summary.version,
        seconds=round(summary.seconds, 3),
    )
