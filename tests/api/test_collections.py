"""Collections against a real uvicorn: two collections, each with a canary document. A caller
without the key of the private one never receives its canary sentence, its title or its file
name, whatever the way in; a caller with the key does; each collection answers from its own
documents only."""

from __future__ import annotations

import json
import shutil

import anyio
import httpx
import pytest

from bot.collections import Registry
from bot.index.store import IngestLock
from bot.ingest.pipeline import ingest
from bot.keys import add_key
from tests.conftest import ADMIN_TOKEN
from tests.servers import start_server, stop_server

PRIVATE_FILE = "consignes-kestrel.md"
PRIVATE_DOC = (
    "# Consignes Kestrel-Omega\n\n"
    "Le mot de passe du coffre de l'entrepôt est PERCE-NEIGE-4417. Il est changé chaque trimestre "
    "par la responsable de la sécurité, qui le transmet en main propre aux gardiens de nuit.\n"
)
PRIVATE_SOURCE = f"interne/{PRIVATE_FILE}"  # as ingest stores it: under the folder ingested
PRIVATE_MARKS = ("PERCE-NEIGE-4417", "Kestrel-Omega", "consignes-kestrel")
PRIVATE_QUESTION = "Quel est le mot de passe du coffre de l'entrepôt ?"
PUBLIC_FILE = "permanence-orionide.md"
PUBLIC_DOC = (
    "# Permanence Orionide\n\n"
    "La permanence de l'association Orionide se tient le mardi à Quimper, de 14 h à 17 h, "
    "dans la salle du conseil de la mairie.\n"
)
PUBLIC_QUESTION = "Où se tient la permanence de l'association Orionide ?"


@pytest.fixture(scope="module")
def site(settings, assistant, embedder, tmp_path_factory):
    """The session's index copied, with a public canary added to the default collection and a
    private collection `interne` holding the private canary. Keys: `staff` reads `interne`,
    `autre` reads only a collection of that name (empty)."""
    root = tmp_path_factory.mktemp("collections")
    index = root / "index"
    shutil.copytree(settings.index_dir, index)
    public_docs, private_docs = root / "public", root / "interne"
    public_docs.mkdir(), private_docs.mkdir()
    (public_docs / PUBLIC_FILE).write_text(PUBLIC_DOC, encoding="utf-8")
    (private_docs / PRIVATE_FILE).write_text(PRIVATE_DOC, encoding="utf-8")
    here = settings.model_copy(update={"index_dir": index, "data_dir": root / "data"})
    ingest([settings.documents_dir, public_docs], here.index, lambda: embedder, progress=False)
    registry = Registry(index, here.default_collection)
    registry.create("interne")
    registry.create("autre")
    ingest([private_docs], here.for_collection("interne").index, lambda: embedder, progress=False)
    keys_file = root / "keys.json"
    staff = add_key(keys_file, "staff", ["interne"], [])
    other = add_key(keys_file, "autre", ["autre"], [])
    keeper = add_key(keys_file, "keeper", [], ["interne"])
    autre_admin = add_key(keys_file, "autre-admin", [], ["autre"])
    public_only = add_key(keys_file, "vitrine", [here.default_collection], [])
    proc, url = start_server(
        index,
        settings.documents_dir,
        ALLIANCE_RATE_LIMIT="0",
        ALLIANCE_KEYS_FILE=str(keys_file),
        ALLIANCE_ADMIN_TOKEN=ADMIN_TOKEN,
        ALLIANCE_DATA_DIR=str(root / "data"),
    )
    yield {
        "url": url,
        "staff": staff,
        "other": other,
        "keeper": keeper,
        "autre_admin": autre_admin,
        "public_only": public_only,
        "registry": registry,
        "keys_file": keys_file,
    }
    stop_server(proc)


