"""Micro-batching: queries that arrive together are embedded in one forward pass.

Under load, one pass over 8 short queries costs little more than one over a single
query, and passes run one at a time (the model already uses every core), so requests
that wait for the model are better served together than in a queue. One worker
thread runs every pass; a caller hands it its text and waits for its vector.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field


@dataclass
class _Pending:
    text: str
    done: threading.Event = field(default_factory=threading.Event)
    vector: object = None  # what `encode` gave for this text
    error: BaseException | None = None


class QueryBatcher:
    """Embeds concurrent queries in shared calls of `encode` (a list of texts -> one result each:
    a vector, or a vector and its token vectors).

    A query arriving at an idle batcher is embedded at once. While a pass runs, the
    queries that arrive wait for the next one; after a pass that held more than one
    query (so there is load), the worker also waits up to `max_wait` seconds for
    stragglers before starting the next pass.
    """

    def __init__(self, encode: Callable[[list[str]], Sequence], max_batch: int = 32, max_wait: float = 0.002):
        self._encode = encode
        self.max_batch = max_batch
        self.max_wait = max_wait
        self._queue: queue.SimpleQueue[_Pending] = queue.SimpleQueue()
        self._start = threading.Lock()
        self._worker: threading.Thread | None = None
        self.batches = 0  # passes run, for tests and benches
        self.largest = 0

    def encode(self, text: str):
        pending = _Pending(text)
        self._queue.put(pending)
        if self._worker is None:
            with self._start:
                if self._worker is None:
                    self._worker = threading.Thread(target=self._run, name="query-batcher", daemon=True)
                    self._worker.start()
        pending.done.wait()
        if pending.error is not None:
            raise pending.error
        return pending.vector

    def _run(self) -> None:
        busy = False
        while True:
            batch = [self._queue.get()]
            deadline = time.monotonic() + (self.max_wait if busy else 0.0)
            while len(batch) < self.max_batch:
                remaining = deadline - time.monotonic()
                try:
                    batch.append(
                        self._queue.get(timeout=remaining) if remaining > 0 else self._queue.get_nowait()
                    )
                except queue.Empty:
                    break
            busy = len(batch) > 1
            self.batches += 1
            self.largest = max(self.largest, len(batch))
            try:
                vectors = self._encode([p.text for p in batch])
            except BaseException as e:  # every waiting caller gets the error, not a hang
                for p in batch:
                    p.error = e
                    p.done.set()
                continue
            for p, vector in zip(batch, vectors, strict=True):
                p.vector = vector
                p.done.set()
