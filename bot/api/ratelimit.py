"""Per-client rate limit (`limits`, moving window): in bounded memory by default, in Redis
when `ALLIANCE_REDIS_URL` is set so that replicas share it.

One question costs one token: the widget retries a failed `/ask/stream` on `/ask` with the
same body, so a question is identified by (client, digest of the body) and its first repeat
within the window is free. A third identical request pays again.
"""

from __future__ import annotations

import hashlib
import logging
import math
import threading
import time
from collections import OrderedDict, deque

from limits import RateLimitItemPerMinute
from limits.storage import MovingWindowSupport, Storage, storage_from_string
from limits.strategies import MovingWindowRateLimiter

# limits' own MemoryStorage sweeps every key in a timer thread after each hit (486 ms per
# sweep with 100k keys, measured here), and keeps keys as long as they are in the window:
# this one drops idle keys in O(1) as it goes and never holds more than MAX_KEYS.
MAX_KEYS = 50_000
REDIS_TIMEOUT = 0.25  # seconds a Redis call may take before the limiter counts in memory
REDIS_RETRY = 5.0  # seconds before Redis is tried again after it failed
log = logging.getLogger("bot.api")


class BoundedMemoryStorage(Storage, MovingWindowSupport):
    """Moving-window storage for one process, at most `max_keys` keys (least recently used out)."""

    STORAGE_SCHEME = ["bounded-memory"]

    def __init__(self, uri: str | None = None, max_keys: int = MAX_KEYS, **options):
        self.max_keys = max_keys
        self._events: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()
        super().__init__(uri, **options)

    @property
    def base_exceptions(self) -> type[Exception]:
        return ValueError

    def _window(self, key: str, limit: int, expiry: int, now: float) -> deque[float]:
        events = self._events.get(key)
        if events is None or events.maxlen != limit:
            events = self._events[key] = deque(events or (), maxlen=limit)
        self._events.move_to_end(key)
        while events and events[0] <= now - expiry:
            events.popleft()
        # Forget the least recently seen keys: idle ones first, and never more than max_keys.
        while self._events:
            oldest_key, oldest = next(iter(self._events.items()))
            idle = not oldest or oldest[-1] <= now - expiry
            if oldest_key == key or not (idle or len(self._events) > self.max_keys):
                break
            self._events.popitem(last=False)
        return events

    def acquire_entry(self, key: str, limit: int, expiry: int, amount: int = 1) -> bool:
        now = time.time()
        with self._lock:
            events = self._window(key, limit, expiry, now)
            if len(events) + amount > limit:
                return False
            events.extend([now] * amount)
            return True

    def get_moving_window(self, key: str, limit: int, expiry: int) -> tuple[float, int]:
        now = time.time()
        with self._lock:
            events = self._window(key, limit, expiry, now)
            return (events[0], len(events)) if events else (now, 0)

    def __len__(self) -> int:
        return len(self._events)

    # The counter API of `Storage` (fixed windows) is not used by the moving window.
    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        raise NotImplementedError

    def get(self, key: str) -> int:
        return len(self._events.get(key, ()))

    def get_expiry(self, key: str) -> float:
        return time.time()

    def check(self) -> bool:
        return True

    def reset(self) -> int | None:
        with self._lock:
            count = len(self._events)
            self._events.clear()
            return count

    def clear(self, key: str) -> None:
        with self._lock:
            self._events.pop(key, None)


class RateLimiter:
    """With a Redis URL, counts in Redis; while Redis does not answer (absent, killed, frozen)
    it counts in this process instead, so questions are still answered and still limited,
    per replica. Each Redis call waits at most `REDIS_TIMEOUT`; after a failure Redis is
    left alone for `REDIS_RETRY` seconds."""

    def __init__(self, per_minute: int, storage_uri: str | None = None):
        self.per_minute = per_minute
        self.fallbacks = 0  # checks made in memory because Redis did not answer
        self.problem: str | None = None
        self._retry_at = 0.0
        self.memory = BoundedMemoryStorage()
        self.remote = storage_from_string(storage_uri, **_timeouts(storage_uri)) if storage_uri else None
        self.storage = self.remote or self.memory
        self.strategy = MovingWindowRateLimiter(self.storage)
        self._memory_strategy = MovingWindowRateLimiter(self.memory)
        self.limit = RateLimitItemPerMinute(max(per_minute, 1), namespace="alliance-q")
        # Seen once: the next identical request is the free retry; seen twice: it pays.
        self.repeats = RateLimitItemPerMinute(2, namespace="alliance-r")

    @property
    def enabled(self) -> bool:
        return self.per_minute > 0

    def status(self) -> str | None:
        """None while the limiter's store answers; else why not, in a few words."""
        if self.problem is None:
            return None
        return f"rate-limit store unreachable ({self.problem}): limits counted per process"

    def retry_after(self, client: str, question: bytes | None = None) -> int:
        """0 when `client` may go on (and counts the request), else seconds to wait. With
        `question` (the request body), the first repeat of the same question is free."""
        if not self.enabled:
            return 0
        if self.remote is None:
            return self._retry_after(self.strategy, client, question)
        if time.monotonic() >= self._retry_at:
            try:
                wait = self._retry_after(self.strategy, client, question)
            except Exception as e:  # noqa: BLE001 - whatever the client library raises
                self._failed(e)
            else:
                if self.problem is not None:
                    log.warning("rate-limit store answers again: limits shared again")
                    self.problem = None
                return wait
        self.fallbacks += 1
        return self._retry_after(self._memory_strategy, client, question)

    def _failed(self, error: Exception) -> None:
        if self.problem is None:  # one line an outage, not one a request
            log.warning(
                "rate-limit store unreachable (%s): counting in this process for now", type(error).__name__
            )
        self.problem = type(error).__name__
        self._retry_at = time.monotonic() + REDIS_RETRY

    def _retry_after(self, strategy, client: str, question: bytes | None) -> int:
        if question is None:
            return self._charge(strategy, client)
        digest = hashlib.blake2b(question, digest_size=16).hexdigest()
        _, seen_before = strategy.get_window_stats(self.repeats, client, digest)
        seen_before = self.repeats.amount - seen_before  # remaining -> used
        strategy.hit(self.repeats, client, digest)
        if seen_before == 1:
            return 0  # the retry of a question already paid for
        return self._charge(strategy, client)

    def _charge(self, strategy, client: str) -> int:
        if strategy.hit(self.limit, client):
            return 0
        reset, _ = strategy.get_window_stats(self.limit, client)
        return max(1, math.ceil(reset - time.time()))


def _timeouts(uri: str) -> dict:
    """Short socket timeouts for Redis: a frozen server costs a request a quarter second once."""
    if uri.startswith(("redis://", "rediss://", "redis+unix://")):
        return {"socket_timeout": REDIS_TIMEOUT, "socket_connect_timeout": REDIS_TIMEOUT}
    return {}