def bearer(key: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"} if key else {}


def call(site, way: str, collection: str | None, key: str | None) -> httpx.Response:
    """One way in, on `collection` (None: the default one), asked the private question."""
    url, headers = site["url"], bearer(key)
    params = {"collection": collection} if collection else {}
    body = {"question": PRIVATE_QUESTION}
    if way == "ask":
        return httpx.post(f"{url}/ask", params=params, json=body, headers=headers, timeout=60)
    if way == "stream":
        return httpx.post(f"{url}/ask/stream", params=params, json=body, headers=headers, timeout=60)
    if way == "search":
        return httpx.post(f"{url}/search", params=params, json=body, headers=headers, timeout=60)
    if way == "documents":
        return httpx.get(f"{url}/documents", params=params, headers=headers, timeout=60)
    if way == "sources":
        return httpx.get(f"{url}/sources/{PRIVATE_SOURCE}", params=params, headers=headers, timeout=60)
    raise AssertionError(way)


WAYS = ("ask", "stream", "search", "documents", "sources")


def leaks(text: str) -> list[str]:
    return [mark for mark in PRIVATE_MARKS if mark in text]


@pytest.mark.parametrize("way", WAYS)
def test_without_the_key_a_private_collection_is_the_same_404_as_none(site, way):
    unknown = call(site, way, "nulle-part", None)
    assert unknown.status_code == 404 and unknown.json()["code"] == "unknown_collection"
    for key in (None, site["other"], "ak-not-a-key", ADMIN_TOKEN + "x"):
        r = call(site, way, "interne", key)
        assert r.status_code == 404, (way, key and key[:3])
        assert r.content == unknown.content  # nothing tells that `interne` exists
        assert not leaks(r.text)


@pytest.mark.parametrize("way", WAYS)
def test_with_the_key_the_private_collection_is_read(site, way):
    for key in (site["staff"], ADMIN_TOKEN):
        r = call(site, way, "interne", key)
        assert r.status_code == 200, r.text[:300]
        assert ("Kestrel-Omega" if way == "documents" else "PERCE-NEIGE-4417") in r.text


@pytest.mark.parametrize("way", WAYS)
def test_the_default_collection_never_shows_the_private_document(site, way):
    for key in (None, site["staff"]):  # even with its key: the default collection does not hold it
        r = call(site, way, None, key)
        assert r.status_code in (200, 404)
        assert not leaks(r.text), way


def test_each_collection_answers_from_its_own_documents(site):
    url, staff = site["url"], site["staff"]
    inside = httpx.post(
        f"{url}/ask",
        params={"collection": "interne"},
        json={"question": PRIVATE_QUESTION},
        headers=bearer(staff),
        timeout=60,
    ).json()
    assert inside["status"] == "answered"
    assert {c["source"] for c in inside["citations"]} == {PRIVATE_SOURCE}
    assert inside["index"]["documents"] == 1
    public = httpx.post(f"{url}/ask", json={"question": PUBLIC_QUESTION}, timeout=60).json()
    assert public["status"] == "answered" and "Quimper" in json.dumps(public, ensure_ascii=False)
    # The public document's question asked in `interne`: nothing of the default collection comes back.
    across = httpx.post(
        f"{url}/ask",
        params={"collection": "interne"},
        json={"question": PUBLIC_QUESTION},
        headers=bearer(staff),
        timeout=60,
    ).json()
    assert "Quimper" not in json.dumps(across, ensure_ascii=False)
    assert {p["source"] for p in across["passages"]} <= {PRIVATE_SOURCE}


def test_the_answer_and_health_name_the_collection(site):
    """`collection` in /ask's answer and /ask/stream's `done`; /health lists what the caller reads."""
    url, staff = site["url"], site["staff"]
    params = {"collection": "interne"}
    inside = httpx.post(
        f"{url}/ask", params=params, json={"question": PRIVATE_QUESTION}, headers=bearer(staff)
    )
    assert inside.json()["collection"] == "interne"
    public = httpx.post(f"{url}/ask", json={"question": PUBLIC_QUESTION}, timeout=60).json()
    assert public["collection"] == "alliance"
    streamed = httpx.post(
        f"{url}/ask/stream",
        params=params,
        json={"question": PRIVATE_QUESTION},
        headers=bearer(staff),
        timeout=60,
    ).text
    done = streamed.split("event: done\ndata: ")[1].split("\n")[0]
    assert json.loads(done)["collection"] == "interne"
    health = {
        who: httpx.get(f"{url}/health", headers=bearer(key), timeout=30).json()
        for who, key in (("anyone", None), ("other", site["other"]), ("staff", staff), ("admin", ADMIN_TOKEN))
    }
    assert health["anyone"]["collection"] == "alliance" and health["anyone"]["collections"] == ["alliance"]
    assert health["other"]["collections"] == ["alliance", "autre"]
    assert health["staff"]["collections"] == ["alliance", "interne"]
    assert health["admin"]["collections"] == ["alliance", "autre", "interne"]


def test_v1_models_lists_the_collections_the_key_reads(site):
    url = site["url"]
    anonymous = [m["id"] for m in httpx.get(f"{url}/v1/models", timeout=60).json()["data"]]
    assert len(anonymous) == 1 and not any("interne" in m for m in anonymous)
    listed = httpx.get(f"{url}/v1/models", headers=bearer(site["staff"]), timeout=60).json()["data"]
    staff = [m["id"] for m in listed]
    assert staff[0] == anonymous[0] and staff[1].startswith("alliance-bot:interne@") and len(staff) == 2


@pytest.mark.parametrize("stream", [False, True])
def test_v1_chat_completions_model_chooses_the_collection(site, stream):
    url = site["url"]
    body = {"model": "alliance-bot:interne", "messages": [{"role": "user", "content": PRIVATE_QUESTION}]}
    body["stream"] = stream
    for key in (None, site["other"]):
        r = httpx.post(f"{url}/v1/chat/completions", json=body, headers=bearer(key), timeout=60)
        assert r.status_code == 404 and not leaks(r.text)
        assert "interne" not in r.text
    r = httpx.post(f"{url}/v1/chat/completions", json=body, headers=bearer(site["staff"]), timeout=60)
    assert r.status_code == 200 and "PERCE-NEIGE-4417" in r.text
    assert "collection=interne" in r.text  # its source links open the page with the key's collection
    default = body | {"model": anonymous_model(url)}
    r = httpx.post(f"{url}/v1/chat/completions", json=default, headers=bearer(site["staff"]), timeout=60)
    assert r.status_code == 200 and not leaks(r.text)


def anonymous_model(url: str) -> str:
    return httpx.get(f"{url}/v1/models", timeout=60).json()["data"][0]["id"]


def mcp_calls(site, key: str | None) -> dict[str, str]:
    """Every MCP tool on `interne` and the resources, over HTTP: what each answered, as text."""
    from tests.api.test_mcp import http_session

    async def main():
        out = {}
        async with http_session(site["url"], key) as session:
            for tool, args in (
                ("ask", {"question": PRIVATE_QUESTION}),
                ("search", {"query": PRIVATE_QUESTION}),
                ("list_documents", {}),
            ):
                result = await session.call_tool(tool, args | {"collection": "interne"})
                out[tool] = json.dumps(result.model_dump(mode="json"), ensure_ascii=False)
                out[tool + "-error"] = result.is_error
                default = await session.call_tool(tool, args)
                out[tool + "-default"] = json.dumps(default.model_dump(mode="json"), ensure_ascii=False)
            listed = await session.list_resources()
            out["resources"] = json.dumps(listed.model_dump(mode="json"), ensure_ascii=False)
            uri = "alliance://documents/" + PRIVATE_SOURCE.replace("/", "%2F")
            for name, asked in (("read", uri), ("read-interne", uri + "?collection=interne")):
                try:
                    read = await session.read_resource(asked)
                    out[name] = json.dumps(read.model_dump(mode="json"), ensure_ascii=False)
                except Exception as e:  # the SDK raises the server's error (it repeats the URI asked)
                    out[name + "-error"] = str(e)
        return out

    return anyio.run(main)


def test_mcp_tools_take_the_collection_the_key_reads(site):
    for key in (None, site["other"]):
        out = mcp_calls(site, key)
        assert "Document inconnu" in out.pop("read-error")
        assert "Document inconnu" in out.pop("read-interne-error")  # as if it did not exist
        for name, text in out.items():
            assert isinstance(text, bool) or not leaks(text), name
        assert out["ask-error"] and out["search-error"] and out["list_documents-error"]
        assert "unknown_collection" in out["ask"]
    out = mcp_calls(site, site["staff"])
    assert not out["ask-error"] and "PERCE-NEIGE-4417" in out["ask"]
    assert "PERCE-NEIGE-4417" in out["search"] and "Kestrel-Omega" in out["list_documents"]
    for name in ("ask-default", "search-default", "list_documents-default"):
        assert not leaks(out[name]), name  # the default collection does not hold it, key or not
    assert "Document inconnu" in out["read-error"]


def test_mcp_resources_of_the_collections_the_key_reads(site):
    """Each readable collection's documents are resources (the default's URIs unchanged,
    another's with `?collection=`), read with the key; the others are never listed."""
    private_uri = "alliance://documents/" + PRIVATE_SOURCE.replace("/", "%2F") + "?collection=interne"
    for key in (None, site["other"], site["public_only"]):
        out = mcp_calls(site, key)
        assert not leaks(out["resources"]) and "interne" not in out["resources"]
        assert "alliance://documents/" in out["resources"]  # the default collection's, as before
    out = mcp_calls(site, site["staff"])
    listed = json.loads(out["resources"])["resources"]
    assert private_uri in {r["uri"] for r in listed}
    assert "PERCE-NEIGE-4417" in out["read-interne"]
    public = [r for r in listed if "?collection=" not in r["uri"]]
    assert public and all("?" not in r["uri"] for r in public)
    assert json.loads(out["list_documents"])["structured_content"]["documents"][0]["uri"] == private_uri


def test_a_vote_lands_on_its_answers_collection_for_whoever_reads_it(site):
    url, staff = site["url"], site["staff"]
    inside = httpx.post(
        f"{url}/ask",
        params={"collection": "interne"},
        json={"question": PRIVATE_QUESTION},
        headers=bearer(staff),
        timeout=60,
    ).json()["id"]
    public = httpx.post(f"{url}/ask", json={"question": PUBLIC_QUESTION}, timeout=60).json()["id"]
    unknown = httpx.post(
        f"{url}/feedback", json={"answer_id": "0" * 8 + "-0000-0000-0000-" + "0" * 12, "rating": "up"}
    )
    assert unknown.status_code == 404
    for key in (None, site["other"]):
        refused = httpx.post(
            f"{url}/feedback", json={"answer_id": inside, "rating": "up"}, headers=bearer(key), timeout=30
        )
        assert refused.status_code == 404 and refused.json() == unknown.json()
    vote = {"answer_id": inside, "rating": "down"}
    assert httpx.post(f"{url}/feedback", json=vote, headers=bearer(staff), timeout=30).status_code == 200
    assert (
        httpx.post(f"{url}/feedback", json={"answer_id": public, "rating": "up"}, timeout=30).status_code
        == 200
    )


def test_an_admin_key_administers_its_collections_only(site):
    url, keeper = site["url"], site["keeper"]
    listed = httpx.get(f"{url}/admin/documents", params={"collection": "interne"}, headers=bearer(keeper))
    assert listed.status_code == 200 and PRIVATE_SOURCE in listed.text
    for key in (None, site["staff"], "ak-not-a-key"):  # no admin right at all
        r = httpx.get(f"{url}/admin/documents", params={"collection": "interne"}, headers=bearer(key))
        assert r.status_code == 401 and not leaks(r.text)
    unknown = httpx.get(f"{url}/admin/documents", params={"collection": "nulle-part"}, headers=bearer(keeper))
    assert unknown.status_code == 404
    # The default collection (public, readable by all) is not theirs to administer.
    attempts = [
        ("GET", "/admin/documents", None, None),
        (
            "POST",
            "/admin/documents?filename=intrus.md",
            b"# Intrus\n\nUn texte glisse dans la vitrine.\n",
            None,
        ),
        ("DELETE", "/admin/documents/uploads/intrus.md", None, None),
        ("POST", "/admin/reingest", None, None),
        ("POST", "/admin/crawl", None, {"urls": ["https://example.org/"]}),
        ("GET", "/admin/report", None, None),
    ]
    for method, path, content, body in attempts:
        r = httpx.request(method, url + path, content=content, json=body, headers=bearer(keeper), timeout=60)
        assert r.status_code == 404 and r.json() == unknown.json(), (method, path)
    everything = httpx.get(f"{url}/documents", timeout=30).text
    assert "intrus" not in everything


def test_an_upload_lands_in_its_collection_alone(site):
    url, admin = site["url"], site["autre_admin"]
    text = "# Annexe Cassiopée\n\nLe local à vélos de l'annexe Cassiopée ferme à 21 h 30 chaque soir.\n"
    r = httpx.post(
        f"{url}/admin/documents",
        params={"collection": "autre", "filename": "annexe.md"},
        content=text.encode(),
        headers=bearer(admin),
        timeout=120,
    )
    assert r.status_code == 201, r.text
    question = {"question": "À quelle heure ferme le local à vélos ?"}
    inside = httpx.post(
        f"{url}/search",
        params={"collection": "autre"},
        json=question,
        headers=bearer(site["other"]),
        timeout=60,
    )
    assert inside.status_code == 200 and "21 h 30" in inside.text
    for collection, key in ((None, None), ("interne", site["staff"])):
        params = {"collection": collection} if collection else {}
        r = httpx.post(f"{url}/search", params=params, json=question, headers=bearer(key), timeout=60)
        assert r.status_code == 200 and "Cassiopée" not in r.text and "21 h 30" not in r.text


def test_the_report_shows_one_collections_questions(site):
    url = site["url"]
    asked = "Qui remet le mot de passe aux gardiens de nuit ?"
    r = httpx.post(
        f"{url}/ask",
        params={"collection": "interne"},
        json={"question": asked},
        headers=bearer(site["staff"]),
        timeout=60,
    )
    assert r.status_code == 200
    inside = httpx.get(
        f"{url}/admin/report",
        params={"collection": "interne", "format": "json"},
        headers=bearer(site["keeper"]),
        timeout=60,
    )
    # Refused, the question is listed; answered, its source is cited: in its collection's report.
    assert inside.status_code == 200
    assert "gardiens de nuit" in inside.text or "consignes-kestrel" in inside.text
    default = httpx.get(
        f"{url}/admin/report", params={"format": "json"}, headers=bearer(ADMIN_TOKEN), timeout=60
    )
    assert default.status_code == 200
    assert "gardiens de nuit" not in default.text and "consignes-kestrel" not in default.text


def test_metrics_count_public_collections_by_name_and_never_name_a_private_one(site):
    url = site["url"]
    r = httpx.post(
        f"{url}/ask",
        params={"collection": "interne"},
        json={"question": PRIVATE_QUESTION},
        headers=bearer(site["staff"]),
        timeout=60,
    )
    assert r.status_code == 200
    httpx.post(f"{url}/ask", json={"question": PUBLIC_QUESTION}, timeout=60)
    scraped = httpx.get(f"{url}/metrics", timeout=30).text
    assert 'alliance_collection_answers_total{collection="private",status="answered"}' in scraped
    assert 'alliance_collection_answers_total{collection="alliance",status="answered"}' in scraped
    assert "interne" not in scraped and "autre" not in scraped and not leaks(scraped)


def test_generated_requests_with_a_public_only_key_never_fail_nor_leak(site):
    """schemathesis over every route of the schema, sent with a key that reads only the
    default collection: no server error, no stack trace, and the private canary in no response."""
    import schemathesis
    from schemathesis.checks import not_a_server_error

    from tests.api.test_fuzz import no_stack_trace

    def no_private_canary(ctx, response, case):
        if leaked := leaks(response.text):
            raise AssertionError(f"{case.method} {case.path} answered {leaked}")

    schema = schemathesis.openapi.from_url(f"{site['url']}/openapi.json")
    headers = bearer(site["public_only"])
    sent: dict[str, int] = {}
    for result in schema.get_all_operations():
        operation = result.ok()
        sent[operation.label] = 0
        fuzz(operation, headers, sent, [not_a_server_error, no_stack_trace, no_private_canary])()
    print("requests per operation:", sent)
    expected = {"POST /ask", "POST /search", "GET /documents", "GET /admin/documents", "POST /feedback"}
    assert expected <= set(sent) and all(sent.values())


def fuzz(operation, headers: dict[str, str], sent: dict[str, int], checks: list):
    from hypothesis import HealthCheck, given, settings

    from tests.api.test_fuzz import cases

    @given(case=cases(operation))
    @settings(
        max_examples=8,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def run(case):
        sent[operation.label] += 1
        case.call_and_validate(checks=checks, headers=headers, timeout=60)

    return run


def test_admin_collections_lists_what_the_caller_administers(site):
    url = site["url"]
    mine = httpx.get(f"{url}/admin/collections", headers=bearer(site["keeper"]), timeout=30).json()
    assert [(c["name"], c["visibility"], c["documents"]) for c in mine] == [("interne", "private", 1)]
    every = httpx.get(f"{url}/admin/collections", headers=bearer(ADMIN_TOKEN), timeout=30).json()
    assert [c["name"] for c in every] == ["alliance", "autre", "interne"] and every[0]["default"]
    assert httpx.get(f"{url}/admin/collections", headers=bearer(site["staff"]), timeout=30).status_code == 401


def test_the_admin_token_deletes_and_renames_a_collection(site):
    url, registry = site["url"], site["registry"]
    registry.create("jetable", "public")
    add_key(site["keys_file"], "jetable-key", ["jetable"], [])
    admin = bearer(ADMIN_TOKEN)
    unknown = httpx.delete(f"{url}/admin/collections/nulle-part", headers=admin, timeout=30)
    assert unknown.status_code == 404
    # A key administering `interne` is told it takes the admin token; another admin key learns nothing.
    scoped = httpx.delete(f"{url}/admin/collections/interne", headers=bearer(site["keeper"]), timeout=30)
    assert scoped.status_code == 403 and scoped.json()["code"] == "operator_only"
    other = httpx.delete(f"{url}/admin/collections/interne", headers=bearer(site["autre_admin"]), timeout=30)
    assert other.status_code == 404 and other.json() == unknown.json()
    default = httpx.delete(f"{url}/admin/collections/alliance", headers=admin, timeout=30)
    assert default.status_code == 409 and default.json()["code"] == "default_collection"
    with IngestLock(registry.index_dir("interne"), wait=0):  # an ingest of `interne` runs elsewhere
        busy = httpx.delete(f"{url}/admin/collections/interne", headers=admin, timeout=30)
    assert busy.status_code == 409 and busy.json()["code"] == "ingest_running"
    assert "interne" in registry.names()

    renamed = httpx.post(
        f"{url}/admin/collections/jetable/rename", json={"name": "jetable2"}, headers=admin, timeout=30
    )
    assert renamed.status_code == 200, renamed.text
    assert renamed.json() == {"name": "jetable2", "deleted": False, "keys": ["jetable-key"]}
    assert "jetable2" in httpx.get(f"{url}/health", timeout=30).json()["collections"]  # public still
    assert registry.names() == ["alliance", "autre", "interne", "jetable2"]
    taken = httpx.post(
        f"{url}/admin/collections/jetable2/rename", json={"name": "interne"}, headers=admin, timeout=30
    )
    assert taken.status_code == 409 and taken.json()["code"] == "collection_exists"

    deleted = httpx.delete(f"{url}/admin/collections/jetable2", headers=admin, timeout=30)
    assert deleted.json() == {"name": "jetable2", "deleted": True, "keys": ["jetable-key"]}
    assert httpx.get(f"{url}/health", timeout=30).json()["collections"] == ["alliance"]
    gone = httpx.get(f"{url}/documents", params={"collection": "jetable2"}, timeout=30)
    assert gone.status_code == 404
    assert registry.names() == ["alliance", "autre", "interne"]
