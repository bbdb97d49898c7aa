"""Property-based fuzzing of every route from the app's own OpenAPI schema (schemathesis)
against the real server: no 5xx, no stack trace, responses as documented, and the server
still ready afterwards. A few dozen examples per route here; `bench/fuzz_api.py` runs
thousands."""

from __future__ import annotations

import json

import httpx
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

LEAKS = ("Traceback", 'File "', "/site-packages/", "/tmp/", "Exception", "Error:")


@schemathesis.check
def no_stack_trace(ctx, response, case):
    text = response.text
    leaked = [marker for marker in LEAKS if marker in text]
    if leaked:
        raise AssertionError(f"response carries {leaked}")
    return None


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    no_stack_trace,
]


EXAMPLES_PER_OPERATION = 25


def fuzz(base_url: str, examples: int) -> dict[str, int]:
    """Generated requests for every operation of the served schema; requests sent per operation."""
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json")
    sent: dict[str, int] = {}
    for result in schema.get_all_operations():
        operation = result.ok()
        sent[operation.label] = 0
        fuzz_operation(operation, examples, sent)()
    return sent


def cases(operation):
    """Requests that fit the schema and, where there is a body to break, requests that do not."""
    valid = operation.as_strategy(GenerationMode.POSITIVE)
    if operation.method.upper() != "POST":
        return valid
    return st.one_of(valid, operation.as_strategy(GenerationMode.NEGATIVE))


def fuzz_operation(operation, examples: int, sent: dict[str, int]):
    @given(case=cases(operation))
    @settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def run(case):
        sent[operation.label] += 1
        case.call_and_validate(checks=CHECKS, timeout=30)

    return run


def test_every_route_holds_under_generated_requests(live_server):
    sent = fuzz(live_server, EXAMPLES_PER_OPERATION)
    print("requests per operation:", sent)
    assert {
        "POST /ask",
        "POST /ask/stream",
        "POST /search",
        "GET /documents",
        "GET /health",
        "GET /v1/models",
        "POST /v1/chat/completions",
    } <= set(sent)
    assert all(count > 0 for count in sent.values())


def test_still_ready_after_fuzzing(live_server):
    health = httpx.get(f"{live_server}/health")
    assert health.status_code == 200 and health.json()["status"] == "ready"


# --- /mcp: not in the OpenAPI schema, so fuzzed by hand: JSON-RPC calls with hostile strings ---

HOSTILE_STRINGS = [
    "",
    "   ",
    "a\x00b",
    "\x00",
    "\ud800 qui ?",
    "\udfff",
    "x" * 60_000,
    "Qui ? " * 400,
    "\u202eédnarG\u202c",
    "\ufeff\u200b",
    "../../../etc/passwd",
    "alliance://documents/..%2F..%2Fetc%2Fpasswd",
    "%00",
    "🦉" * 100,
    "Qui a lancé l'Alliance Dynamique ?",
]
MCP_LEAKS = ("Traceback", 'File "', "/site-packages/")
NAMES = ["ask", "search", "list_documents", "nope", ""]
KEYS = ["question", "query", "k", "history", "role", "extra"]

values = st.recursive(
    st.one_of(
        st.sampled_from(HOSTILE_STRINGS),
        st.text(max_size=40),
        st.integers(min_value=-(2**70), max_value=2**70),
        st.booleans(),
        st.none(),
        st.floats(allow_nan=False),
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.sampled_from(KEYS + ["content"]), inner, max_size=4)
    ),
    max_leaves=8,
)
turns = st.lists(
    st.fixed_dictionaries({"role": st.sampled_from(["user", "assistant", "system"]), "content": values}),
    max_size=3,
) | st.just([{"role": "user", "content": "Et alors ?"}] * 30)
arguments = st.fixed_dictionaries(
    {},
    optional={
        "question": values,
        "query": values,
        "k": values,
        "history": turns | values,
        "extra": values,
    },
)
hostile = st.sampled_from(HOSTILE_STRINGS)
FIELD = {"ask": "question", "search": "query"}
questions = st.builds(  # the tools' own arguments, each a hostile string
    lambda name, text, history: {
        "method": "tools/call",
        "params": {"name": name, "arguments": {FIELD[name]: text} | history},
    },
    st.sampled_from(["ask", "search"]),
    hostile,
    st.just({}) | st.builds(lambda t: {"history": t}, turns),
)
calls = st.one_of(
    questions,
    st.fixed_dictionaries(
        {
            "method": st.just("tools/call"),
            "params": st.fixed_dictionaries(
                {"name": st.sampled_from(NAMES)}, optional={"arguments": arguments | values}
            ),
        }
    ),
    st.fixed_dictionaries(
        {
            "method": st.just("resources/read"),
            "params": st.fixed_dictionaries({"uri": st.sampled_from(HOSTILE_STRINGS) | st.text(max_size=60)}),
        }
    ),
    st.fixed_dictionaries(
        {
            "method": st.sampled_from(["tools/list", "resources/list", "ping", "initialize", "x/y", ""]),
            "params": values,
        }
    ),
)


def readable_question(value) -> bool:
    """Would `/ask` take this as a question? (a string, text, not blank, 2,000 characters at most)"""
    if not isinstance(value, str) or "\x00" in value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return 0 < len(value.strip()) <= 2000


@given(call=calls, request_id=st.one_of(st.integers(0, 2**31), st.text(max_size=8)))
@settings(
    max_examples=80, deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck)
)
def check_mcp(url: str, call: dict, request_id):
    body = {"jsonrpc": "2.0", "id": request_id, **call}
    r = httpx.post(
        f"{url}/mcp",
        content=json.dumps(body).encode(),  # ASCII: lone surrogates travel as escapes
        headers={"Content-Type": "application/json", "Accept": "application/json, text/event-stream"},
        timeout=60,
    )
    assert r.status_code < 500, (body, r.status_code, r.text[:500])
    assert not [m for m in MCP_LEAKS if m in r.text], r.text[:2000]
    if (
        call["method"] == "tools/call"
        and call["params"]["name"] in ("ask", "search")
        and r.status_code == 200
    ):
        result = r.json().get("result")
        args = call["params"].get("arguments")
        field = FIELD[call["params"]["name"]]
        if result is not None and not result.get("isError"):
            # Answered: then the question passed the same checks as on /ask.
            assert isinstance(args, dict) and readable_question(args.get(field)), (body, result)


def test_mcp_holds_under_generated_json_rpc_calls(live_server):
    """/mcp is not in the OpenAPI schema, so schemathesis never reached it: hostile strings,
    wrong types and unknown tools and methods in JSON-RPC calls give no server error, no stack
    trace, and nothing answered that /ask would refuse."""
    check_mcp(live_server)
    health = httpx.get(f"{live_server}/health")
    assert health.status_code == 200 and health.json()["status"] == "ready"
