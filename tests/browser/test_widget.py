"""The chat widget in a real Chromium against a real server (`live_server`).

Run with `-s` to see the measured timings and the widget size.
"""

from __future__ import annotations

import json
import re
import socket
from pathlib import Path

import httpx
import pytest

from tests.browser.conftest import PHONE, chromium_missing_reason

if (reason := chromium_missing_reason()) is not None:
    pytest.skip(reason, allow_module_level=True)

from playwright.sync_api import Page, expect  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
WIDGET_JS = REPO / "bot" / "widget" / "widget.js"
SCREENSHOTS = REPO / "docs" / "screenshots"
ARTIFACTS = REPO / "tests" / "artifacts"

W = "alliance-bot-widget"  # Playwright's CSS locators pierce the open shadow root
QUESTION = "Qui a lancé l'Alliance Dynamique ?"
OFF_TOPIC = "Quelle est la capitale de l'Australie ?"
NO_ANSWER_FR = "Je ne trouve pas la réponse dans les documents."


# Measured in the page: launcher click, question typed, send (all programmatic, at once),
# until the first words of the answer are painted (first streamed delta rendered).
MEASURE = """async (question) => {
  const host = document.querySelector('alliance-bot-widget'), sr = host.shadowRoot;
  let server = -1;  // the server's own timings_ms.total, from the answer contract
  host.addEventListener('alliance-bot:answer', (e) => {
    server = e.detail.timings_ms?.total ?? -1;
  });
  const log = sr.querySelector('.log');
  const when = (test) => new Promise((resolve) => {
    const check = () => {
      if (!test()) return;
      obs.disconnect();
      requestAnimationFrame(() => resolve(performance.now()));
    };
    const obs = new MutationObserver(check);
    obs.observe(log, {subtree: true, childList: true, characterData: true, attributes: true});
    check();
  });
  const firstWords = when(() => {
    const m = sr.querySelector('.msg[data-state=streaming], .msg[data-kind]');
    return m && m.querySelector('.bubble:not(.typing)')?.textContent.trim();
  });
  const done = when(() => sr.querySelector('.msg[data-kind]'));
  const t0 = performance.now();
  sr.querySelector('.launcher').click();
  const input = sr.querySelector('textarea');
  input.value = question;
  input.dispatchEvent(new Event('input', {bubbles: true}));
  const t1 = performance.now();
  sr.querySelector('.send').click();
  const typing = !!sr.querySelector('.msg[data-state=waiting] .typing');  // waiting state
  const [first, end] = [await firstWords, await done];
  return {launcher_click_to_first_words_ms: first - t0, send_to_first_words_ms: first - t1,
          send_to_complete_answer_ms: end - t1, server_total_ms: server, typing};
}"""


def w(page: Page, selector: str):
    return page.locator(f"{W} {selector}")


def open_demo(page: Page, url: str) -> None:
    page.goto(url)
    expect(w(page, ".launcher")).to_be_visible()


def open_widget(page: Page) -> None:
    w(page, ".launcher").click()
    expect(w(page, ".panel")).to_be_visible()


def ask(page: Page, question: str):
    """Type and send a question; return the bot's final message (answer, no_answer or error)."""
    finals = w(page, ".msg[data-kind]")
    before = finals.count()
    w(page, "textarea").fill(question)
    w(page, ".send").click()
    expect(finals).to_have_count(before + 1)
    return finals.last


def serve_test_page(page: Page, url: str, script_attrs: str) -> None:
    """Serve a tiny page at `url` (same origin as the server) that embeds the widget."""
    html = (
        '<!doctype html><html><head><meta charset="utf-8"><title>t</title></head><body>'
        f'<p>Test page</p><script src="/widget.js" {script_attrs} defer></script></body></html>'
    )
    page.route(url, lambda route: route.fulfill(status=200, content_type="text/html", body=html))
    open_demo(page, url)


def sse(*events: tuple[str, dict]) -> str:
    return "".join(f"event: {name}\ndata: {json.dumps(data)}\n\n" for name, data in events)


