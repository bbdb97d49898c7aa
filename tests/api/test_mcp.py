"""The MCP server through the official `mcp` client (`ClientSession`): over stdio against
`alliance-bot mcp`, and over streamable HTTP against `/mcp` on a real uvicorn."""

from __future__ import annotations

import json
import os
import sqlite3
import sys
import time
from contextlib import asynccontextmanager

import anyio
import httpx
import pytest
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

from bot.api.app import create_app
from bot.schema import Answer
from tests.api.conftest import API_KEY as KEY
from tests.api.conftest import served

QUESTION = "Qui a lancé l'Alliance Dynamique ?"


@asynccontextmanager
async def http_session(url: str, key: str | None = None, as_client: str = "10.0.1.1"):
    headers = {"X-Forwarded-For": as_client} | ({"Authorization": f"Bearer {key}"} if key else {})
    async with create_mcp_http_client(headers=headers) as http:
        async with streamable_http_client(f"{url}/mcp", http_client=http) as (read, write, *_):
            async with ClientSession(read, write) as session:
                await session.initialize()
                yield session


@asynccontextmanager
async def stdio_session(settings, **env: str):
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "bot", "mcp"],
        env=dict(os.environ)
        | {
            "ALLIANCE_INDEX_DIR": str(settings.index_dir),
            "ALLIANCE_DOCUMENTS_DIR": str(settings.documents_dir),
            "ALLIANCE_LOG": "0",
            **env,
        },
    )
    async with stdio_client(params) as (read, write, *_):
        async with ClientSession(read, write) as session:
            await session.initialize()
            yield session


async def exercise(session: ClientSession, expected: dict, stored: dict[str, str]) -> None:
    """What every transport must do: list, ask, search, read a document, refuse an empty question."""
    tools = {t.name: t for t in (await session.list_tools()).tools}
    assert {"ask", "search", "list_documents"} <= set(tools)
    assert tools["ask"].output_schema["properties"]["citations"]

    resources = (await session.list_resources()).resources
    assert len(resources) == len(stored)
    some = resources[0]
    read = await session.read_resource(some.uri)
    assert read.contents[0].text == stored[some.name]

    asked = await session.call_tool("ask", {"question": QUESTION})
    assert not asked.is_error
    data = asked.structured_content
    assert data["status"] == "answered" and data["answer"] == expected["answer"]
    assert data["citations"] == expected["citations"]
    assert expected["answer"] in asked.content[0].text  # the text rendering for hosts
    for c in data["citations"]:
        assert stored[c["source"]][c["char_start"] : c["char_end"]] == c["quote"]

    found = await session.call_tool("search", {"query": QUESTION, "k": 3})
    passages = found.structured_content["passages"]
    assert len(passages) == 3 and passages[0]["rank"] == 1
    assert passages[0]["chunk_id"] == expected["passages"][0]["chunk_id"]

    docs = await session.call_tool("list_documents", {})
    assert {d["uri"] for d in docs.structured_content["documents"]} == {str(r.uri) for r in resources}

    empty = await session.call_tool("ask", {"question": "   "})
    assert empty.is_error
    text = empty.content[0].text
    assert "La question est vide : écrivez une question." in text
    assert "The question is empty: type a question." in text


@pytest.fixture(scope="module")
def expected(live_server) -> dict:
    return httpx.post(f"{live_server}/ask", json={"question": QUESTION}, timeout=60).json()


@pytest.fixture(scope="module")
def stored(assistant) -> dict[str, str]:
    return {source: doc.text for source, doc in assistant.index.documents.items()}


def test_over_http_on_the_running_server(live_server, expected, stored):
    async def main():
        async with http_session(live_server) as session:
            await exercise(session, expected, stored)

    anyio.run(main)


def test_over_stdio_with_alliance_bot_mcp(settings, expected, stored):
    async def main():
        with anyio.fail_after(180):
            async with stdio_session(settings) as session:
                await exercise(session, expected, stored)

    anyio.run(main)


def test_http_needs_the_key_when_keys_are_set(keyed_server):
    assert httpx.post(f"{keyed_server}/mcp", json={}).status_code == 401
    assert (
        httpx.post(f"{keyed_server}/mcp", json={}, headers={"Authorization": "Bearer wrong"}).json()["code"]
        == "invalid_api_key"
    )

    async def main():
        async with http_session(keyed_server, KEY) as session:
            names = {t.name for t in (await session.list_tools()).tools}
            assert "ask" in names

    anyio.run(main)


def test_http_tools_share_the_rate_limit(keyed_server):
    async def main():
        async with http_session(keyed_server, KEY, as_client="10.0.1.2") as session:
            results = [await session.call_tool("search", {"query": f"{QUESTION} {i}"}) for i in range(4)]
        return results

    results = anyio.run(main)
    assert [r.is_error for r in results] == [False, False, False, True]
    assert "Trop de questions d'affilée" in results[-1].content[0].text
    assert "Too many questions in a row" in results[-1].content[0].text


def test_http_ask_is_logged_for_feedback(live_server):
    async def main():
        async with http_session(live_server) as session:
            return (await session.call_tool("ask", {"question": QUESTION})).structured_content["answer_id"]

    answer_id = anyio.run(main)
    vote = httpx.post(f"{live_server}/feedback", json={"answer_id": answer_id, "rating": "down"})
    assert vote.status_code == 200, vote.text


# --- hostile questions: the same checks as /ask on every transport (issue 28, defect 1) -------

NUL_QUESTION = "Qui a lancé\x00 l'Alliance Dynamique ?"
LONG_HISTORY = [{"role": "user", "content": "Et alors ?"}] * 500


