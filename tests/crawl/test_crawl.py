"""Crawling a real fixture site on 127.0.0.1 into a real index, with the real model.

The site (tests/crawl/site.py) has a sitemap, a robots.txt disallow, a redirect inside
the scope and one outside it, a 404, a 500, a page far over the byte limit, a PDF, an
image, a page that changes between two crawls and one that disappears.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.answer.assistant import Assistant
from bot.config import Settings
from bot.crawl.crawler import CrawlOptions, crawl
from bot.index.store import load_current
from bot.ingest.pipeline import ingest
from tests.crawl.site import FixtureSite, Resource, alliance_site, page
from tests.ingest.test_pipeline import CountingEmbedder, write_corpus

MAX_BYTES = 200_000


class Factory:
    """An embedder factory that counts its calls: a crawl with nothing new never calls it."""

    def __init__(self, embedder) -> None:
        self.embedder = CountingEmbedder(embedder)
        self.calls = 0

    def __call__(self):
        self.calls += 1
        return self.embedder


@pytest.fixture
def site(tmp_path: Path):
    with FixtureSite() as site:
        alliance_site(site, tmp_path)
        yield site


def _options(site: FixtureSite) -> CrawlOptions:
    return CrawlOptions([f"{site.url}/sitemap.xml"], max_bytes=MAX_BYTES, delay=0, allow_private=True)


def _reasons(summary) -> dict[str, str]:
    return {s.path: s.reason for s in summary.skipped}


def test_crawl_indexes_the_site_then_recrawls_incrementally(site, tmp_path, embedder) -> None:
    settings = Settings(index_dir=tmp_path / "index")
    factory = Factory(embedder)
    u = site.url

    first = crawl(_options(site), settings, factory, progress=False)

    pages = {
        f"{u}/",
        f"{u}/actualites/projet.html",
        f"{u}/a-propos.html",
        f"{u}/nouvelle-adresse.html",
        f"{u}/docs/rapport.pdf",
        f"{u}/evolue.html",
        f"{u}/disparait.html",
        f"{u}/plan/seulement-dans-le-plan.html",
    }
    assert set(first.added) == pages and not first.removed and not first.updated
    reasons = _reasons(first)
    assert reasons[f"{u}/prive/secret.html"] == "interdit par robots.txt — disallowed by robots.txt"
    assert reasons[f"{u}/vers-ailleurs.html"].startswith(
        "redirection hors du périmètre (http://partenaire.example/accueil)"
    )
    assert reasons[f"{u}/absente.html"].startswith("page disparue (HTTP 404)")
    assert reasons[f"{u}/panne.html"].startswith("échec passager (HTTP 500)")
    assert reasons[f"{u}/enorme.html"].startswith("page trop volumineuse (")
    assert "page over the byte limit" in reasons[f"{u}/enorme.html"]
    assert reasons[f"{u}/logo.png"] == "type non pris en charge (image/png) — unsupported content type"
    assert len(first.skipped) == 6, reasons
    # Never asked for: the disallowed page, the address outside the scope, other schemes.
    assert ("/prive/secret.html", 200) not in site.hits
    assert not any("passwd" in url for url in [*first.fetched, *reasons])
    assert all(agent.startswith("AllianceBot/") for agent in site.user_agents)
    assert first.embedded_passages > 0 and factory.calls == 1

    index = load_current(settings.index_dir)
    docs = index.documents
    projet = docs[f"{u}/actualites/projet.html"]
    assert projet.title == "Le projet Tilleul" and projet.date == "2021-03-15"
    assert projet.url == f"{u}/actualites/projet.html"
    assert "lancé en 2011 par la coopérative Arbres Unis" in projet.text
    assert "Année | Arbres\n2011 | 40\n2021 | 1200" in projet.text
    for boilerplate in ("cookies", "Mentions légales", "Accueil"):  # navigation, footer, banner
        assert boilerplate not in projet.text
    assert "300 arbres fruitiers" in docs[f"{u}/docs/rapport.pdf"].text
    assert "Bagnolet" in docs[f"{u}/plan/seulement-dans-le-plan.html"].text
    assert "greffe" in docs[f"{u}/nouvelle-adresse.html"].text

    # A question answered from a crawled page: its quote is the stored text at its offsets.
    answer = Assistant(settings.answer, embedder=embedder).ask(
        "Combien de salariés compte la coopérative Arbres Unis ?"
    )
    assert answer.status == "answered", answer.answer
    citation = answer.citations[0]
    assert citation.source == f"{u}/a-propos.html" and citation.url == f"{u}/a-propos.html"
    stored = load_current(settings.index_dir).documents[citation.source].text
    assert stored[citation.char_start : citation.char_end] == citation.quote
    assert "douze salariés" in citation.quote

    # The site changes: one page is edited, one disappears.
    site.resources["/evolue.html"] = Resource(page("Agenda", "<p>La plantation est reportée au 19 mars.</p>"))
    del site.resources["/disparait.html"]
    site.hits.clear()
    passages_before = factory.embedder.passages
    second = crawl(_options(site), settings, factory, progress=False)
    assert second.updated == [f"{u}/evolue.html"]
    assert second.removed == [f"{u}/disparait.html"] and not second.added
    assert set(second.unchanged) == pages - {f"{u}/evolue.html", f"{u}/disparait.html"}
    assert second.fetched == [f"{u}/evolue.html"]  # every other body came back as a 304
    assert factory.embedder.passages > passages_before
    docs = load_current(settings.index_dir).documents
    assert "reportée au 19 mars" in docs[f"{u}/evolue.html"].text
    assert f"{u}/disparait.html" not in docs

    # Nothing changed: no body is fetched in full, nothing is embedded, no index is written.
    site.hits.clear()
    calls, passages = factory.calls, factory.embedder.passages
    third = crawl(_options(site), settings, factory, progress=False)
    full = {path: n for (path, status), n in site.hits.items() if status == 200 and path != "/robots.txt"}
    assert full == {"/enorme.html": 1}  # refused from its Content-Length: the body was not read
    assert third.fetched == [] and third.bytes == len(site.resources["/robots.txt"].body)  # read each crawl
    not_modified = sum(n for (_, status), n in site.hits.items() if status == 304)
    assert not_modified == len(pages) - 1 + 2  # the pages still there, the sitemap, the logo
    assert factory.calls == calls and factory.embedder.passages == passages
    assert third.embedded_passages == 0 and third.version == second.version
    assert not third.added and not third.updated and not third.removed


def test_a_page_that_fails_for_a_transient_reason_keeps_its_indexed_version(site, tmp_path, embedder):
    settings = Settings(index_dir=tmp_path / "index")
    u = site.url
    crawl(_options(site), settings, Factory(embedder), progress=False)
    site.resources["/a-propos.html"] = Resource(b"", status=503)
    summary = crawl(_options(site), settings, Factory(embedder), progress=False)
    assert f"{u}/a-propos.html" in summary.kept and not summary.removed
    assert _reasons(summary)[f"{u}/a-propos.html"].startswith("échec passager (HTTP 503)")
    assert "douze salariés" in load_current(settings.index_dir).documents[f"{u}/a-propos.html"].text
    # Unreadable this time (binary bytes served as HTML): kept too, like an unreadable file.
    site.resources["/a-propos.html"] = Resource(bytes(range(256)) * 40)
    summary = crawl(_options(site), settings, Factory(embedder), progress=False)
    assert f"{u}/a-propos.html" in summary.kept and not summary.removed
    assert _reasons(summary)[f"{u}/a-propos.html"].startswith("contenu binaire")
    assert f"{u}/a-propos.html" in load_current(settings.index_dir).documents


def test_crawl_keeps_files_and_a_file_ingest_keeps_pages(site, tmp_path, embedder) -> None:
    settings = Settings(index_dir=tmp_path / "index")
    corpus = write_corpus(tmp_path / "docs", {"note.md": "# Note\n\nUne note locale sur les haies.\n"})
    ingest([corpus], settings.index, lambda: embedder, progress=False)
    crawl(
        CrawlOptions([f"{site.url}/a-propos.html"], max_depth=0, delay=0, allow_private=True),
        settings,
        Factory(embedder),
        progress=False,
    )
    summary = ingest([corpus], settings.index, lambda: embedder, progress=False)
    assert not summary.removed and not summary.kept
    sources = set(load_current(settings.index_dir).documents)
    assert sources == {"docs/note.md", f"{site.url}/a-propos.html"}


def test_scope_is_the_start_urls_folder(site, tmp_path, embedder) -> None:
    settings = Settings(index_dir=tmp_path / "index")
    summary = crawl(
        CrawlOptions([f"{site.url}/actualites/projet.html"], delay=0, allow_private=True),
        settings,
        Factory(embedder),
        progress=False,
    )
    # The page links to / and /a-propos.html (its navigation): outside /actualites/, not visited.
    assert summary.added == [f"{site.url}/actualites/projet.html"]
    assert summary.requests == 2  # robots.txt and the page
