"""The routes package (`bot/api/routes/`): every router is served by `create_app`, and no route
reads `app.state` or refreshes the index itself (that is `bot.api.deps`' job)."""

from __future__ import annotations

import importlib
import pkgutil
import re
from pathlib import Path

import httpx
import pytest

import bot.api.routes as routes
from bot.api.app import create_app
from tests.api.conftest import served

MODULES = [m.name for m in pkgutil.iter_modules(routes.__path__)]


def test_the_package_has_its_resources():
    expected = {"admin", "ask", "chat", "documents", "feedback", "health", "metrics", "pages", "report"}
    assert expected | {"sources"} == set(MODULES)


def test_every_route_of_every_module_is_served(assistant, settings):
    """A route left out of `create_app` answers 404 `not_found` (or 405 for a missing method)."""
    app = create_app(settings.model_copy(update={"log": False, "admin_token": "t" * 24}), assistant)
    checked = []
    with served(app) as url:
        for name in MODULES:
            router = importlib.import_module(f"bot.api.routes.{name}").router
            for route in router.routes:
                path = re.sub(r"\{[^}]+\}", "x", route.path)
                for method in route.methods:
                    r = httpx.request(method, f"{url}{path}", timeout=60)
                    assert r.status_code != 405, (name, method, path)
                    is_json = r.headers.get("content-type", "").startswith("application/json")
                    missing = r.status_code == 404 and is_json and r.json().get("code") == "not_found"
                    assert not missing, (name, method, path)
                    checked.append((method, path))
    assert len(checked) >= 20


@pytest.mark.parametrize("name", MODULES)
def test_routes_take_what_they_need_from_the_dependencies(name):
    source = (Path(routes.__path__[0]) / f"{name}.py").read_text(encoding="utf-8")
    assert "app.state" not in source
    assert "refresh_if_changed" not in source


def test_a_request_refused_before_any_route_is_counted_under_its_route(assistant, settings):
    """The body guard answers a too large `/ask` before routing; its metric still says `/ask`."""
    app = create_app(settings.model_copy(update={"log": False}), assistant)
    with served(app) as url:
        r = httpx.post(f"{url}/ask", content=b"x" * (settings.max_body_bytes + 1), timeout=60)
        assert r.status_code == 413
        metrics = httpx.get(f"{url}/metrics", timeout=60).text
    refused = [line for line in metrics.splitlines() if 'status="413"' in line and "_total" in line]
    assert refused and all('route="/ask"' in line for line in refused), refused