def rpc(url: str, tool: str, arguments, as_client: str = "10.0.3.1") -> dict:
    """One raw JSON-RPC `tools/call` on the stateless /mcp (ASCII JSON: lone surrogates travel
    as escapes, as any client may send them); returns the call's result."""
    body = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {"name": tool, "arguments": arguments},
    }
    r = httpx.post(
        f"{url}/mcp",
        content=json.dumps(body).encode(),
        headers={
            "Content-Type": "application/json",
            "Accept": "application/json, text/event-stream",
            "X-Forwarded-For": as_client,
        },
        timeout=60,
    )
    assert r.status_code < 500 and "Traceback" not in r.text, r.text
    return r.json()


HOSTILE = [
    ("ask", {"question": NUL_QUESTION}, "illisibles"),
    ("ask", {"question": "\ud800 Qui a lancé l'Alliance ?"}, "illisibles"),
    ("ask", {"question": "   "}, "La question est vide"),
    ("ask", {"question": "Qui ?" * 500}, "dépasse 2000 caractères"),
    ("ask", {"question": QUESTION, "history": LONG_HISTORY}, "20 tours au plus"),
    ("ask", {"question": QUESTION, "history": [{"role": "user", "content": "a\x00b"}]}, "NUL"),
    ("search", {"query": NUL_QUESTION}, "illisibles"),
    ("search", {"query": ""}, "La question est vide"),
    ("search", {"query": "x" * 60_000}, "dépasse 2000 caractères"),
]


@pytest.mark.parametrize(
    "tool, arguments, said", HOSTILE, ids=[f"{t}-{i}" for i, (t, _, _) in enumerate(HOSTILE)]
)
def test_mcp_tools_refuse_what_ask_refuses(live_server, tool, arguments, said):
    """MCP `ask` answered a NUL question (its log row then stopped the PostgreSQL log), and
    `search` took an empty or 60,000-character query and `ask` 500 history turns."""
    response = rpc(live_server, tool, arguments)
    if "error" in response:  # the SDK's JSON reader refuses a lone surrogate itself
        assert said == "illisibles" and response["error"]["code"] == -32700, response
        return
    result = response["result"]
    assert result["isError"] is True, result
    assert said in result["content"][0]["text"]


def log_ids(database_url: str, ids: list[str]) -> set[str]:
    from sqlalchemy import create_engine, select

    from bot.operator.log.tables import answers

    engine = create_engine(database_url)
    try:
        with engine.connect() as db:
            return set(db.execute(select(answers.c.id).where(answers.c.id.in_(ids))).scalars())
    finally:
        engine.dispose()


def wait_until(predicate, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return predicate()


def test_nul_through_http_mcp_with_a_postgresql_log(assistant, settings, postgres_url, tmp_path):
    """The NUL question is refused at the door; answers after it are logged in PostgreSQL. A row
    the database refuses all the same (a way in that forgot the check) is set aside, counted in
    /metrics and /health, and the answers behind it are still written."""
    own = settings.model_copy(
        update={"database_url": postgres_url, "data_dir": tmp_path / "data", "rate_limit": 0}
    )
    app = create_app(own, assistant)
    conversation_log = app.state.services.conversation_log
    with served(app) as url:
        refused = rpc(url, "ask", {"question": NUL_QUESTION})["result"]
        assert refused["isError"] is True and "illisibles" in refused["content"][0]["text"]
        first = rpc(url, "ask", {"question": QUESTION})["result"]["structuredContent"]["answer_id"]

        poisoned = Answer(status="no_answer", answer="")  # what PostgreSQL refuses: a NUL in a text column
        conversation_log.record(poisoned, NUL_QUESTION, None, "/mcp")
        later = [
            rpc(url, "ask", {"question": QUESTION})["result"]["structuredContent"]["answer_id"]
            for _ in range(3)
        ]

        ids = [first, *later]
        assert wait_until(lambda: log_ids(postgres_url, ids) == set(ids), 20), "later answers not logged"
        assert log_ids(postgres_url, [poisoned.id]) == set()
        health = httpx.get(f"{url}/health", timeout=10).json()
        assert health["status"] == "ready", health
        assert health["log"] == {"pending": 0, "in_memory": 0, "quarantined": 1, "dropped": 0}
        metrics = httpx.get(f"{url}/metrics", timeout=10).text
        assert "alliance_log_quarantined 1.0" in metrics
    conversation_log.close()
    with sqlite3.connect(tmp_path / "data" / "log-pending.sqlite") as kept:
        (row,) = kept.execute("SELECT reason, row FROM quarantine").fetchall()
    assert "DataError" in row[0] and json.loads(row[1])["id"] == poisoned.id


def test_nul_through_stdio_mcp_with_a_postgresql_log(settings, postgres_url, tmp_path):
    """`alliance-bot mcp` with its log in PostgreSQL: the NUL question refused, the next logged."""

    async def main():
        with anyio.fail_after(180):
            env = {
                "ALLIANCE_LOG": "1",
                "ALLIANCE_DATABASE_URL": postgres_url,
                "ALLIANCE_DATA_DIR": str(tmp_path),
            }
            async with stdio_session(settings, **env) as session:
                refused = await session.call_tool("ask", {"question": NUL_QUESTION})
                empty = await session.call_tool("search", {"query": ""})
                asked = [await session.call_tool("ask", {"question": QUESTION}) for _ in range(2)]
        return refused, empty, asked

    refused, empty, asked = anyio.run(main)
    assert refused.is_error and "illisibles" in refused.content[0].text
    assert empty.is_error and "La question est vide" in empty.content[0].text
    ids = [a.structured_content["answer_id"] for a in asked]
    assert wait_until(lambda: log_ids(postgres_url, ids) == set(ids), 20)
