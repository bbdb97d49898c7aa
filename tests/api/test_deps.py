"""The routes' dependencies (`bot.api.deps`) on a real uvicorn in this process: the index is
refreshed once per request, by the dependency and nowhere else, and a finished ingest is
answered from at once; the admin token is checked before any admin route runs, with one body."""

from __future__ import annotations

import json
import shutil

import httpx
import pytest

from bot.answer.assistant import Assistant
from bot.api.app import create_app
from bot.ingest.pipeline import ingest
from tests.api.conftest import served

TOKEN = "deps-admin-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
NEW_DOC = "# Le rucher\n\nLe rucher de Tilleul abrite douze ruches depuis 2021.\n"


@pytest.fixture(scope="module")
def admin_app(assistant, settings, embedder, tmp_path_factory):
    """An app with the admin routes on, over its own copy of the session's index and its own
    documents folder (a test publishes a new generation). Yields (url, assistant, settings)."""
    root = tmp_path_factory.mktemp("deps")
    shutil.copytree(settings.index_dir, root / "index")
    shutil.copytree(settings.documents_dir, root / "documents")
    own = settings.model_copy(
        update={
            "index_dir": root / "index",
            "documents_dir": root / "documents",
            "data_dir": root / "data",
            "admin_token": TOKEN,
            "log": False,
            "rate_limit": 0,
        }
    )
    own_assistant = Assistant(own.answer, embedder=embedder)  # `assistant`: the session's index is built
    with served(create_app(own, own_assistant)) as url:
        yield url, own_assistant, own


@pytest.fixture
def refreshes(admin_app, monkeypatch):
    """Counts the calls to the snapshots' refresh (the real one still runs)."""
    _, assistant, _ = admin_app
    calls = []
    real = assistant.snapshots.refresh_if_changed

    def counted():
        calls.append(1)
        real()

    monkeypatch.setattr(assistant.snapshots, "refresh_if_changed", counted)
    return calls


QUESTION = {"question": "Qui a lancé l'Alliance Dynamique ?"}
FRESH_ROUTES = [
    ("GET", "/documents", None),
    ("GET", "/sources/documents/alliance-dynamique.md?start=0&end=20", None),
    ("GET", "/v1/models", None),
    ("POST", "/ask", QUESTION),
    ("POST", "/search", QUESTION),
    ("GET", "/admin/documents", None),
    ("GET", "/health", None),
]


@pytest.mark.parametrize("method, path, body", FRESH_ROUTES)
def test_the_index_is_refreshed_once_per_request(admin_app, refreshes, method, path, body):
    url, _, _ = admin_app
    r = httpx.request(method, f"{url}{path}", json=body, headers=AUTH, timeout=60)
    assert r.status_code == 200, r.text
    assert len(refreshes) == 1


def test_a_published_ingest_is_answered_at_once(admin_app):
    """Another process's ingest (here: a direct call) publishes a generation; the next request
    sees it without any reload, because the assistant dependency refreshes."""
    url, assistant, own = admin_app
    before = {d["source"] for d in httpx.get(f"{url}/documents", timeout=30).json()}
    served_version = assistant.info().version
    (own.documents_dir / "rucher.md").write_text(NEW_DOC, encoding="utf-8")
    ingest([own.documents_dir], own.index, lambda: assistant.embedder, progress=False)
    assert assistant.info().version == served_version  # nothing reloaded it yet
    after = {d["source"] for d in httpx.get(f"{url}/documents", timeout=30).json()}
    assert after - before == {f"{own.documents_dir.name}/rucher.md"}
    assert assistant.info().version != served_version


ADMIN_ROUTES = [
    ("GET", "/admin/documents"),
    ("POST", "/admin/documents?filename=intrus.md"),
    ("DELETE", "/admin/documents/uploads/intrus.md"),
    ("POST", "/admin/reingest"),
    ("POST", "/admin/crawl"),
    ("GET", "/admin/report"),
]
WRONG = [
    {},
    {"Authorization": "Bearer wrong"},
    {"Authorization": TOKEN},  # no scheme
    {"Authorization": f"Basic {TOKEN}"},
    {"Authorization": f"Bearer {TOKEN}x"},
]


def test_a_wrong_admin_token_gets_one_body_and_reaches_no_route(admin_app):
    url, assistant, own = admin_app
    served_version = assistant.info().version
    refusals = set()
    for method, path in ADMIN_ROUTES:
        for headers in WRONG:
            r = httpx.request(method, f"{url}{path}", headers=headers, content=b"# Intrus\n\nx", timeout=30)
            assert r.status_code == 401, (path, headers, r.text)
            assert r.headers["www-authenticate"] == "Bearer"
            refusals.add(r.content)
    assert len(refusals) == 1
    assert httpx.Response(401, content=refusals.pop()).json() == {
        "code": "unauthorized",
        "detail": "Jeton d'administration absent ou incorrect.",
        "detail_en": "Missing or wrong admin token.",
    }
    assert not (own.data_path / "uploads" / "intrus.md").exists()  # the upload route never ran
    assert httpx.get(f"{url}/health", timeout=30).json()["index"]["version"] == served_version  # nor reingest


