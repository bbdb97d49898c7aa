"""`GET /admin/report`: the operator's report over the conversation log (`bot.operator.report`),
as a page or JSON. Behind the admin token, like the document admin."""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse

from bot.api.deps import AdminAuth, AdminDep, LogDep
from bot.errors import log_off, log_unavailable
from bot.operator.log.store import Unavailable

router = APIRouter(prefix="/admin", tags=["admin"], dependencies=[AdminAuth])
logger = logging.getLogger("bot.api")
REPORT_TIMEOUT = 10.0
RETRY_AFTER = 30


@router.get("/report", response_class=HTMLResponse)
def report(
    request: Request,
    log: LogDep,
    admin: AdminDep,
    since: Annotated[str, Query(pattern=r"^\d{1,4}[dhm]$", description="Period, e.g. `7d`, `24h`.")] = "7d",
    format: Annotated[str | None, Query(pattern="^(html|json)$")] = None,
):
    """The operator's report, as a page (default) or JSON (`?format=json` or `Accept: application/json`)."""
    from bot.operator import report as reports

    if log is None:
        raise log_off()
    log.flush(timeout=2)
    try:  # on the log's own threads, for a bounded time: a frozen database holds no request
        assistant = admin.assistant()
        titles = {d.source: d.title for d in assistant.index.documents.values()}
        data = log.calls.call(
            reports.build_report,
            log.engine,
            reports.parse_since(since),
            assistant.embedder,
            titles,
            None,
            None if admin.default else admin.name,  # one collection's answers, never another's
            timeout=REPORT_TIMEOUT,
        )
    except Unavailable as e:
        logger.warning("report: log database unavailable (%s)", e)
        raise log_unavailable(RETRY_AFTER) from None
    accept = request.headers.get("accept", "")
    wants_json = format == "json" or (format is None and "application/json" in accept)
    if wants_json:
        return JSONResponse(data)
    return HTMLResponse(reports.render_html(data))
