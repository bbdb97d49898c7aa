"""The operator's side over HTTP, against real uvicorn servers: log, feedback, report, source
pages, document admin and metrics. Log and feedback run on SQLite and on PostgreSQL."""

from __future__ import annotations

import html
import re
import signal
import time
import uuid

import httpx
import pytest
from sqlalchemy import create_engine, select

from bot.operator.log.tables import answers, feedback
from tests.conftest import ADMIN_TOKEN
from tests.servers import start_server, stop_server

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
QUESTION = "Qui a lancé l'Alliance Dynamique ?"
OFF_TOPIC = "Quelle est la capitale de l'Australie ?"


@pytest.fixture(scope="module")
def log_server(assistant, settings, database_url, tmp_path_factory):
    """A server logging to `database_url` (SQLite, then PostgreSQL), admin routes on."""
    proc, url = start_server(
        settings.index_dir,
        settings.documents_dir,
        ALLIANCE_RATE_LIMIT="0",
        ALLIANCE_DATABASE_URL=database_url,
        ALLIANCE_ADMIN_TOKEN=ADMIN_TOKEN,
        ALLIANCE_DATA_DIR=str(tmp_path_factory.mktemp("log-data")),
    )
    yield url, create_engine(database_url.replace("postgresql://", "postgresql+psycopg://"))
    stop_server(proc)


def ask(url: str, question: str) -> dict:
    r = httpx.post(f"{url}/ask", json={"question": question}, timeout=60)
    assert r.status_code == 200, r.text
    return r.json()


def vote(url: str, answer_id: str, rating: str, comment: str | None = None) -> httpx.Response:
    return httpx.post(
        f"{url}/feedback", json={"answer_id": answer_id, "rating": rating, "comment": comment}, timeout=30
    )


# --- log and feedback, on both databases ----------------------------------------------------


def test_answers_are_logged_with_their_id(log_server):
    url, engine = log_server
    answered, refused = ask(url, QUESTION), ask(url, OFF_TOPIC)
    uuid.UUID(answered["id"])
    assert answered["id"] != refused["id"]
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # written after the response, by the log's writer
        with engine.connect() as db:
            rows = {
                r.id: r
                for r in db.execute(select(answers).where(answers.c.id.in_([answered["id"], refused["id"]])))
            }
        if len(rows) == 2:
            break
        time.sleep(0.1)
    assert rows[answered["id"]].status == "answered" and rows[refused["id"]].status == "no_answer"
    assert rows[answered["id"]].question == QUESTION
    assert {s["source"] for s in rows[answered["id"]].sources} == {c["source"] for c in answered["citations"]}
    assert rows[answered["id"]].index_version == answered["index"]["version"]
    assert "127.0.0.1" not in (rows[answered["id"]].client or "")


def test_feedback_is_one_changeable_vote(log_server):
    url, engine = log_server
    answer_id = ask(url, QUESTION)["id"]
    r = vote(url, answer_id, "down", "La réponse ne cite pas la date.")
    assert r.status_code == 200 and r.json() == {"answer_id": answer_id, "rating": "down", "saved": True}
    with engine.connect() as db:  # acknowledged = already committed
        row = db.execute(select(feedback).where(feedback.c.answer_id == answer_id)).one()
    assert (row.rating, row.comment) == (-1, "La réponse ne cite pas la date.")
    assert vote(url, answer_id, "up").status_code == 200
    with engine.connect() as db:
        rows = db.execute(select(feedback).where(feedback.c.answer_id == answer_id)).all()
    assert [(r.rating, r.comment) for r in rows] == [(1, None)]


@pytest.mark.parametrize(
    "body, status, code",
    [
        ({"answer_id": str(uuid.uuid4()), "rating": "up"}, 404, "unknown_answer"),
        ({"answer_id": "not-an-id", "rating": "up"}, 422, "invalid_request"),
        ({"rating": "up"}, 422, "invalid_request"),
        ({"answer_id": "ANSWER", "rating": "meh"}, 422, "invalid_request"),
        ({"answer_id": "ANSWER", "rating": "down", "comment": "x" * 1001}, 422, "invalid_request"),
        ({"answer_id": "ANSWER", "rating": "down", "comment": "\ud800"}, 422, "invalid_request"),
    ],
)
def test_bad_feedback_is_refused_clearly(log_server, body, status, code):
    url, _ = log_server
    if body.get("answer_id") == "ANSWER":
        body["answer_id"] = ask(url, QUESTION)["id"]
    import json

    r = httpx.post(
        f"{url}/feedback", content=json.dumps(body), timeout=30, headers={"Content-Type": "application/json"}
    )
    assert r.status_code == status, r.text
    assert r.json()["code"] == code and r.json()["detail"] and r.json()["detail_en"]


