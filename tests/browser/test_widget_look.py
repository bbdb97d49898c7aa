"""The widget as a visitor meets it, in a real Chromium at 1280 and 390 px, light and dark:
quotes that keep their shape, SVG icons with names, themes, axe-core.

The machine has no emoji font (CI installs fonts-dejavu-core only), which is the case the
vote icons must survive.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.browser.conftest import chromium_missing_reason

if (reason := chromium_missing_reason()) is not None:
    pytest.skip(reason, allow_module_level=True)

from playwright.sync_api import Page, expect  # noqa: E402

from tests.browser.test_operator import axe_violations  # noqa: E402
from tests.browser.test_widget import ask, open_demo, serve_test_page, sse, w  # noqa: E402
from tests.conftest import ADMIN_TOKEN  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / "docs" / "screenshots"
SOURCE = "documents/historique.md"
WIDE = {"width": 1280, "height": 800}
NARROW = {"width": 390, "height": 844}
VIEWPORTS = [pytest.param(WIDE, id="1280"), pytest.param(NARROW, id="390")]
THEMES = ["light", "dark"]
# The panel's background in each theme (the widget's defaults).
BACKGROUND = {"light": "rgb(255, 255, 255)", "dark": "rgb(22, 27, 34)"}


@pytest.fixture(scope="module")
def stored(assistant) -> str:
    return assistant.index.documents[SOURCE].text


def list_span(text: str) -> tuple[int, int]:
    """From the heading line before the list to the end of the list's fourth item."""
    start = text.index("Repères chronologiques")
    end = text.index("\n", text.index("- Juillet"))
    return start, end


def contract(text: str, start: int, end: int) -> dict:
    """An answer citing text[start:end] of the stored document, with a list in its own text."""
    quote = text[start:end]
    return {
        "id": "11111111-2222-3333-4444-555555555555",
        "status": "answered",
        "answer": "Repères :\n- 2008 : début du chemin [1].\n- 2014 : création de l'Alliance [1].",
        "confidence": 0.9,
        "short_answer": {"text": "2014", "n": 1, "char_start": start, "char_end": start + 4},
        "citations": [
            {
                "n": 1,
                "title": "Historique",
                "source": SOURCE,
                "chunk_id": "c",
                "char_start": start,
                "char_end": end,
                "quote": quote,
                "score": 1.0,
                "page": None,
            }
        ],
        "passages": [],
        "timings_ms": {},
        "index": {},
    }


def answer_with_list(page: Page, text: str) -> tuple:
    start, end = list_span(text)
    body = contract(text, start, end)
    page.route(
        "**/ask/stream",
        lambda route: route.fulfill(
            status=200,
            content_type="text/event-stream",
            body=sse(("delta", {"text": body["answer"]}), ("done", body)),
        ),
    )
    reply = ask(page, "Quels sont les repères ?")
    expect(reply).to_have_attribute("data-kind", "answer")
    return reply, start, end


def theme_of(page: Page) -> tuple[str, str]:
    return (
        w(page, ".root").get_attribute("data-theme"),
        w(page, ".panel").evaluate("(el) => getComputedStyle(el).backgroundColor"),
    )