def test_the_admin_scheme_is_case_insensitive(admin_app):
    url, _, _ = admin_app
    r = httpx.get(f"{url}/admin/documents", headers={"Authorization": f"bearer  {TOKEN}"}, timeout=30)
    assert r.status_code == 200 and r.json() and all("managed" in d for d in r.json())


def test_without_a_token_every_admin_path_is_absent_alike(assistant, settings):
    app = create_app(settings.model_copy(update={"log": False, "rate_limit": 0}), assistant)
    with served(app) as url:
        answers = [
            httpx.request(method, f"{url}{path}", headers=AUTH, content=b"# x", timeout=30)
            for method, path in [*ADMIN_ROUTES, ("GET", "/admin"), ("GET", "/admin.js")]
        ]
        paths = httpx.get(f"{url}/openapi.json", timeout=30).json()["paths"]
    assert {r.status_code for r in answers} == {404}
    assert {r.content for r in answers} == {answers[0].content}
    assert answers[0].json()["code"] == "http_error"
    assert not any(p.startswith("/admin") for p in paths)


EDGE_ROUTES = ["ask", "stream", "search", "documents", "sources", "chat", "mcp"]
PLACES = dict(
    zip(
        EDGE_ROUTES,
        ["Kerlouan", "Plouzané", "Tréguier", "Locronan", "Penmarch", "Carantec", "Lanildut"],
        strict=True,
    )
)


@pytest.mark.parametrize("route", EDGE_ROUTES)
def test_a_request_reads_the_snapshot_taken_at_its_edge(admin_app, monkeypatch, route):
    """A generation published between the edge (the collection resolved, its snapshot taken)
    and the route's body is not read by that request: it answers from one snapshot whole.
    The next request reads the new generation."""
    import bot.api.deps
    import bot.api.mcp_http
    import bot.api.routes.chat

    url, assistant, own = admin_app
    model = httpx.get(f"{url}/v1/models", timeout=60).json()["data"][0]["id"]
    place = PLACES[route]
    source = f"{own.documents_dir.name}/verger-{place.lower()}.md"
    taken = []
    real = bot.api.deps.resolve

    def resolve_then_publish(library, caller, name):
        served_now = real(library, caller, name)
        taken.append(served_now.snapshot.info().version)
        (own.documents_dir / source.split("/")[1]).write_text(
            f"# Le verger de {place}\n\nLe verger de {place} compte quarante-trois pommiers depuis 2019.\n",
            encoding="utf-8",
        )
        ingest([own.documents_dir], own.index, lambda: assistant.embedder, progress=False)
        served_now.assistant.refresh_if_changed()  # the new generation is served from now on
        assert served_now.assistant.snapshot is not served_now.snapshot
        return served_now

    for module in (bot.api.deps, bot.api.routes.chat, bot.api.mcp_http):  # every edge
        monkeypatch.setattr(module, "resolve", resolve_then_publish)
    question = {"question": f"Combien de pommiers compte le verger de {place} ?"}
    if route == "ask":
        r = httpx.post(f"{url}/ask", json=question, timeout=60)
        assert r.json()["index"]["version"] == taken[0]
    elif route == "stream":
        r = httpx.post(f"{url}/ask/stream", json=question, timeout=60)
        done = [line for line in r.text.splitlines() if line.startswith("data:")][-1]
        assert json.loads(done[len("data:") :])["index"]["version"] == taken[0]
    elif route == "search":
        r = httpx.post(f"{url}/search", json=question, timeout=60)
    elif route == "documents":
        r = httpx.get(f"{url}/documents", timeout=60)
    elif route == "sources":
        r = httpx.get(f"{url}/sources/{source}", timeout=60)
        assert r.status_code == 404
    elif route == "chat":
        messages = [{"role": "user", "content": question["question"]}]
        r = httpx.post(f"{url}/v1/chat/completions", json={"model": model, "messages": messages}, timeout=60)
    else:
        r = httpx.Response(200, text=mcp_ask(url, question["question"]))
    assert len(taken) == 1
    assert r.status_code in (200, 404) and place not in r.text
    monkeypatch.undo()
    after = httpx.get(f"{url}/documents", timeout=60).json()
    assert source in {d["source"] for d in after}


def mcp_ask(url: str, question: str) -> str:
    import anyio

    from tests.api.test_mcp import http_session

    async def main() -> str:
        async with http_session(url, None) as session:
            result = await session.call_tool("ask", {"question": question})
            return json.dumps(result.model_dump(mode="json"), ensure_ascii=False)

    return anyio.run(main)
