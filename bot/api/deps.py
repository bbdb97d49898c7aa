"""The typed dependencies of the routes: the one place that reads `app.state` for them.

`create_app` stores one `Services` (`bot.api.services`) on the app; a route declares what it
needs (`served: ServedDep`, `settings: SettingsDep`, …) and FastAPI resolves each once
per request. `ServedDep` resolves the collection once, at the edge: it refreshes its index (a
finished ingest is picked up) and takes the snapshot the whole request reads, so no route
calls `refresh_if_changed()` nor reads `assistant.snapshot` itself."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Annotated

import anyio
from fastapi import Depends, Query, Request

from bot.answer.assistant import Assistant
from bot.answer.library import Library
from bot.api.access import Caller, Served, identify, resolve
from bot.api.auth import check_key
from bot.api.metrics import Metrics
from bot.api.services import Services
from bot.config import Settings
from bot.errors import admin_off, rate_limited, unknown_collection, votes_rate_limited, wrong_admin_token
from bot.operator.log import ConversationLog


async def get_services(request: Request) -> Services:
    return request.app.state.services


ServicesDep = Annotated[Services, Depends(get_services)]


async def get_caller(request: Request, services: ServicesDep) -> Caller:
    return identify(
        request.headers.get("authorization", ""), services.keys, services.settings.operator.admin_token
    )


CallerDep = Annotated[Caller, Depends(get_caller)]


def get_served(
    services: ServicesDep,
    caller: CallerDep,
    collection: Annotated[
        str | None,
        Query(max_length=40, description="The collection to read; default: the default collection."),
    ] = None,
) -> Served:
    """The collection once resolved for this request (sync: FastAPI runs it on a worker thread)."""
    return resolve(services.library, caller, collection)


ServedDep = Annotated[Served, Depends(get_served)]


async def get_settings(services: ServicesDep) -> Settings:
    return services.settings


async def get_log(services: ServicesDep) -> ConversationLog | None:
    return services.conversation_log


async def get_metrics(services: ServicesDep) -> Metrics:
    return services.metrics


SettingsDep = Annotated[Settings, Depends(get_settings)]
LogDep = Annotated[ConversationLog | None, Depends(get_log)]  # None with ALLIANCE_LOG=0
MetricsDep = Annotated[Metrics, Depends(get_metrics)]

Record = Callable[..., None]  # (question, answer, route, collection=None)


async def get_record(request: Request, services: ServicesDep) -> Record:
    """`record(question, answer, route)`: logs an answer produced for this request's client."""
    return partial(services.record, client=request.client.host if request.client else None)


RecordDep = Annotated[Record, Depends(get_record)]


def client_of(request: Request) -> str:
    """The socket's peer, or the address a trusted proxy forwarded (`ALLIANCE_TRUSTED_PROXIES`)."""
    return request.client.host if request.client else "unknown"


async def rate_limit(request: Request, services: ServicesDep) -> None:
    """One token per question and client; the first repeat of the same body is free."""
    limiter = services.limiter
    if not limiter.enabled:
        return
    body = getattr(request.state, "body", b"")
    if services.limiter_blocks:  # a network storage: keep it off the event loop
        wait = await anyio.to_thread.run_sync(limiter.retry_after, client_of(request), body)
    else:
        wait = limiter.retry_after(client_of(request), body)
    if wait:
        raise rate_limited(wait)


async def vote_limit(request: Request, services: ServicesDep) -> None:
    """Votes have their own count per client, in memory."""
    if wait := services.feedback_limiter.retry_after(client_of(request)):
        raise votes_rate_limited(wait)


def admin_on(settings: Settings) -> bool:
    """The admin token, or a keys file (its keys may administer collections)."""
    return bool(settings.operator.admin_token or settings.collections.keys_file)


async def admin_enabled(settings: SettingsDep) -> None:
    """Without `ALLIANCE_ADMIN_TOKEN` (nor a keys file) the admin routes and pages do not exist (404)."""
    if not admin_on(settings):
        raise admin_off()


async def require_admin(settings: SettingsDep, caller: CallerDep) -> None:
    """The admin token, or a key that administers at least one collection (which ones: `AdminDep`)."""
    await admin_enabled(settings)
    if not (caller.operator or (caller.key is not None and caller.key.admin)):
        raise wrong_admin_token()


@dataclass(frozen=True)
class Administered:
    """The collection an admin request works on: its name and the settings that point at it."""

    name: str
    settings: Settings
    library: Library

    @property
    def default(self) -> bool:
        return self.name == self.library.default_name

    def assistant(self) -> Assistant:
        """Its assistant on its newest generation (blocking; IndexUnavailable before a first ingest)."""
        return self.library.assistant(self.name)


def get_administered(
    services: ServicesDep,
    caller: CallerDep,
    collection: Annotated[
        str | None,
        Query(max_length=40, description="The collection administered; default: the default collection."),
    ] = None,
) -> Administered:
    """A collection the caller administers; any other is the same 404 as one that does not exist."""
    library = services.library
    name = collection or library.default_name
    if not library.registry.exists(name) or not caller.administers(name):
        raise unknown_collection()
    return Administered(name, services.settings.for_collection(name), library)


AdminDep = Annotated[Administered, Depends(get_administered)]


async def require_api_key(request: Request, settings: SettingsDep, caller: CallerDep) -> None:
    """A key of ALLIANCE_API_KEYS, or one of the keys file (it names the collections it reads)."""
    if (error := check_key(request.headers, settings.http.api_keys)) is not None and caller.key is None:
        raise error


Limited = Depends(rate_limit)
VoteLimited = Depends(vote_limit)
AdminPage = Depends(admin_enabled)
AdminAuth = Depends(require_admin)
ApiKey = Depends(require_api_key)