def test_answer_with_citations_timings_and_isolation(new_page, live_server: str) -> None:
    timings = {}
    for run in ("first_page", "second_page"):  # the second one meets a warm server
        page = new_page()
        open_demo(page, live_server + "/")
        measured = page.evaluate(MEASURE, QUESTION)
        assert measured.pop("typing"), "no typing indicator while waiting"
        timings[run] = {k: round(v, 1) for k, v in measured.items()}
    print(f"\nwidget timings: {timings}")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "widget_timings.json").write_text(json.dumps(timings, indent=2) + "\n")

    answer = w(page, ".msg[data-kind]").last
    expect(answer).to_have_attribute("data-kind", "answer")
    expect(answer.locator(".bubble")).to_contain_text("La Poste")
    cites = answer.locator(".cite")
    assert cites.count() >= 1
    first = cites.first
    expect(first).to_have_attribute("aria-expanded", "false")
    first.click()
    card = page.locator(f"{W} #{first.get_attribute('aria-controls')}")
    expect(card).to_have_attribute("open", "")
    expect(first).to_have_attribute("aria-expanded", "true")
    quote = card.locator("blockquote")
    expect(quote).to_be_visible()
    assert re.fullmatch(r"«\u00a0.+\u00a0»", quote.inner_text().strip(), re.S), quote.inner_text()
    expect(card.locator(".loc")).not_to_be_empty()

    # Isolation: the page's `button {background: red}` / `* {font-family: serif}` stay outside.
    style = "(el) => [getComputedStyle(el).backgroundColor, getComputedStyle(el).fontFamily]"
    page_bg, page_font = page.locator("main button").evaluate(style)
    send_bg, widget_font = w(page, ".send").evaluate(style)
    assert page_bg == "rgb(255, 0, 0)" and "Georgia" in page_font  # the page CSS is live...
    assert send_bg != page_bg and "Georgia" not in widget_font  # ...and never reaches the widget
    assert page.js_errors == []
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.wait_for_timeout(1000)  # let the card's highlight fade
    page.screenshot(path=str(SCREENSHOTS / "widget-desktop.png"))


def test_no_answer_offers_closest_passages(page: Page, live_server: str) -> None:
    open_demo(page, live_server + "/")
    open_widget(page)
    reply = ask(page, OFF_TOPIC)
    expect(reply).to_have_attribute("data-kind", "no_answer")
    expect(reply.locator(".bubble")).to_have_text(NO_ANSWER_FR)
    cards = reply.locator(".closest .card")
    assert 1 <= cards.count() <= 3
    first = cards.first
    expect(first.locator(".ex")).not_to_be_empty()  # short excerpt while closed
    first.locator("summary").click()
    expect(first.locator("blockquote")).to_be_visible()
    assert len(first.locator("blockquote").inner_text()) > len(first.locator(".t").inner_text())


def test_user_and_server_text_is_never_html(page: Page, live_server: str) -> None:
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    open_demo(page, live_server + "/")
    open_widget(page)
    question = '<img src=x onerror=alert(1)> <img src=x onerror="window.__xss=1"> <b>gras</b>'
    ask(page, question)
    expect(w(page, ".msg.user .bubble").last).to_have_text(question)

    # Hostile server content: HTML in the answer, title and quote, a javascript: URL.
    evil = '<img src=x onerror="window.__xss=2">'
    contract = {
        "status": "answered",
        "answer": f"Réponse {evil} [1].",
        "citations": [
            {
                "n": 1,
                "title": f"Titre {evil}",
                "source": "documents/a.md",
                "url": "javascript:window.__xss=3",
                "chunk_id": "c",
                "char_start": 0,
                "char_end": 5,
                "quote": f"Citation {evil}",
                "score": 1.0,
                "page": None,
            }
        ],
        "passages": [],
        "timings_ms": {},
        "index": {},
    }
    page.route(
        "**/ask/stream",
        lambda route: route.fulfill(
            status=200,
            content_type="text/event-stream",
            body=sse(
                ("passages", {"passages": []}),
                ("delta", {"text": contract["answer"]}),
                ("citations", {"citations": contract["citations"]}),
                ("done", contract),
            ),
        ),
    )
    reply = ask(page, "Question suivante")
    expect(reply.locator(".bubble")).to_contain_text(evil)
    reply.locator(".cite").first.click()
    expect(reply.locator("blockquote")).to_have_text(f"«\u00a0Citation {evil}\u00a0»")
    expect(reply.locator(".loc a:not(.indoc)")).to_have_count(0)  # javascript: URL dropped...
    expect(reply.locator(".loc")).to_contain_text("documents/a.md")  # ...the source path shown
    page.wait_for_timeout(300)
    assert w(page, ".log img").count() == 0
    assert page.evaluate("window.__xss") is None
    assert dialogs == []
    assert page.js_errors == []


