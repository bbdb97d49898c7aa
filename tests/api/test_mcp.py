"""The MCP server through the official `mcp` client (`ClientSession`): over stdio against
`alliance-bot mcp`, and over streamable HTTP against `/mcp` on a real uvicorn."""

from __future__ import annotations

import os
import sys
from contextlib import asynccontextmanager

import anyio
import httpx
import pytest
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

from tests.api.conftest import API_KEY as KEY

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
async def stdio_session(settings):
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "bot", "mcp"],
        env=dict(os.environ)
        | {
            "ALLIANCE_INDEX_DIR": str(settings.index_dir),
            "ALLIANCE_DOCUMENTS_DIR": str(settings.documents_dir),
            "ALLIANCE_LOG": "0",
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
