"""`GET /metrics`: the app's counters in Prometheus' text format (`bot.api.metrics`)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from bot.api.deps import MetricsDep

router = APIRouter()


@router.get("/metrics", include_in_schema=False)
def metrics(metrics: MetricsDep) -> Response:
    return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)
