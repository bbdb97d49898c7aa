"""API keys of the clients' routes (`/v1`, `/mcp`): `ALLIANCE_API_KEYS`, comma-separated.

Unset, those routes are open like `/ask`. Set, each request needs `Authorization: Bearer
<key>`; every configured key is compared, in constant time, whichever matches."""

from __future__ import annotations

import hmac

from fastapi import Request

from bot.errors import UserError


def key_accepted(authorization: str, keys: list[str]) -> bool:
    scheme, _, given = authorization.partition(" ")
    sent = given.strip().encode()
    matched = False
    for key in keys:  # no early exit: the time taken does not tell which key is close
        matched |= hmac.compare_digest(sent, key.encode())
    return scheme.lower() == "bearer" and matched


def wrong_key() -> UserError:
    return UserError(
        "invalid_api_key",
        "Clé d'API absente ou incorrecte : envoyez "
        "« Authorization: Bearer <clé> » avec une clé de ALLIANCE_API_KEYS.",
        "Missing or wrong API key: send 'Authorization: Bearer <key>' with a key from ALLIANCE_API_KEYS.",
        status=401,
        headers={"WWW-Authenticate": "Bearer"},
    )


def check_key(headers, keys: list[str]) -> UserError | None:
    """The error to answer, or None when the request may go on."""
    if not keys:
        return None
    return None if key_accepted(headers.get("authorization", ""), keys) else wrong_key()


async def require_api_key(request: Request) -> None:
    error = check_key(request.headers, request.app.state.settings.api_key_list)
    if error is not None:
        raise error