def test_feedback_body_is_capped(log_server):
    url, _ = log_server
    r = httpx.post(
        f"{url}/feedback",
        content=b'{"comment": "' + b"x" * 20_000 + b'"}',
        timeout=30,
        headers={"Content-Type": "application/json"},
    )
    assert r.status_code == 413 and r.json()["code"] == "body_too_large"


def test_report_shows_questions_votes_and_comments(log_server):
    url, _ = log_server
    bad = ask(url, QUESTION)
    assert vote(url, bad["id"], "down", "Rapport : commentaire à retrouver").status_code == 200
    ask(url, OFF_TOPIC)
    data = httpx.get(f"{url}/admin/report?format=json", headers=AUTH, timeout=60).json()
    assert data["questions"] >= 2 and 0 < data["answered_rate"] < 1
    assert data["votes"]["down"] >= 1 and data["negative_share"] > 0
    assert any(g["example"] == OFF_TOPIC for g in data["unanswered_groups"])
    downvoted = next(d for d in data["most_downvoted"] if d["question"] == QUESTION)
    assert "Rapport : commentaire à retrouver" in downvoted["comments"]
    assert any(c["source"] == bad["citations"][0]["source"] for c in data["most_cited"])
    page = httpx.get(f"{url}/admin/report", headers=AUTH, timeout=60)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "Rapport : commentaire à retrouver" in html.unescape(page.text) and "<svg" in page.text


# --- one SQLite server with the admin routes -------------------------------------------------

ADMIN_ROUTES = [
    ("GET", "/admin/documents"),
    ("POST", "/admin/documents?filename=a.md"),
    ("DELETE", "/admin/documents/uploads/a.md"),
    ("POST", "/admin/reingest"),
    ("GET", "/admin/report"),
]


@pytest.mark.parametrize("method, path", ADMIN_ROUTES)
def test_admin_routes_need_the_token(operator_server, method, path):
    url, _ = operator_server
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": ADMIN_TOKEN}):
        r = httpx.request(method, f"{url}{path}", headers=headers, content=b"# x\n\ny", timeout=30)
        assert r.status_code == 401, (headers, r.text)
        assert r.json()["code"] == "unauthorized" and r.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize("method, path", [*ADMIN_ROUTES, ("GET", "/admin")])
def test_admin_routes_are_absent_without_a_configured_token(live_server, method, path):
    r = httpx.request(method, f"{live_server}{path}", headers=AUTH, content=b"# x", timeout=30)
    assert r.status_code == 404, r.text


MASCOT = """---
title: La mascotte de l'Alliance
url: https://example.org/mascotte
---

# La mascotte

La licorne Zéphyrine est la mascotte officielle de l'Alliance Dynamique depuis 2031.
"""


def test_uploaded_document_is_answered_then_deleted(operator_server):
    url, data = operator_server
    question = "Quelle est la mascotte officielle de l'Alliance Dynamique ?"
    assert all(c["source"] != "uploads/mascotte.md" for c in ask(url, question)["citations"])
    began = time.monotonic()
    r = httpx.post(
        f"{url}/admin/documents?filename=mascotte.md", content=MASCOT.encode(), headers=AUTH, timeout=60
    )
    assert r.status_code == 201, r.text
    assert r.json()["added"] == ["uploads/mascotte.md"]
    answer = ask(url, question)
    elapsed = time.monotonic() - began
    assert answer["status"] == "answered"
    assert [c["source"] for c in answer["citations"]][0] == "uploads/mascotte.md"
    assert "Zéphyrine" in answer["answer"]
    assert elapsed < 10, f"{elapsed:.1f} s from upload to a cited answer"
    print(f"\nupload -> cited answer: {elapsed:.2f} s")
    listed = httpx.get(f"{url}/admin/documents", headers=AUTH, timeout=30).json()
    mine = next(d for d in listed if d["source"] == "uploads/mascotte.md")
    assert mine["managed"] and mine["chunks"] >= 1 and mine["url"] == "https://example.org/mascotte"
    page = httpx.get(f"{url}/sources/uploads/mascotte.md", timeout=30).text
    assert 'href="https://example.org/mascotte"' in page

    r = httpx.delete(f"{url}/admin/documents/uploads/mascotte.md", headers=AUTH, timeout=60)
    assert r.status_code == 200 and r.json()["removed"] == ["uploads/mascotte.md"]
    assert not (data / "uploads" / "mascotte.md").exists()
    assert all(c["source"] != "uploads/mascotte.md" for c in ask(url, question)["citations"])


@pytest.mark.parametrize(
    "name, body, status, code",
    [
        ("../evil.md", b"# x", 422, "invalid_filename"),
        ("note.exe", b"x", 422, "unsupported_format"),
        ("vide.md", b"", 422, "empty_file"),
        ("enorme.txt", b"x" * (11 * 1024 * 1024), 413, "file_too_large"),
    ],
)
def test_bad_uploads_are_refused(operator_server, name, body, status, code):
    url, _ = operator_server
    r = httpx.post(
        f"{url}/admin/documents", params={"filename": name}, content=body, headers=AUTH, timeout=60
    )
    assert r.status_code == status and r.json()["code"] == code


