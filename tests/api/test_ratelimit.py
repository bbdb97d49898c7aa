"""The rate limiter alone: cost per request and memory whatever the number of clients."""

from __future__ import annotations

import time

from bot.api.ratelimit import BoundedMemoryStorage, RateLimiter


def test_cost_per_request_does_not_grow_with_clients():
    """Above 10,000 live clients the old limiter rebuilt its table on every request."""
    limiter = RateLimiter(60)
    for i in range(12_000):
        limiter.retry_after(f"10.0.{i // 256}.{i % 256}")
    began = time.perf_counter()
    for i in range(2_000):
        assert limiter.retry_after(f"10.1.{i // 256}.{i % 256}") == 0
    per_request = (time.perf_counter() - began) / 2_000
    assert per_request < 0.0005, f"{per_request * 1000:.2f} ms per request"


def test_memory_is_bounded_whatever_the_number_of_clients():
    storage = BoundedMemoryStorage(max_keys=1_000)
    limiter = RateLimiter(60)
    limiter.storage = storage
    limiter.strategy = type(limiter.strategy)(storage)
    for i in range(5_000):
        limiter.retry_after(f"client-{i}", b"question")
    assert len(storage) <= 1_000
    # The most recent clients are still counted.
    for j in range(59):
        assert limiter.retry_after("client-4999", b"question %d" % j) == 0
    assert limiter.retry_after("client-4999", b"a third question") > 0


def test_a_repeat_is_free_once_then_paid():
    limiter = RateLimiter(2)
    assert limiter.retry_after("c", b"q1") == 0  # pays (1)
    assert limiter.retry_after("c", b"q1") == 0  # the retry: free
    assert limiter.retry_after("c", b"q2") == 0  # pays (2)
    assert limiter.retry_after("c", b"q1") > 0  # a third identical request pays: none left
    assert limiter.retry_after("d", b"q1") == 0  # another client has its own bucket