@pytest.mark.parametrize("theme", THEMES)
@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_list_quote_icons_theme_and_axe(new_page, live_server: str, stored: str, viewport, theme) -> None:
    page = new_page(viewport=viewport, color_scheme=theme, bypass_csp=True)  # axe is an inline script
    open_demo(page, live_server + "/")
    w(page, ".launcher").click()
    expect(w(page, ".panel")).to_be_visible()
    assert theme_of(page) == (theme, BACKGROUND[theme])  # prefers-color-scheme, nothing forced
    reply, start, end = answer_with_list(page, stored)

    # The answer's own list: items with their citation buttons, markers hidden, text kept.
    bubble = reply.locator(".bubble")
    expect(bubble.locator("ul > li")).to_have_count(2)
    expect(bubble.locator("li .cite")).to_have_count(2)
    shown = "Repères :\n- 2008 : début du chemin 1.\n- 2014 : création de l'Alliance 1."  # [1]: button "1"
    assert bubble.evaluate("(el) => el.textContent") == shown
    expect(reply.locator(".short strong")).to_have_text("2014")

    # The quote: a heading line, then a list whose items are the stored lines, and the whole
    # quote's text is exactly the stored text at the offsets (bullets kept in hidden spans).
    reply.locator(".cite").first.click()
    quote = reply.locator(".card[open] blockquote")
    expect(quote).to_be_visible()
    assert quote.evaluate("(el) => el.textContent") == "«\u00a0" + stored[start:end] + "\u00a0»"
    lines = [line for line in stored[start:end].split("\n") if line.startswith("- ")]
    items = quote.locator("ul > li")
    expect(items).to_have_count(len(lines))
    assert len(lines) == 4
    assert items.evaluate_all("(els) => els.map((e) => e.textContent)") == [
        line + ("\n" if i < len(lines) - 1 else "") for i, line in enumerate(lines)
    ]
    assert items.all_inner_texts() == [line.removeprefix("- ") for line in lines]  # as a visitor sees it
    assert items.first.evaluate("(el) => getComputedStyle(el).display") == "list-item"
    assert quote.locator("ul").bounding_box()["height"] > 3 * items.first.bounding_box()["height"] * 0.9
    assert quote.locator("script, img").count() == 0

    # Icons: inline SVG with a drawn size in buttons that have a name; no icon is a font glyph.
    reply.locator(".vote.up").wait_for()
    buttons = {
        ".launcher": None,
        ".new": "Nouvelle conversation",
        ".close": "Fermer l’assistant",
        ".send": "Envoyer",
        ".vote.up": "Oui, réponse utile",
        ".vote.down": "Non, réponse pas utile",
    }
    for selector, name in buttons.items():
        button = w(page, selector).last
        expect(button.locator("svg").first).to_be_attached()
        if name:
            expect(button).to_have_accessible_name(name.replace("’", "'"))
        else:
            assert button.get_attribute("aria-label")
        assert button.evaluate("(el) => el.textContent.trim()") == ""  # nothing drawn from a font
        if selector != ".launcher" or viewport["width"] > 480:  # the launcher hides under the phone panel
            size = button.locator("svg").first.evaluate(
                "(s) => { const r = s.getBoundingClientRect(), b = s.querySelector('path').getBBox();"
                " return [r.width, r.height, b.width, b.height]; }"
            )
            assert size[0] >= 16 and size[1] >= 16 and size[2] > 8 and size[3] > 8, (selector, size)

    page.wait_for_timeout(1000)  # animations finished: colours are final
    assert axe_violations(page) == []
    assert page.js_errors == []
    if theme == "dark":
        reply.locator(".vote.up").scroll_into_view_if_needed()  # the vote icons in the picture too
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        name = "widget-desktop-dark.png" if viewport["width"] > 480 else "widget-phone-dark.png"
        page.screenshot(path=str(SCREENSHOTS / name))

    # The card's link: the source page in the same theme, the span exactly the quote.
    with page.context.expect_page() as opened:
        reply.locator(".card[open] a.indoc").click()
    source = opened.value
    source.wait_for_load_state()
    marks = source.locator("mark")
    expect(marks.first).to_be_in_viewport()
    assert "".join(marks.evaluate_all("(ms) => ms.map((m) => m.textContent)")) == stored[start:end]
    expect(source.locator("article ul li")).to_have_count(6)
    assert source.evaluate("getComputedStyle(document.body).backgroundColor") == (
        "rgb(16, 21, 29)" if theme == "dark" else "rgb(247, 248, 251)"
    )
    assert axe_violations(source) == []