def test_documents_from_the_corpus_cannot_be_deleted_here(operator_server):
    url, _ = operator_server
    r = httpx.delete(f"{url}/admin/documents/documents/historique.md", headers=AUTH, timeout=30)
    assert r.status_code == 409 and r.json()["code"] == "not_managed"


def test_source_page_highlights_the_quote(operator_server, stored_texts):
    url, _ = operator_server
    citation = ask(url, QUESTION)["citations"][0]
    r = httpx.get(
        f"{url}/sources/{citation['source']}",
        params={"start": citation["char_start"], "end": citation["char_end"]},
        timeout=30,
    )
    assert r.status_code == 200
    marks = re.findall(r"<mark[^>]*>(.*?)</mark>", r.text, flags=re.S)
    assert html.unescape("".join(marks)) == citation["quote"]
    assert 'id="quote"' in r.text
    # The whole stored text is there, escaped, headings as headings.
    assert "<h2>" in r.text and "<script>alert" not in r.text
    assert httpx.get(f"{url}/sources/documents/absent.md", timeout=30).status_code == 404


@pytest.fixture(scope="module")
def stored_texts(assistant) -> dict[str, str]:
    return {source: doc.text for source, doc in assistant.index.documents.items()}


def scrape(url: str) -> dict[str, float]:
    out = {}
    for line in httpx.get(f"{url}/metrics", timeout=30).text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            out[name] = float(value)
    return out


def test_metrics_move_by_the_requests_sent(operator_server):
    url, _ = operator_server
    before = scrape(url)
    ids = [ask(url, q)["id"] for q in (QUESTION, OFF_TOPIC, QUESTION, "Qu'est-ce que l'ODD 17 ?")]
    for answer_id in ids[:3]:
        assert vote(url, answer_id, "down").status_code == 200
    after = scrape(url)

    def moved(name: str) -> float:
        return after.get(name, 0.0) - before.get(name, 0.0)

    assert moved('alliance_http_requests_total{method="POST",route="/ask",status="200"}') == 4
    assert moved('alliance_http_requests_total{method="POST",route="/feedback",status="200"}') == 3
    assert moved('alliance_http_request_duration_seconds_count{method="POST",route="/ask"}') == 4
    answered, refused = (moved(f'alliance_answers_total{{status="{s}"}}') for s in ("answered", "no_answer"))
    assert answered + refused == 4 and refused >= 1
    assert moved('alliance_feedback_total{rating="down"}') == 3
    assert after["alliance_index_chunks"] > 0 and after["alliance_index_documents"] >= 7


def test_acknowledged_feedback_survives_kill_9(assistant, settings, tmp_path):
    proc, url = start_server(
        settings.index_dir, settings.documents_dir, ALLIANCE_RATE_LIMIT="0", ALLIANCE_DATA_DIR=str(tmp_path)
    )
    acked = {}
    try:
        for i in range(12):
            answer_id = ask(url, QUESTION if i % 2 else OFF_TOPIC)["id"]
            rating = "up" if i % 3 else "down"
            if vote(url, answer_id, rating, f"avis {i}").status_code == 200:
                acked[answer_id] = (1 if rating == "up" else -1, f"avis {i}")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    assert len(acked) == 12
    engine = create_engine(f"sqlite:///{tmp_path / 'log.sqlite'}")
    with engine.connect() as db:
        kept = {r.answer_id: (r.rating, r.comment) for r in db.execute(select(feedback))}
    engine.dispose()
    assert kept == acked


def test_log_off_records_nothing(assistant, settings, tmp_path):
    proc, url = start_server(
        settings.index_dir,
        settings.documents_dir,
        ALLIANCE_RATE_LIMIT="0",
        ALLIANCE_LOG="0",
        ALLIANCE_DATA_DIR=str(tmp_path),
    )
    try:
        answer = ask(url, QUESTION)
        r = vote(url, answer["id"], "up")
        assert r.status_code == 503 and r.json()["code"] == "log_disabled"
        assert scrape(url)['alliance_answers_total{status="answered"}'] == 1  # metrics still count
    finally:
        stop_server(proc)
    assert not (tmp_path / "log.sqlite").exists()


def test_feedback_is_rate_limited(assistant, settings, tmp_path):
    proc, url = start_server(
        settings.index_dir, settings.documents_dir, ALLIANCE_RATE_LIMIT="3", ALLIANCE_DATA_DIR=str(tmp_path)
    )
    try:
        answer_id = ask(url, QUESTION)["id"]
        codes = [vote(url, answer_id, "up").status_code for _ in range(4)]
        assert codes == [200, 200, 200, 429]
        r = vote(url, answer_id, "down")
        assert r.json()["code"] == "rate_limited" and int(r.headers["retry-after"]) >= 1
    finally:
        stop_server(proc)
