"""The operator's side in a real Chromium: feedback from the widget to the report, citations
opening the source at the quote, and axe-core (4.x, bundled by axe-playwright-python) on every page."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.browser.conftest import PHONE, chromium_missing_reason
from tests.conftest import ADMIN_TOKEN

if (reason := chromium_missing_reason()) is not None:
    pytest.skip(reason, allow_module_level=True)

import axe_playwright_python  # noqa: E402
from playwright.sync_api import Page, expect  # noqa: E402

from tests.browser.test_widget import ask, w  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / "docs" / "screenshots"
AXE = Path(axe_playwright_python.__file__).parent / "axe.min.js"  # axe-core, no CDN
AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
QUESTION = "Qui a lancé l'Alliance Dynamique ?"
COMMENT = "Il manque la date de création."


def open_widget(page: Page, url: str) -> None:
    page.goto(url + "/")
    w(page, ".launcher").click()
    expect(w(page, ".panel")).to_be_visible()


def axe_violations(page: Page) -> list[dict]:
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    return [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]]}
        for v in result["violations"]
    ]


def test_vote_down_with_comment_shows_in_the_report(new_page, operator_server) -> None:
    url, _ = operator_server
    page = new_page()
    open_widget(page, url)
    reply = ask(page, QUESTION)
    expect(reply).to_have_attribute("data-kind", "answer")
    down = reply.locator(".vote.down")
    expect(down).to_have_attribute("aria-pressed", "false")
    down.focus()
    page.keyboard.press("Enter")  # keyboard, as a screen-reader user would
    expect(down).to_have_attribute("aria-pressed", "true")
    expect(reply.locator(".vote.up")).to_have_attribute("aria-pressed", "false")
    expect(reply.locator(".fbs")).to_have_text("Merci pour votre avis\u00a0!")
    reply.get_by_label("Un commentaire\u00a0? (facultatif)").fill(COMMENT)
    reply.locator(".fbsend").click()
    expect(reply.locator(".fbs")).to_have_text("Merci, votre commentaire est enregistré.")
    assert page.js_errors == []

    report = new_page(extra_http_headers=AUTH, bypass_csp=True)
    report.goto(url + "/admin/report?since=1d")
    downvoted = report.locator("table").filter(has_text="Question, réponse et commentaires")
    row = downvoted.locator("tr").filter(has_text=QUESTION)
    expect(row.first).to_be_visible()
    expect(row.first.locator(".comment")).to_contain_text([COMMENT])
    assert int(row.first.locator("td.num").inner_text()) >= 1  # the 👎 count
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    report.screenshot(path=str(SCREENSHOTS / "report-desktop.png"), full_page=True)
    phone = new_page(viewport=PHONE, extra_http_headers=AUTH)
    phone.goto(url + "/admin/report?since=1d")
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]  # no sideways scroll
    phone.screenshot(path=str(SCREENSHOTS / "report-phone.png"), full_page=True)


def test_citation_link_opens_the_source_at_the_quote(new_page, operator_server) -> None:
    url, _ = operator_server
    page = new_page()
    open_widget(page, url)
    reply = ask(page, QUESTION)
    reply.locator(".cite").first.click()
    card = reply.locator(".card[open]")
    quote = card.locator("blockquote").inner_text().strip().removeprefix("«\u00a0").removesuffix("\u00a0»")
    with page.context.expect_page() as opened:
        card.locator("a.indoc").click()
    source = opened.value
    source.wait_for_load_state()
    assert "/sources/" in source.url and "#quote" in source.url
    marks = source.locator("mark")
    expect(marks.first).to_be_in_viewport()
    assert "".join(marks.all_inner_texts()) == quote


def test_short_answer_is_shown_in_bold(new_page, operator_server) -> None:
    url, _ = operator_server
    page = new_page()
    contract = {
        "id": "11111111-2222-3333-4444-555555555555",
        "status": "answered",
        "answer": "L'Alliance Dynamique a été initiée par le Groupe La Poste [1].",
        "confidence": 0.9,
        "short_answer": {"text": "le Groupe La Poste", "n": 1, "char_start": 10, "char_end": 28},
        "citations": [
            {
                "n": 1,
                "title": "T",
                "source": "documents/historique.md",
                "chunk_id": "c",
                "char_start": 0,
                "char_end": 5,
                "quote": "Citation",
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
            body=f"event: done\ndata: {json.dumps(contract)}\n\n",
        ),
    )
    open_widget(page, url)
    reply = ask(page, "Qui ?")
    expect(reply.locator(".short strong")).to_have_text("le Groupe La Poste")
    box_short, box_bubble = reply.locator(".short").bounding_box(), reply.locator(".bubble").bounding_box()
    assert box_short["y"] < box_bubble["y"]  # above the answer and its quotes


def test_suggestions_are_offered_and_clickable(new_page, operator_server) -> None:
    url, _ = operator_server
    page = new_page()
    open_widget(page, url)
    chips = w(page, ".chip")
    assert 3 <= chips.count() <= 4
    chips.first.click()
    expect(w(page, ".msg[data-kind]").last).to_have_attribute("data-kind", "answer")


@pytest.mark.parametrize("viewport", [None, PHONE], ids=["desktop", "phone"])
def test_axe_demo_page_with_the_widget_open(new_page, operator_server, viewport) -> None:
    url, _ = operator_server
    page = new_page(viewport=viewport, bypass_csp=True)  # axe is injected as an inline script
    open_widget(page, url)
    reply = ask(page, QUESTION)
    reply.locator(".cite").first.click()
    reply.locator(".vote.up").click()
    expect(reply.locator(".fbc")).to_be_visible()
    page.wait_for_timeout(1000)  # animations finished: colours are final
    assert axe_violations(page) == []


def test_axe_admin_source_and_report_pages(new_page, operator_server) -> None:
    url, _ = operator_server
    page = new_page(bypass_csp=True)  # axe is injected as an inline script
    page.goto(url + "/admin")
    assert axe_violations(page) == []
    page.get_by_label("Jeton d’administration").fill(ADMIN_TOKEN)
    page.get_by_role("button", name="Se connecter").click()
    expect(page.locator("#docs tr").first).to_be_visible()
    assert axe_violations(page) == []

    page.goto(url + "/sources/documents/historique.md?start=0&end=60")
    expect(page.locator("mark").first).to_be_visible()
    assert axe_violations(page) == []

    report = new_page(extra_http_headers=AUTH, bypass_csp=True)
    report.goto(url + "/admin/report?since=7d")
    assert axe_violations(report) == []


def test_admin_page_uploads_lists_and_deletes(new_page, operator_server, tmp_path) -> None:
    url, _ = operator_server
    note = tmp_path / "note-admin.md"
    note.write_text(
        "# Note d'essai\n\nLe comité de pilotage se réunit chaque premier lundi du mois.\n", encoding="utf-8"
    )
    page = new_page()
    page.goto(url + "/admin")
    page.get_by_label("Jeton d’administration").fill("wrong")
    page.get_by_role("button", name="Se connecter").click()
    expect(page.locator("#status")).to_have_text("Jeton refusé.")
    page.get_by_label("Jeton d’administration").fill(ADMIN_TOKEN)
    page.get_by_role("button", name="Se connecter").click()
    rows = page.locator("#docs tr")
    expect(rows.filter(has_text="documents/historique.md")).to_have_count(1)
    page.get_by_label("Ajouter un document (md, txt, html, pdf, docx, odt, pptx)").set_input_files(str(note))
    page.get_by_role("button", name="Téléverser et indexer").click()
    expect(page.locator("#status")).to_contain_text("note-admin.md indexé")
    mine = rows.filter(has_text="uploads/note-admin.md")
    expect(mine).to_have_count(1)
    assert int(mine.locator("td.num").inner_text()) >= 1
    page.reload()  # the token stays in the tab's sessionStorage
    expect(mine).to_have_count(1)
    mine.get_by_role("button", name="Supprimer uploads/note-admin.md").click()
    expect(page.locator("#status")).to_have_text("uploads/note-admin.md supprimé.")
    expect(mine).to_have_count(0)
    assert page.js_errors == []