def test_keyboard_only(page: Page, live_server: str) -> None:
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url) if "/ask" in r.url else None)
    open_demo(page, live_server + "/")
    launcher = w(page, ".launcher")
    for _ in range(10):  # Tab through the page until the launcher has the focus
        page.keyboard.press("Tab")
        if launcher.evaluate("(el) => el.getRootNode().activeElement === el"):
            break
    else:
        pytest.fail("the launcher is not reachable with Tab")
    assert launcher.evaluate("(el) => getComputedStyle(el).outlineStyle") != "none"  # focus visible
    expect(launcher).to_have_attribute("aria-expanded", "false")
    assert w(page, "#" + launcher.get_attribute("aria-controls")).count() == 1

    page.keyboard.press("Enter")
    expect(launcher).to_have_attribute("aria-expanded", "true")
    textarea = w(page, "textarea")
    expect(textarea).to_be_focused()
    expect(w(page, ".send")).to_be_disabled()
    page.keyboard.press("Enter")  # empty question: nothing is sent
    page.keyboard.type("   ")
    expect(w(page, ".send")).to_be_disabled()
    page.keyboard.press("Enter")
    page.keyboard.press("Control+A")
    page.keyboard.type("ligne 1")
    page.keyboard.press("Shift+Enter")
    page.keyboard.type("ligne 2")
    expect(textarea).to_have_value("ligne 1\nligne 2")
    assert requests == []
    page.keyboard.press("Control+A")
    page.keyboard.type(QUESTION)
    page.keyboard.press("Enter")
    reply = w(page, ".msg[data-kind]").last
    expect(reply).to_have_attribute("data-kind", "answer")
    expect(textarea).to_have_value("")
    assert len(requests) == 1

    page.keyboard.press("Escape")
    expect(w(page, ".panel")).to_be_hidden()
    expect(launcher).to_have_attribute("aria-expanded", "false")
    assert launcher.evaluate("(el) => el.getRootNode().activeElement === el")
    assert page.evaluate("document.activeElement.localName") == W
    assert page.js_errors == []


def test_phone_width(new_page, live_server: str) -> None:
    page = new_page(viewport=PHONE, is_mobile=True, has_touch=True)
    open_demo(page, live_server + "/")
    open_widget(page)
    expect(w(page, "textarea")).to_be_focused()
    reply = ask(page, QUESTION)
    expect(reply).to_have_attribute("data-kind", "answer")
    reply.locator(".cite").first.click()
    page.wait_for_timeout(1000)
    for selector in (".panel", ".composer", ".head", ".msg[data-kind]"):
        box = w(page, selector).last.bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], (selector, box)
    panel = w(page, ".panel").bounding_box()
    assert panel["y"] >= 0 and panel["y"] + panel["height"] <= PHONE["height"]
    assert panel["width"] >= PHONE["width"] - 8  # (near) full width
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "widget-phone.png"))


def test_conversation_survives_reload_and_can_be_reset(page: Page, live_server: str) -> None:
    open_demo(page, live_server + "/")
    open_widget(page)
    first = ask(page, QUESTION)
    expect(first).to_have_attribute("data-kind", "answer")
    answer_text = first.locator(".bubble").inner_text()

    page.reload()
    expect(w(page, ".panel")).to_be_visible()  # open state restored
    expect(w(page, ".msg.user .bubble")).to_have_text([QUESTION])
    restored = w(page, ".msg[data-kind]").last
    expect(restored.locator(".bubble")).to_have_text(answer_text)
    assert restored.locator(".cite").count() >= 1

    # A follow-up carries the history (the last turns, citation markers stripped).
    with page.expect_request("**/ask/stream") as request:
        ask(page, "Et en quelle année ?")
    history = json.loads(request.value.post_data)["history"]
    assert [t["role"] for t in history] == ["user", "assistant"]
    assert history[0]["content"] == QUESTION
    assert "La Poste" in history[1]["content"] and not re.search(r"\[\d+\]", history[1]["content"])

    w(page, ".new").click()
    expect(w(page, ".msg.user")).to_have_count(0)
    expect(w(page, ".chip")).to_have_count(3)
    expect(w(page, "textarea")).to_be_focused()
    page.reload()
    expect(w(page, ".msg.user")).to_have_count(0)


