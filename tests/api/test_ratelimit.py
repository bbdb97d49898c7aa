"""The rate limiter alone: cost per request and memory whatever the number of clients."""

from __future__ import annotations

import shutil
import time

import pytest

from bot.api.ratelimit import BoundedMemoryStorage, RateLimiter
from tests.servers import start_redis


def test_cost_per_request_does_not_grow_with_clients():
    """Above 10,000 live clients the old limiter rebuilt its table on every request."""
    limiter = RateLimiter(60)
    for i in range(12_000):
        limiter.retry_after(f"10.0.{i // 256}.{i % 256}")  # no question: a plain charge
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


def test_without_a_question_every_request_pays():
    limiter = RateLimiter(2)
    assert [limiter.retry_after("c") for _ in range(3)][:2] == [0, 0]
    assert limiter.retry_after("c") > 0


def test_a_repeat_is_free_once_then_paid():
    limiter = RateLimiter(2)
    assert limiter.retry_after("c", b"q1") == 0  # pays (1)
    assert limiter.retry_after("c", b"q1") == 0  # the retry: free
    assert limiter.retry_after("c", b"q2") == 0  # pays (2)
    assert limiter.retry_after("c", b"q1") > 0  # a third identical request pays: none left
    assert limiter.retry_after("d", b"q1") == 0  # another client has its own bucket


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory):
    """A real redis-server on 127.0.0.1 (Debian's redis-server; .ci/run installs it)."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed")
    proc, url = start_redis(tmp_path_factory.mktemp("redis"))
    yield url
    proc.terminate()
    proc.wait(timeout=10)


def test_replicas_share_one_limit_through_redis(redis_url):
    replicas = [RateLimiter(3, redis_url), RateLimiter(3, redis_url)]
    waits = [replicas[i % 2].retry_after("203.0.113.1", b"q%d" % i) for i in range(4)]
    assert waits[:3] == [0, 0, 0] and waits[3] > 0  # 3 a minute across both replicas
    # The free retry is shared too: the stream on one replica, the fallback on the other.
    assert replicas[0].retry_after("203.0.113.2", b"q") == 0
    assert replicas[1].retry_after("203.0.113.2", b"q") == 0
