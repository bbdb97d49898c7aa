"""`data-collection`: the widget asks one (public) collection and links its citations there."""

from __future__ import annotations

import re

import pytest

from tests.browser.conftest import chromium_missing_reason

if (reason := chromium_missing_reason()) is not None:
    pytest.skip(reason, allow_module_level=True)

from playwright.sync_api import Page, expect  # noqa: E402

from tests.browser.test_widget import QUESTION, W, ask, open_widget, serve_test_page  # noqa: E402


def test_the_collection_is_sent_with_every_question_and_in_citation_links(
    page: Page, live_server: str
) -> None:
    sent: list[str] = []

    def to_default(route):  # the session's server has the default collection only: asked there
        sent.append(route.request.url)
        route.continue_(url=re.sub(r"\?collection=[^&#]*", "", route.request.url))

    page.route(re.compile(r".*/ask(/stream)?\?.*"), to_default)
    serve_test_page(page, live_server + "/collection.html", 'data-api="" data-collection="vitrine"')
    open_widget(page)
    reply = ask(page, QUESTION)
    expect(reply).to_have_attribute("data-kind", "answer")
    assert sent and all(url.endswith("/ask/stream?collection=vitrine") for url in sent), sent
    reply.locator(".cite").first.click()
    link = page.locator(f"{W} a.indoc").first.get_attribute("href")
    assert "&collection=vitrine" in link and link.endswith("#quote")

    # A value that is no collection name is never sent (it would go into the URL as it is).
    odd: list[str] = []
    page.on("request", lambda request: odd.append(request.url) if "/ask" in request.url else None)
    serve_test_page(page, live_server + "/odd.html", 'data-api="" data-collection="../admin?x=1"')
    open_widget(page)
    expect(ask(page, QUESTION)).to_have_attribute("data-kind", "answer")
    assert odd and all("collection" not in url and "admin" not in url for url in odd), odd
