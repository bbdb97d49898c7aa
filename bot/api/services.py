"""What the app holds for its routes, made once by `create_app`: the settings, the assistant,
the rate limiters, the conversation log, the metrics and the widget's script. Routes get them
through `bot.api.deps`, never from `app.state` themselves."""

from __future__ import annotations

import atexit
import logging
from dataclasses import dataclass
from pathlib import Path

from bot.answer.assistant import Assistant
from bot.answer.library import Library
from bot.api.metrics import Metrics
from bot.api.ratelimit import RateLimiter
from bot.api.static import WIDGET_MAX_AGE, StaticAsset
from bot.collections import Registry
from bot.config import Settings
from bot.keys import KeysFile
from bot.operator.log import ConversationLog
from bot.schema import Answer

WIDGET_DIR = Path(__file__).resolve().parent.parent / "widget"
log = logging.getLogger("bot.api")


@dataclass
class Services:
    settings: Settings
    assistant: Assistant
    limiter: RateLimiter  # questions, per client (in Redis when one is configured)
    limiter_blocks: bool  # its store is a network call: checks go off the event loop
    feedback_limiter: RateLimiter  # votes, counted apart from questions, in memory
    conversation_log: ConversationLog | None  # None with ALLIANCE_LOG=0
    metrics: Metrics
    widget: StaticAsset
    library: Library  # every collection's assistant, the default one being `assistant`
    keys: KeysFile  # ALLIANCE_KEYS_FILE

    @classmethod
    def start(cls, settings: Settings, assistant: Assistant) -> Services:
        limiter = RateLimiter(settings.http.rate_limit, settings.http.redis_url)
        conversation_log = None
        if settings.operator.log:
            conversation_log = ConversationLog(
                settings.operator.log_url,
                settings.operator.log_days,
                pending_path=settings.paths.data_dir / "log-pending.sqlite",
            )
            atexit.register(conversation_log.close)  # writes what is still queued
        return cls(
            settings=settings,
            assistant=assistant,
            limiter=limiter,
            limiter_blocks=limiter.remote is not None,
            feedback_limiter=RateLimiter(settings.http.rate_limit),
            conversation_log=conversation_log,
            metrics=Metrics(assistant, limiter, conversation_log),
            widget=StaticAsset(
                WIDGET_DIR / "widget.js", "text/javascript", WIDGET_MAX_AGE, settings.http.compress
            ),
            library=Library(assistant, Registry(settings.collections.root, settings.collections.default)),
            keys=KeysFile(settings.collections.keys_file),
        )

    def current_assistant(self) -> Assistant:
        """The assistant on the newest published index: picks up a finished ingest (a failed
        one changes nothing). Blocking (it may load a generation): call it off the event loop."""
        self.assistant.refresh_if_changed()
        return self.assistant

    def ingested(self, seconds: float) -> None:
        """After an ingest run here: counted, and answered from the new generation at once."""
        self.metrics.ingest.observe(seconds)
        self.assistant.refresh_if_changed()

    def record(
        self,
        question: str,
        answer: Answer,
        route: str,
        client: str | None = None,
        collection: str | None = None,
    ) -> None:
        """The log hook: called once per answer produced. Only queues; never fails the request.
        `collection`: the one answered from (the default one is logged as NULL, as before)."""
        registry = self.library.registry
        if collection == registry.default:
            collection = None
        try:
            self.metrics.answers.labels(status=answer.status).inc()
            name = collection or registry.default
            label = name if registry.entry(name).visibility == "public" else "private"
            self.metrics.collection_answers.labels(label, answer.status).inc()
            if self.conversation_log is not None:
                self.conversation_log.record(answer, question, client, route, collection)
        except Exception:
            log.exception("could not log an answer")