@pytest.mark.parametrize("system", THEMES)
def test_data_theme_forces_and_colours_apply_to_both(new_page, live_server: str, system: str) -> None:
    forced = "light" if system == "dark" else "dark"
    page = new_page(color_scheme=system)
    serve_test_page(page, live_server + "/forced.html", f'data-api="" data-theme="{forced}"')
    w(page, ".launcher").click()
    assert theme_of(page) == (forced, BACKGROUND[forced])
    # The system changing its mind does not undo a forced theme...
    page.emulate_media(color_scheme=forced)
    page.emulate_media(color_scheme=system)
    assert theme_of(page)[0] == forced
    # ...and the link to a source carries it.
    page.route(
        "**/ask/stream",
        lambda route: route.fulfill(
            status=200, content_type="text/event-stream", body=sse(("done", contract("abcdefgh", 0, 4)))
        ),
    )
    reply = ask(page, "Q ?")
    href = reply.locator("a.indoc").get_attribute("href")
    assert f"theme={forced}" in href

    # Without data-theme the widget follows the system live; data-color-* hold in both themes.
    page = new_page(color_scheme=system)
    serve_test_page(
        page,
        live_server + "/colours.html",
        'data-api="" data-color-primary="#5a0f6e" data-color-background="#fdf6e3"',
    )
    w(page, ".launcher").click()
    for scheme in (system, forced):
        page.emulate_media(color_scheme=scheme)
        # The widget follows a media-query listener: give it the moment it takes.
        expect(w(page, ".root")).to_have_attribute("data-theme", scheme)
        assert theme_of(page) == (scheme, "rgb(253, 246, 227)")
        assert w(page, ".send").evaluate("(el) => getComputedStyle(el).backgroundColor") == "rgb(90, 15, 110)"
    assert page.js_errors == []


@pytest.mark.parametrize("theme", THEMES)
def test_source_and_admin_pages_follow_the_theme(new_page, operator_server, theme: str) -> None:
    url, _ = operator_server
    other = "light" if theme == "dark" else "dark"
    page = new_page(color_scheme=theme, bypass_csp=True)  # axe is an inline script
    page.goto(url + f"/sources/{SOURCE}?start=0&end=60")
    background = {"light": "rgb(247, 248, 251)", "dark": "rgb(16, 21, 29)"}
    body_bg = "getComputedStyle(document.body).backgroundColor"
    assert page.evaluate(body_bg) == background[theme]
    assert axe_violations(page) == []
    page.goto(url + f"/sources/{SOURCE}?start=0&end=60&theme={other}")  # forced, as data-theme
    assert page.evaluate(body_bg) == background[other]

    page.goto(url + "/admin")
    assert page.evaluate(body_bg) == background[theme]
    page.get_by_label("Jeton d’administration").fill(ADMIN_TOKEN)
    page.get_by_role("button", name="Se connecter").click()
    expect(page.locator("#docs tr").first).to_be_visible()
    assert axe_violations(page) == []
    page.goto(url + f"/admin?theme={other}")
    assert page.evaluate(body_bg) == background[other]
    if theme == "dark":
        report = new_page(
            color_scheme=theme, bypass_csp=True, extra_http_headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
        )
        report.goto(url + "/admin/report?since=7d")
        assert report.evaluate(body_bg) == background[theme]
        assert axe_violations(report) == []


def test_data_attributes_unchanged_but_data_theme() -> None:
    """The widget's documented data-* attributes are the ones before issue 23 plus data-theme
    (issue 23) and data-collection (issue 29)."""
    source = (REPO / "bot" / "widget" / "widget.js").read_text(encoding="utf-8")
    header = source[: source.index("*/")]
    documented = set(re.findall(r"data-[a-z-]+", header))
    before = {
        "data-api",
        "data-lang",
        "data-title",
        "data-subtitle",
        "data-welcome",
        "data-placeholder",
        "data-input-label",
        "data-send-label",
        "data-launcher-label",
        "data-close-label",
        "data-new-label",
        "data-typing-label",
        "data-no-answer",
        "data-closest-label",
        "data-sources-label",
        "data-open-source-label",
        "data-page-label",
        "data-unreachable",
        "data-error",
        "data-rate-limited-soon",
        "data-footer",
        "data-you-label",
        "data-bot-label",
        "data-view-in-doc-label",
        "data-feedback-label",
        "data-up-label",
        "data-down-label",
        "data-comment-label",
        "data-comment-send-label",
        "data-thanks",
        "data-comment-thanks",
        "data-feedback-error",
        "data-suggestions",
        "data-cite-label",
        "data-rate-limited",
        "data-color-primary",
        "data-color-text",
        "data-color-background",
        "data-color-on-primary",
    }
    assert documented == before | {"data-theme", "data-collection"}
