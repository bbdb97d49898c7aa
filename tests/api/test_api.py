"""The HTTP API against a real uvicorn on 127.0.0.1, over the default corpus."""

from __future__ import annotations

import json
import re

import httpx
import pytest


def parse_sse(body: str) -> list[tuple[str, dict]]:
    events = []
    for block in body.strip().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        events.append((fields["event"], json.loads(fields["data"])))
    return events


def assert_contract(answer: dict, documents: dict[str, str]) -> None:
    """Every [n] has a citation, every quote is the stored text at its offsets."""
    assert answer["status"] in ("answered", "no_answer")
    numbers = {c["n"] for c in answer["citations"]}
    markers = {int(n) for n in re.findall(r"\[(\d+)\]", answer["answer"])}
    assert markers == numbers
    for c in answer["citations"]:
        assert documents[c["source"]][c["char_start"] : c["char_end"]] == c["quote"]
    for p in answer["passages"]:
        assert documents[p["source"]][p["char_start"] : p["char_end"]] == p["text"]
    assert set(answer["timings_ms"]) >= {"embed", "search", "answer", "total"}
    assert answer["index"]["chunks"] > 0


@pytest.fixture(scope="module")
def stored_texts(assistant) -> dict[str, str]:
    return {source: doc.text for source, doc in assistant.index.documents.items()}


def test_ask_answers_with_verbatim_citations(live_server, stored_texts):
    r = httpx.post(f"{live_server}/ask", json={"question": "Qui a lancé l'Alliance Dynamique ?"})
    assert r.status_code == 200
    answer = r.json()
    assert answer["status"] == "answered" and "La Poste" in answer["answer"]
    assert answer["citations"]
    assert_contract(answer, stored_texts)


def test_off_topic_question_gets_no_answer_with_passages(live_server, stored_texts):
    r = httpx.post(f"{live_server}/ask", json={"question": "Comment faire une pâte à crêpes ?"})
    answer = r.json()
    assert answer["status"] == "no_answer" and answer["citations"] == []
    assert answer["passages"], "the closest passages are still listed"
    assert_contract(answer, stored_texts)


def test_stream_sends_passages_deltas_citations_done(live_server, stored_texts):
    question = "En quelle année l'Alliance Dynamique a-t-elle été créée ?"
    r = httpx.post(f"{live_server}/ask/stream", json={"question": question})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    events = parse_sse(r.text)
    names = [e for e, _ in events]
    assert names[0] == "passages" and names[-2:] == ["citations", "done"]
    assert set(names[1:-2]) == {"delta"}
    streamed = "".join(d["text"] for e, d in events if e == "delta")
    done = events[-1][1]
    assert streamed == done["answer"] and "2014" in streamed
    assert events[-2][1]["citations"] == done["citations"]
    assert_contract(done, stored_texts)


def test_follow_up_uses_history(live_server):
    def ask_after(previous: str) -> dict:
        history = [{"role": "user", "content": previous}, {"role": "assistant", "content": "…"}]
        body = {"question": "Et en quelle année ?", "history": history}
        return httpx.post(f"{live_server}/ask", json=body).json()

    created = ask_after("Qui a lancé l'Alliance Dynamique ?")
    anniversary = ask_after("Quand l'Alliance Dynamique fêtera-t-elle ses 7 ans ?")
    assert created["status"] == "answered" and "2014" in created["answer"]
    assert anniversary["status"] == "answered" and "2021" in anniversary["answer"]


def test_search_and_documents_and_health(live_server, stored_texts):
    passages = httpx.post(f"{live_server}/search", json={"question": "ODD 17", "k": 3}).json()
    assert 1 <= len(passages) <= 3
    assert {"dense_rank", "dense_score", "bm25_rank", "bm25_score"} <= set(passages[0])
    docs = httpx.get(f"{live_server}/documents").json()
    assert {d["source"] for d in docs} == set(stored_texts)
    assert all(d["chunks"] > 0 and d["title"] for d in docs)
    health = httpx.get(f"{live_server}/health").json()
    assert health["status"] == "ready" and health["index"]["model"]
    assert "/ask" in httpx.get(f"{live_server}/openapi.json").json()["paths"]
    assert httpx.get(f"{live_server}/docs").status_code == 200


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"question": ""}, 422, "empty_question"),
        ({"question": "   \n "}, 422, "empty_question"),
        ({"question": "x" * 2001}, 413, "question_too_long"),
        ({"questio": "typo"}, 422, "invalid_request"),
        ({"question": "ok", "k": 0}, 422, "invalid_request"),
    ],
)
@pytest.mark.parametrize("route", ["/ask", "/ask/stream", "/search"])
def test_bad_questions_get_clear_messages(live_server, body, status, code, route):
    """`/search` took an empty or overlong question: every route checks it the same way."""
    r = httpx.post(f"{live_server}{route}", json=body)
    assert r.status_code == status
    error = r.json()
    assert error["code"] == code and error["detail"] and error["detail_en"]
    assert "Traceback" not in r.text


def test_malformed_json_is_422_without_trace(live_server):
    r = httpx.post(f"{live_server}/ask", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 422 and r.json()["code"] == "invalid_request"
    assert "Traceback" not in r.text and "File " not in r.text


def test_oversized_body_is_413(live_server):
    history = [{"role": "user", "content": "x" * 7000}] * 12
    r = httpx.post(f"{live_server}/ask", json={"question": "a", "history": history})
    assert r.status_code == 413


def test_rate_limit_answers_429_with_retry_after(strict_server):
    # Its own source address, so its own bucket on the shared server.
    client = httpx.Client(transport=httpx.HTTPTransport(local_address="127.0.0.3"))
    questions = ["ESS", "ODD 17", "La Poste", "Alliance"]  # distinct: a repeat is a free retry
    codes = [client.post(f"{strict_server}/search", json={"question": q}).status_code for q in questions]
    assert codes == [200, 200, 200, 429]
    r = client.post(f"{strict_server}/ask", json={"question": "Économie sociale"})
    assert r.status_code == 429 and 1 <= int(r.headers["retry-after"]) <= 60
    assert "réessayez" in r.json()["detail"] and "try again" in r.json()["detail_en"]


def test_cors_preflight_allowed_and_refused(strict_server, live_server):
    allowed = httpx.options(
        f"{strict_server}/ask",
        headers={
            "Origin": "https://partenaire.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == "https://partenaire.example"
    refused = httpx.options(
        f"{strict_server}/ask",
        headers={"Origin": "https://intrus.example", "Access-Control-Request-Method": "POST"},
    )
    assert "access-control-allow-origin" not in refused.headers
    # By default no other origin is allowed at all.
    default = httpx.options(
        f"{live_server}/ask",
        headers={"Origin": "https://partenaire.example", "Access-Control-Request-Method": "POST"},
    )
    assert "access-control-allow-origin" not in default.headers
