"""The app's counters (requests, latency, answers, feedback, ingests, index, stores), one registry
per app, and the middleware that counts requests; `GET /metrics` is `bot.api.routes.metrics`."""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

# Any other method (a client may invent one per request) is counted as "other": labels stay bounded.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


class Metrics:
    """One registry per app, so that two apps in one process never mix their counts."""

    def __init__(self, assistant, limiter=None, conversation_log=None):
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "alliance_http_requests",
            "HTTP requests by route and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "alliance_http_request_duration_seconds",
            "HTTP request latency by route.",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.answers = Counter(
            "alliance_answers", "Answers given, by status.", ["status"], registry=self.registry
        )
        # /metrics is public: a private collection's name never becomes a label, its answers
        # are counted under "private"; labels stay bounded (public collections that exist).
        self.collection_answers = Counter(
            "alliance_collection_answers",
            "Answers given, by collection (public ones by name, the private ones together) and status.",
            ["collection", "status"],
            registry=self.registry,
        )
        self.feedback = Counter(
            "alliance_feedback", "Votes recorded, by rating.", ["rating"], registry=self.registry
        )
        self.ingest = Histogram(
            "alliance_ingest_duration_seconds",
            "Ingests run from the admin routes.",
            buckets=(0.1, 0.5, 1, 2, 5, 10, 30, 60, 300),
            registry=self.registry,
        )
        self.registry.register(_IndexCollector(assistant))
        self.registry.register(_StoresCollector(limiter, conversation_log))


class _IndexCollector:
    """The loaded index's size, read at scrape time."""

    def __init__(self, assistant, limiter=None, conversation_log=None):
        self.assistant = assistant

    def collect(self):
        index = self.assistant.index
        documents = GaugeMetricFamily("alliance_index_documents", "Documents in the loaded index.")
        chunks = GaugeMetricFamily("alliance_index_chunks", "Passages in the loaded index.")
        if index is not None:
            documents.add_metric([], index.manifest.documents)
            chunks.add_metric([], index.manifest.chunks)
        return [documents, chunks]


class _StoresCollector:
    """The optional stores, read at scrape time: how often the limiter fell back to memory
    (Redis unreachable), and the answers waiting for, or lost by, the log's database."""

    def __init__(self, limiter, conversation_log):
        self.limiter, self.log = limiter, conversation_log

    def collect(self):
        out = []
        if self.limiter is not None:
            fallbacks = CounterMetricFamily(
                "alliance_ratelimit_fallback",
                "Rate-limit checks made in memory because Redis did not answer.",
            )
            fallbacks.add_metric([], self.limiter.fallbacks)
            out.append(fallbacks)
        if self.log is not None:
            counts = self.log.counts()
            pending = GaugeMetricFamily("alliance_log_pending", "Answers waiting for the log's database.")
            pending.add_metric([], counts["pending"])
            in_memory = GaugeMetricFamily(
                "alliance_log_pending_in_memory",
                "Of those, answers held in memory because the pending file cannot be written (disk full).",
            )
            in_memory.add_metric([], counts["in_memory"])
            quarantined = GaugeMetricFamily(
                "alliance_log_quarantined",
                "Answers the log's database refused (DataError…), set aside in the pending file's "
                "quarantine table instead of blocking the answers behind them.",
            )
            quarantined.add_metric([], counts["quarantined"])
            dropped = CounterMetricFamily("alliance_log_dropped", "Answers not logged (past the bounds).")
            dropped.add_metric([], counts["dropped"])
            out += [pending, in_memory, quarantined, dropped]
        return out


class MetricsMiddleware:
    """Counts every HTTP request by its route template (never the raw path: bounded labels)."""

    def __init__(self, app, metrics: Metrics, known_paths: frozenset[str] = frozenset()):
        self.app, self.metrics, self.known_paths = app, metrics, known_paths

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        began = time.perf_counter()
        status = 500

        async def record_status(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, record_status)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", None) or (
                scope["path"] if scope["path"] in self.known_paths else "other"
            )
            method = scope.get("method", "") if scope.get("method") in METHODS else "other"
            self.metrics.requests.labels(method, path, str(status)).inc()
            self.metrics.latency.labels(method, path).observe(time.perf_counter() - began)
