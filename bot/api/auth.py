"""Bearer checks: the admin token (`ALLIANCE_ADMIN_TOKEN`) and the clients' API keys
(`ALLIANCE_API_KEYS`, comma-separated, for `/v1` and `/mcp`).

Unset, the keys leave those routes open like `/ask`. Set, each request needs
`Authorization: Bearer <key>`; every configured key is compared, in constant time,
whichever matches."""

from __future__ import annotations

import hmac
from collections.abc import Sequence

from bot.errors import UserError, wrong_key


def bearer_matches(authorization: str, token: str) -> bool:
    """`Authorization: Bearer <token>`, compared in constant time."""
    scheme, _, given = authorization.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())


def key_accepted(authorization: str, keys: Sequence[str]) -> bool:
    scheme, _, given = authorization.partition(" ")
    sent = given.strip().encode()
    matched = False
    for key in keys:  # no early exit: the time taken does not tell which key is close
        matched |= hmac.compare_digest(sent, key.encode())
    return scheme.lower() == "bearer" and matched


def check_key(headers, keys: Sequence[str]) -> UserError | None:
    """The error to answer, or None when the request may go on."""
    if not keys:
        return None
    return None if key_accepted(headers.get("authorization", ""), keys) else wrong_key()
