"""`GET /health` (and `HEAD`): ready, degraded (an optional store is unreachable) or not ready."""

from __future__ import annotations

import logging

import anyio
from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response

from bot.api.access import Caller, readable
from bot.api.deps import CallerDep, ServicesDep
from bot.api.services import Services
from bot.errors import body, not_ready
from bot.schema import Health, NotReady

router = APIRouter()
log = logging.getLogger("bot.api")

# /health never waits for the worker threads that questions use (the Docker check allows 5 s).
_HEALTH_THREADS = anyio.CapacityLimiter(2)


@router.get(
    "/health",
    response_model=Health,
    responses={
        503: {"model": NotReady, "description": "L'index n'est pas utilisable (détail dans le journal)."}
    },
)
async def health(services: ServicesDep, caller: CallerDep):
    try:
        assistant = await anyio.to_thread.run_sync(_ready, services, limiter=_HEALTH_THREADS)
        reasons = degraded(services)
        log_counts = services.conversation_log.counts() if services.conversation_log is not None else None
        names = [e.name for e in readable(services.library, caller)]
        default = services.library.default_name
        return Health(
            status="degraded" if reasons else "ready",
            index=assistant.info(),
            reasons=reasons,
            log=log_counts,
            collection=default if default in names else None,  # a private one is not named
            collections=names,
            store=assistant.snapshots.store.kind,  # not where: no path or host to the public
        )
    except Exception:  # not ready is an answer, not an error page; the reason goes to the log
        log.exception("health: not ready")
        return JSONResponse(NotReady(**body(not_ready())).model_dump(), status_code=503)


def _ready(services: Services):
    """The assistant, once its store answers (a database store that is away: not ready).
    Blocking: on a worker thread of its own, never on the event loop."""
    assistant = services.current_assistant()
    assistant.snapshots.store.published()
    return assistant


def degraded(services: Services) -> list[str]:
    """What is unreachable among the stores that answers do not depend on."""
    reasons = []
    if services.conversation_log is not None and (why := services.conversation_log.status()):
        reasons.append(why)
    if why := services.limiter.status():
        reasons.append(why)
    return reasons


@router.head("/health", include_in_schema=False)
async def health_head(services: ServicesDep) -> Response:
    """For probes that send HEAD (load balancers, `curl -I`)."""
    response = await health(services, Caller())
    return Response(status_code=503 if isinstance(response, JSONResponse) else 200)
