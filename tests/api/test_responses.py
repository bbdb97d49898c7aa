"""One error body (`bot.errors.body`), whoever sends it: a route's error, the body guard
before any route, the `/mcp` key check; OpenAI's shape on `/v1`, and a message that may name
a path is never sent. Over a real uvicorn in this process."""

from __future__ import annotations

import httpx
import pytest

from bot.api.app import create_app
from bot.errors import (
    IndexUnavailable,
    body,
    internal_error,
    invalid_request,
    rate_limited,
    too_large,
    unsupported,
    wrong_key,
)
from tests.api.conftest import served

KEY = "sk-responses-0123456789"
LIMIT = 4096


@pytest.fixture(scope="module")
def url(assistant, settings):
    own = settings.model_copy(
        update={"log": False, "rate_limit": 0, "max_body_bytes": LIMIT, "api_keys": KEY}
    )
    with served(create_app(own, assistant)) as address:
        yield address


V1 = {"Authorization": f"Bearer {KEY}"}


def test_the_guard_and_the_routes_send_the_same_shape(url):
    big = b'{"question": "' + b"x" * LIMIT + b'"}'
    guarded = httpx.post(f"{url}/ask", content=big, timeout=30)
    assert guarded.status_code == 413 and guarded.json() == body(too_large(LIMIT))
    routed = httpx.post(f"{url}/ask", json={"question": ""}, timeout=30)
    assert routed.status_code == 422 and set(routed.json()) == {"code", "detail", "detail_en"}


def test_v1_errors_are_in_openai_shape_from_the_guard_and_the_routes(url):
    guarded = httpx.post(f"{url}/v1/chat/completions", content=b"{" + b" " * LIMIT + b"}", headers=V1)
    assert guarded.status_code == 413 and guarded.json() == body(too_large(LIMIT), openai=True)
    keyless = httpx.get(f"{url}/v1/models", timeout=30)
    assert keyless.status_code == 401 and keyless.json() == body(wrong_key(), openai=True)
    invalid = httpx.post(f"{url}/v1/chat/completions", json={"model": "x", "messages": []}, headers=V1)
    assert invalid.status_code == 400  # OpenAI's status for what the rest of the API calls 422
    assert invalid.json()["error"]["type"] == "invalid_request_error"
    assert invalid.json()["error"]["param"] == "messages"


def test_mcp_refuses_a_missing_key_in_the_apis_shape(url):
    r = httpx.post(f"{url}/mcp", json={}, timeout=30)
    assert r.status_code == 401 and r.json() == body(wrong_key())
    assert r.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize("openai", [False, True])
def test_a_message_that_may_name_a_path_is_never_sent(openai):
    private = IndexUnavailable("Aucun index dans /srv/secret/index : lancez `alliance-bot ingest`.")
    sent = body(private, openai)
    assert "/srv/secret" not in str(sent)
    code = sent["error"]["code"] if openai else sent["code"]
    assert code == "index_unavailable"


@pytest.mark.parametrize(
    "error, kind",
    [
        (invalid_request("k", "invalide"), "invalid_request_error"),
        (unsupported("tools", "pas d'outils", "no tools"), "invalid_request_error"),
        (rate_limited(3), "rate_limit_error"),
        (wrong_key(), "authentication_error"),
        (internal_error(), "server_error"),
    ],
)
def test_openai_shape_carries_type_param_and_both_languages(error, kind):
    sent = body(error, openai=True)["error"]
    assert sent["type"] == kind and sent["code"] == error.code
    assert (sent["message"], sent["message_en"]) == (error.detail, error.detail_en)
    assert sent["param"] == getattr(error, "param", None)
