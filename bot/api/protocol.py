"""uvicorn's h11 protocol with a deadline for the request head and a cap per client.

uvicorn waits for a request head as long as the client likes (its keep-alive timeout only
starts after a response): with a connection cap, a few hundred silent connections would
turn every visitor away. Here a connection that has not sent a whole head within
`HEAD_TIMEOUT` seconds of opening (or of its previous response) is closed; the deadline
is not moved by bytes that trickle in. Bodies have their own deadline
(`bot.api.guards.BodyGuard`).

uvicorn's `limit_concurrency` counts every open connection, whoever opened it: one client
re-opening a couple of hundred half-sent heads kept it reached, and everybody else got 503.
So one address may hold at most `per_client` connections at once; past that its new
connections get 429 and are closed at once. A trusted proxy is exempt (it carries many
clients; it limits them itself).
"""

from __future__ import annotations

import asyncio
from collections import Counter

from uvicorn.protocols.http.h11_impl import H11Protocol

HEAD_TIMEOUT = 10.0
_REFUSAL = b"Trop de connexions ouvertes / too many open connections.\n"
TOO_MANY = (
    b"HTTP/1.1 429 Too Many Requests\r\ncontent-type: text/plain; charset=utf-8\r\n"
    b"content-length: %d\r\nretry-after: 10\r\nconnection: close\r\n\r\n%s" % (len(_REFUSAL), _REFUSAL)
)


class HeadDeadlineH11Protocol(H11Protocol):
    head_timeout = HEAD_TIMEOUT
    per_client = 0  # 0: no cap per client
    exempt: frozenset[str] = frozenset()
    open_per_client: Counter  # set per server by `protocol_class`
    _head_timer: asyncio.TimerHandle | None = None
    _counted: str | None = None
    _rejected = False  # closed in `connection_made`, before uvicorn knew of it

    def connection_made(self, transport) -> None:
        peer = transport.get_extra_info("peername")
        host = peer[0] if isinstance(peer, tuple) and peer else None
        if self.per_client and host is not None and host not in self.exempt:
            if self.open_per_client[host] >= self.per_client:
                self._rejected = True
                transport.write(TOO_MANY)
                transport.close()
                return
            self.open_per_client[host] += 1
            self._counted = host
        super().connection_made(transport)
        self._arm_head_timer()

    def data_received(self, data: bytes) -> None:
        if self._rejected:
            return
        super().data_received(data)

    def eof_received(self) -> None:
        if not self._rejected:
            super().eof_received()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._arm_head_timer()

    def connection_lost(self, exc) -> None:
        if self._counted is not None:
            self.open_per_client[self._counted] -= 1
            if self.open_per_client[self._counted] <= 0:
                del self.open_per_client[self._counted]
            self._counted = None
        if self._rejected:
            return
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


def protocol_class(
    head_timeout: float, per_client: int = 0, exempt: list[str] | tuple[str, ...] = ()
) -> type[HeadDeadlineH11Protocol]:
    """The protocol of one server: its head deadline, and its own count of connections per client."""
    return type(
        "HeadDeadlineH11Protocol",
        (HeadDeadlineH11Protocol,),
        {
            "head_timeout": head_timeout,
            "per_client": per_client,
            "exempt": frozenset(exempt),
            "open_per_client": Counter(),
        },
    )


def with_head_timeout(seconds: float) -> type[HeadDeadlineH11Protocol]:
    return protocol_class(seconds)