def test_english_and_customisation(page: Page, live_server: str) -> None:
    serve_test_page(
        page,
        live_server + "/en-test.html",
        'data-api="" data-lang="en" data-title="Help desk" data-color-primary="#006400"',
    )
    launcher = w(page, ".launcher")
    expect(launcher).to_have_attribute("aria-label", "Open the assistant")
    assert launcher.evaluate("(el) => getComputedStyle(el).backgroundColor") == "rgb(0, 100, 0)"
    open_widget(page)
    expect(w(page, "h2")).to_have_text("Help desk")
    expect(w(page, ".head p")).to_have_text("Sourced answers from the documents")
    expect(w(page, "textarea")).to_have_attribute("placeholder", "Ask your question…")
    expect(w(page, ".new")).to_have_attribute("aria-label", "New conversation")
    reply = ask(page, "What is the capital of Australia?")
    expect(reply).to_have_attribute("data-kind", "no_answer")
    expect(reply.locator(".bubble")).to_have_text("I can't find the answer in the documents.")
    expect(reply.locator("h3")).to_have_text("Closest passages")


def test_errors_unreachable_rate_limited_invalid_and_fallback(page: Page, live_server: str) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    serve_test_page(page, live_server + "/down.html", f'data-api="http://127.0.0.1:{closed}"')
    open_widget(page)
    reply = ask(page, QUESTION)
    expect(reply).to_have_attribute("data-kind", "error")
    expect(reply.locator(".bubble")).to_have_text("Le service est injoignable. Réessayez dans un instant.")

    open_demo(page, live_server + "/")
    open_widget(page)
    page.route(
        "**/ask/stream",
        lambda route: route.fulfill(
            status=429,
            headers={"Retry-After": "7"},
            content_type="application/json",
            body=json.dumps({"code": "rate_limited", "detail": "x", "detail_en": "x"}),
        ),
    )
    reply = ask(page, QUESTION)
    expect(reply.locator(".bubble")).to_have_text("Trop de questions d'affilée. Réessayez dans 7 secondes.")

    page.unroute("**/ask/stream")
    page.route(
        "**/ask/stream",
        lambda route: route.fulfill(
            status=422,
            content_type="application/json",
            body=json.dumps(
                {"code": "invalid_question", "detail": "Question invalide.", "detail_en": "Invalid question."}
            ),
        ),
    )
    reply = ask(page, QUESTION)
    expect(reply.locator(".bubble")).to_have_text("Question invalide.")

    page.unroute("**/ask/stream")
    page.route(
        "**/ask/stream",
        lambda route: route.fulfill(
            status=200,
            content_type="text/event-stream",
            body=sse(
                ("passages", {"passages": []}),
                (
                    "error",
                    {"code": "internal_error", "detail": "Erreur interne.", "detail_en": "Internal error."},
                ),
            ),
        ),
    )
    reply = ask(page, QUESTION)
    expect(reply.locator(".bubble")).to_have_text("Erreur interne.")

    # The real server's own 413/422 message reaches the user too.
    page.unroute("**/ask/stream")
    too_long = "Pourquoi " * 400 + "?"
    detail = httpx.post(live_server + "/ask", json={"question": too_long}).json()["detail"]
    reply = ask(page, too_long)
    expect(reply).to_have_attribute("data-kind", "error")
    expect(reply.locator(".bubble")).to_have_text(detail)

    # Streaming broken before anything arrives: the widget falls back to POST /ask.
    page.route("**/ask/stream", lambda route: route.abort("connectionreset"))
    with page.expect_request("**/ask") as fallback:
        reply = ask(page, QUESTION)
    assert fallback.value.url.endswith("/ask")
    expect(reply).to_have_attribute("data-kind", "answer")
    expect(reply.locator(".bubble")).to_contain_text("La Poste")
    assert page.js_errors == []


def test_widget_script_size(live_server: str) -> None:
    served = httpx.get(live_server + "/widget.js", headers={"Accept-Encoding": "gzip"})
    assert served.status_code == 200 and "javascript" in served.headers["content-type"]
    assert len(served.content) == WIDGET_JS.stat().st_size  # decoded by httpx
    wire = int(served.headers["content-length"])
    print(f"\nwidget.js: {WIDGET_JS.stat().st_size} bytes unminified, {wire} with gzip")
    assert wire <= 15 * 1024  # what a visitor downloads (tests/api/test_compression.py: br, zstd)
