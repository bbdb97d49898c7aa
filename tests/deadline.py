"""A deadline for a step that must not take long: the test fails when it passes, rather than
running on for the minutes a regression would cost (SIGALRM: the main thread, on POSIX)."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager


class DeadlinePassed(AssertionError):
    pass


@contextmanager
def within(seconds: float) -> Iterator[None]:
    began = time.perf_counter()

    def expire(signum, frame) -> None:
        raise DeadlinePassed(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert time.perf_counter() - began < seconds
