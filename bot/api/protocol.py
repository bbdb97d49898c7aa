"""uvicorn's h11 protocol with a deadline for the request head.

uvicorn waits for a request head as long as the client likes (its keep-alive timeout only
starts after a response): with a connection cap, a few hundred silent connections would
turn every visitor away. Here a connection that has not sent a whole head within
`HEAD_TIMEOUT` seconds of opening (or of its previous response) is closed. Bodies have
their own deadline (`bot.api.guards.BodyGuard`).
"""

from __future__ import annotations

import asyncio

from uvicorn.protocols.http.h11_impl import H11Protocol

HEAD_TIMEOUT = 10.0


class HeadDeadlineH11Protocol(H11Protocol):
    head_timeout = HEAD_TIMEOUT
    _head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        self._arm_head_timer()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._arm_head_timer()

    def connection_lost(self, exc) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
        super().connection_lost(exc)

    def _arm_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
        self._head_timer = self.loop.call_later(self.head_timeout, self._head_expired, self.cycle)

    def _head_expired(self, cycle_when_armed) -> None:
        # A new request since the timer was armed means a head arrived in time.
        if self.cycle is cycle_when_armed and not self.transport.is_closing():
            self.transport.close()


def with_head_timeout(seconds: float) -> type[HeadDeadlineH11Protocol]:
    return type("HeadDeadlineH11Protocol", (HeadDeadlineH11Protocol,), {"head_timeout": seconds})
