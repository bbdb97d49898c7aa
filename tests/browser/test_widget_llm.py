"""The widget with the LLM writer on (the tests' fake LLM, one token every 20 ms): the reply
streams in, and a reply whose citation names no passage midway is replaced on screen by the
extractive answer."""

from __future__ import annotations

import pytest

from tests.browser.conftest import chromium_missing_reason

if (reason := chromium_missing_reason()) is not None:
    pytest.skip(reason, allow_module_level=True)

from playwright.sync_api import Page  # noqa: E402

from tests.answer.test_llm import QUESTION, llm_url, reply  # noqa: E402, F401
from tests.api.test_llm_stream import BAD, EVERY, extractive, llm_server, tokens  # noqa: E402, F401

# What the streaming bubble showed before and after a `replace`, then the final answer's text.
WATCH = """async (question) => {
  const sr = document.querySelector('alliance-bot-widget').shadowRoot;
  const seen = {streamed: '', replaced: '', final: ''};
  const obs = new MutationObserver(() => {
    const m = sr.querySelector('.msg[data-state=streaming]');
    const text = m?.querySelector('.bubble')?.textContent || '';
    if (m && m.dataset.replaced) seen.replaced = text;
    else if (text.length > seen.streamed.length) seen.streamed = text;
  });
  const all = {subtree: true, childList: true, characterData: true, attributes: true};
  obs.observe(sr.querySelector('.log'), all);
  sr.querySelector('.launcher').click();
  const input = sr.querySelector('textarea');
  input.value = question;
  input.dispatchEvent(new Event('input', {bubbles: true}));
  sr.querySelector('.send').click();
  await new Promise((resolve) => {
    const poll = setInterval(() => {
      if (sr.querySelector('.msg[data-kind]')) { clearInterval(poll); resolve(); }
    }, 10);
  });
  obs.disconnect();
  seen.final = sr.querySelector('.msg[data-kind] .bubble').textContent;
  return seen;
}"""


def test_a_bad_citation_midway_is_replaced_on_screen(page: Page, llm_server, extractive) -> None:  # noqa: F811
    reply(tokens=tokens(BAD), every=EVERY)
    page.goto(llm_server + "/")
    seen = page.evaluate(WATCH, QUESTION)
    assert seen["streamed"].startswith("Le Groupe La Poste a lancé l'Alliance Dynamique [1].")
    assert "cinq cents membres" in seen["streamed"]  # shown while it streamed...
    assert seen["replaced"] == extractive  # ...then replaced by the answer that stands
    assert "cinq cents" not in seen["final"] and "Groupe La Poste" in seen["final"]
    assert page.js_errors == []
