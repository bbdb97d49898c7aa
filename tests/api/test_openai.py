"""`/v1` through the official `openai` library against a real uvicorn on 127.0.0.1."""

from __future__ import annotations

import re

import httpx
import openai
import pytest

from tests.api.conftest import API_KEY as KEY

QUESTION = "Qui a lancé l'Alliance Dynamique ?"


def client(url: str, key: str = "unused", as_client: str = "10.0.0.1") -> openai.OpenAI:
    """`as_client`: the X-Forwarded-For address (`keyed_server` trusts it: one rate-limit bucket each)."""
    return openai.OpenAI(
        base_url=f"{url}/v1",
        api_key=key,
        max_retries=0,
        timeout=60,
        default_headers={"X-Forwarded-For": as_client},
    )


@pytest.fixture(scope="module")
def model(live_server) -> str:
    models = client(live_server).models.list().data
    assert len(models) == 1
    return models[0].id


def test_model_id_names_the_corpus_and_index_version(live_server, model):
    version = httpx.get(f"{live_server}/health").json()["index"]["version"]
    assert model.startswith("alliance-bot:") and model.endswith(f"@{version}")


def test_completion_holds_the_same_answer_and_citations_as_ask(live_server, model):
    expected = httpx.post(f"{live_server}/ask", json={"question": QUESTION}, timeout=60).json()
    completion = client(live_server).chat.completions.create(
        model=model,
        messages=[{"role": "system", "content": "Sois bref."}, {"role": "user", "content": QUESTION}],
    )
    choice = completion.choices[0]
    assert choice.finish_reason == "stop" and choice.message.role == "assistant"
    content = choice.message.content
    answer, _, sources = content.partition("\n\nSources :\n")
    assert answer == expected["answer"] and "La Poste" in answer
    extra = completion.model_extra["alliance"]
    assert extra["status"] == "answered"
    assert extra["citations"] == expected["citations"]
    assert extra["short_answer"] == expected["short_answer"]
    # One numbered source per citation, linking to its passage on /sources.
    lines = sources.splitlines()
    assert len(lines) == len(expected["citations"])
    for line, citation in zip(lines, expected["citations"], strict=True):
        assert line.startswith(f"[{citation['n']}] {citation['title']} — {live_server}/sources/")
        link = line.rsplit(" — ", 1)[1]
        page = httpx.get(link.split("#")[0])
        assert page.status_code == 200 and "<mark" in page.text
    assert completion.usage.completion_tokens > 0
    counted = completion.usage
    assert counted.total_tokens == counted.prompt_tokens + counted.completion_tokens
    # The answer id is the log's: POST /feedback takes it.
    vote = httpx.post(f"{live_server}/feedback", json={"answer_id": extra["answer_id"], "rating": "up"})
    assert vote.status_code == 200, vote.text


def test_streamed_deltas_join_into_the_plain_completion(live_server, model):
    messages = [{"role": "user", "content": QUESTION}]
    plain = client(live_server).chat.completions.create(model=model, messages=messages)
    stream = client(live_server).chat.completions.create(
        model=model, messages=messages, stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    assert len({c.id for c in chunks}) == 1
    joined = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert joined == plain.choices[0].message.content
    finals = [c for c in chunks if c.choices and c.choices[0].finish_reason]
    assert [c.choices[0].finish_reason for c in finals] == ["stop"]
    assert finals[0].model_extra["alliance"]["citations"] == plain.model_extra["alliance"]["citations"]
    assert chunks[-1].usage.completion_tokens == plain.usage.completion_tokens
    assert sum(1 for c in chunks if c.choices and c.choices[0].delta.content) > 3  # word by word


def test_stream_ends_with_done(live_server, model):
    with httpx.stream(
        "POST",
        f"{live_server}/v1/chat/completions",
        timeout=60,
        json={"model": model, "stream": True, "messages": [{"role": "user", "content": QUESTION}]},
    ) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        lines = [line for line in r.iter_lines() if line]
    assert lines[-1] == "data: [DONE]"


def test_follow_up_uses_the_history(live_server, model):
    first = client(live_server).chat.completions.create(
        model=model, messages=[{"role": "user", "content": QUESTION}]
    )
    follow = client(live_server).chat.completions.create(
        model=model,
        messages=[
            {"role": "user", "content": QUESTION},
            {"role": "assistant", "content": first.choices[0].message.content},
            {"role": "user", "content": "Et en quelle année ?"},
        ],
    )
    expected = httpx.post(
        f"{live_server}/ask",
        timeout=60,
        json={
            "question": "Et en quelle année ?",
            "history": [
                {"role": "user", "content": QUESTION},
                {
                    "role": "assistant",
                    "content": first.model_extra["alliance"]
                    and first.choices[0].message.content.split("\n\nSources :\n")[0],
                },
            ],
        },
    ).json()
    content = follow.choices[0].message.content
    assert follow.model_extra["alliance"]["status"] == "answered"
    assert "2014" in content
    assert content.startswith(expected["answer"])


def test_refusal_is_an_ordinary_message(live_server, model):
    completion = client(live_server).chat.completions.create(
        model=model, messages=[{"role": "user", "content": "Comment faire une pâte à crêpes ?"}]
    )
    extra = completion.model_extra["alliance"]
    assert extra["status"] == "no_answer" and extra["citations"] == []
    assert completion.choices[0].finish_reason == "stop"
    content = completion.choices[0].message.content
    assert content and "Sources" not in content and not re.search(r"\[\d+\]", content)


@pytest.mark.parametrize(
    "extra, param",
    [
        (
            {"tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]},
            "tools",
        ),
        ({"n": 2}, "n"),
        ({"logprobs": True}, "logprobs"),
    ],
)
def test_unsupported_parameter_is_refused_as_the_library_raises_it(live_server, model, extra, param):
    with pytest.raises(openai.BadRequestError) as raised:
        client(live_server).chat.completions.create(
            model=model, messages=[{"role": "user", "content": QUESTION}], **extra
        )
    error = raised.value.body
    assert error["code"] == "unsupported_parameter" and error["param"] == param
    assert param in error["message"] and "non pris en charge" in error["message"]
    assert error["type"] == "invalid_request_error"


def test_images_are_refused(live_server, model):
    with pytest.raises(openai.BadRequestError) as raised:
        client(live_server).chat.completions.create(
            model=model,
            messages=[
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": QUESTION},
                        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
                    ],
                }
            ],
        )
    assert raised.value.body["code"] == "unsupported_parameter"


