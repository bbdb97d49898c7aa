"""The optional LLM writer against a small OpenAI-compatible server on 127.0.0.1."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from bot.assistant import Assistant

REPLY = {"text": ""}


class FakeCompletions(BaseHTTPRequestHandler):
    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        assert body["messages"][1]["content"].startswith("Passages :")
        if REPLY["text"] is None:
            self.send_response(500)
            self.end_headers()
            return
        out = json.dumps({"choices": [{"message": {"content": REPLY["text"]}}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def llm_url():
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeCompletions)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()


@pytest.fixture
def llm_assistant(assistant, llm_url):
    settings = assistant.settings.model_copy(update={"llm_url": llm_url, "llm_timeout": 5.0})
    return Assistant(settings, embedder=assistant.embedder)


def test_invalid_citation_numbers_are_removed(llm_assistant):
    REPLY["text"] = "Le Groupe La Poste a lancé l'Alliance Dynamique [2] en 2014 [9]."
    answer = llm_assistant.ask("Qui a lancé l'Alliance Dynamique ?")
    assert answer.answer == "Le Groupe La Poste a lancé l'Alliance Dynamique [1] en 2014."
    assert [c.n for c in answer.citations] == [1]
    cited = answer.citations[0]
    assert cited.chunk_id == answer.passages[1].chunk_id and cited.quote == answer.passages[1].text


def test_server_error_falls_back_to_extractive(llm_assistant, assistant):
    REPLY["text"] = None
    question = "Qui a lancé l'Alliance Dynamique ?"
    assert llm_assistant.ask(question).answer == assistant.ask(question).answer


def test_answer_without_any_valid_citation_is_not_trusted(llm_assistant, assistant):
    REPLY["text"] = "Sans doute La Poste [7]."
    question = "Qui a lancé l'Alliance Dynamique ?"
    assert llm_assistant.ask(question).answer == assistant.ask(question).answer


def test_refusal_is_not_sent_to_the_llm(llm_assistant):
    REPLY["text"] = "Canberra [1]."
    assert llm_assistant.ask("Quelle est la capitale de l'Australie ?").status == "no_answer"
