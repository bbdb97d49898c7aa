"""Property-based fuzzing of every route from the app's own OpenAPI schema (schemathesis)
against the real server: no 5xx, no stack trace, responses as documented, and the server
still ready afterwards. A few dozen examples per route here; `bench/fuzz_api.py` runs
thousands."""

from __future__ import annotations

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