def test_errors_use_openai_shape_on_v1_only(live_server, model):
    empty = httpx.post(
        f"{live_server}/v1/chat/completions",
        json={"model": model, "messages": [{"role": "user", "content": "  "}]},
    )
    assert empty.status_code == 400
    assert empty.json()["error"]["code"] == "empty_question"
    assert empty.json()["error"]["message"].startswith("La question est vide")
    unknown = httpx.post(
        f"{live_server}/v1/chat/completions",
        json={"model": "gpt-4o", "messages": [{"role": "user", "content": QUESTION}]},
    )
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "model_not_found"
    assert httpx.post(f"{live_server}/ask", json={"question": "  "}).json()["code"] == "empty_question"


def test_wrong_key_gets_401_and_a_right_one_an_answer(keyed_server):
    with pytest.raises(openai.AuthenticationError) as raised:
        client(keyed_server, "wrong-key").models.list()
    assert raised.value.body["code"] == "invalid_api_key"
    assert httpx.get(f"{keyed_server}/v1/models").status_code == 401  # no key at all
    model = client(keyed_server, KEY).models.list().data[0].id
    done = client(keyed_server, KEY).chat.completions.create(
        model=model, messages=[{"role": "user", "content": QUESTION}]
    )
    assert done.model_extra["alliance"]["status"] == "answered"
    assert httpx.post(f"{keyed_server}/ask", json={"question": QUESTION}).status_code == 200  # /ask: no key


def test_past_the_rate_limit_the_library_raises_429(keyed_server):
    api = client(keyed_server, KEY, as_client="10.0.0.2")
    model = api.models.list().data[0].id
    with pytest.raises(openai.RateLimitError) as raised:
        for i in range(6):
            messages = [{"role": "user", "content": f"{QUESTION} {i}"}]
            api.chat.completions.create(model=model, messages=messages)
    assert raised.value.body["code"] == "rate_limited"
    assert raised.value.response.headers["retry-after"].isdigit()


IMAGE = [{"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}]
TOOL_CALL = [{"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]


@pytest.mark.parametrize(
    "messages, extra, param",
    [
        # An image in a message that is not the user's was reported at messages[0].
        (
            [
                {"role": "user", "content": "Bonjour"},
                {"role": "system", "content": IMAGE},
                {"role": "user", "content": QUESTION},
            ],
            {},
            "messages[1].content",
        ),
        (
            [{"role": "developer", "content": "Sois bref."}, {"role": "assistant", "content": IMAGE}]
            + [{"role": "user", "content": QUESTION}],
            {},
            "messages[1].content",
        ),
        # tool_calls on an assistant turn were accepted and silently ignored.
        (
            [
                {"role": "user", "content": "Bonjour"},
                {"role": "assistant", "content": None, "tool_calls": TOOL_CALL},
                {"role": "user", "content": QUESTION},
            ],
            {},
            "messages[1].tool_calls",
        ),
        (
            [
                {"role": "assistant", "content": "", "function_call": {"name": "f", "arguments": "{}"}},
                {"role": "user", "content": QUESTION},
            ],
            {},
            "messages[0].function_call",
        ),
        (
            [
                {"role": "assistant", "content": "", "tool_calls": TOOL_CALL},
                {"role": "tool", "tool_call_id": "call_1", "content": "42"},
                {"role": "user", "content": QUESTION},
            ],
            {},
            "messages[0].tool_calls",
        ),
        ([{"role": "tool", "tool_call_id": "call_1", "content": "42"}], {}, "messages[0].role"),
        ([{"role": "user", "content": QUESTION}], {"tools": []}, "tools"),
        ([{"role": "user", "content": QUESTION}], {"tool_choice": "none"}, "tool_choice"),
        ([{"role": "user", "content": QUESTION}], {"parallel_tool_calls": False}, "parallel_tool_calls"),
    ],
)
def test_tool_use_and_images_are_refused_at_their_own_index(live_server, model, messages, extra, param):
    r = httpx.post(
        f"{live_server}/v1/chat/completions", json={"model": model, "messages": messages, **extra}, timeout=60
    )
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert error["code"] == "unsupported_parameter" and error["param"] == param, error
    assert error["type"] == "invalid_request_error" and param in error["message"]


def test_a_participant_name_is_not_tool_use(live_server, model):
    r = httpx.post(
        f"{live_server}/v1/chat/completions",
        json={"model": model, "messages": [{"role": "user", "name": "Ana", "content": QUESTION}]},
        timeout=60,
    )
    assert r.status_code == 200, r.text
