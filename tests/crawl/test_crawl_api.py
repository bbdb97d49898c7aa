"""The crawl from the CLI and the admin API, against the fixture site and a real server;
the page behind a citation at /sources; requests aimed at private addresses refused."""

from __future__ import annotations

import json
import subprocess
import sys
from html import escape
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from tests.conftest import ADMIN_TOKEN
from tests.crawl.site import FixtureSite, Resource, alliance_site, page
from tests.servers import start_server, stop_server

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def _cli(index: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "bot", "--index", str(index), "ingest", *args],
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.mark.parametrize(
    "target",
    [
        "http://127.0.0.1:{port}/",
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.7/",
        "http://192.168.1.1/",
        "http://[::1]:{port}/",
    ],
)
def test_admin_crawl_of_a_private_address_is_refused(operator_server, target) -> None:
    url, _ = operator_server
    port = url.rsplit(":", 1)[1]
    response = httpx.post(
        f"{url}/admin/crawl", headers=AUTH, json={"urls": [target.format(port=port)]}, timeout=30
    )
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["code"] == "crawl_private_address"
    assert body["detail"].startswith("adresse locale, privée ou réservée refusée (")
    assert "private address refused" in body["detail_en"]


def test_admin_crawl_refuses_other_schemes(operator_server) -> None:
    url, _ = operator_server
    for target in ("file:///etc/passwd", "data:text/html,bonjour"):
        response = httpx.post(f"{url}/admin/crawl", headers=AUTH, json={"urls": [target]}, timeout=30)
        assert response.status_code == 422 and response.json()["code"] == "crawl_scheme"


def test_cli_crawl_then_admin_recrawl_and_the_cited_page(tmp_path) -> None:
    with FixtureSite() as site:
        alliance_site(site, tmp_path)
        index = tmp_path / "index"
        without_flag = _cli(index, site.url + "/")
        assert without_flag.returncode == 2 and "--crawl" in without_flag.stderr
        refused = _cli(index, site.url + "/", "--crawl")
        assert refused.returncode == 2 and "--allow-private" in refused.stderr
        assert not site.hits  # refused before any request

        done = _cli(
            index,
            site.url + "/",
            "--crawl",
            "--allow-private",
            "--delay",
            "0",
            "--max-bytes",
            "200000",
            "--json",
        )
        assert done.returncode == 0, done.stderr
        summary = json.loads(done.stdout)
        assert f"{site.url}/a-propos.html" in summary["added"]
        assert {s["path"] for s in summary["skipped"]} >= {
            f"{site.url}/panne.html",
            f"{site.url}/enorme.html",
        }

        proc, server = start_server(
            index,
            tmp_path / "documents",
            ALLIANCE_RATE_LIMIT="0",
            ALLIANCE_ADMIN_TOKEN=ADMIN_TOKEN,
            ALLIANCE_CRAWL_ALLOW_PRIVATE="1",
            ALLIANCE_DATA_DIR=str(tmp_path / "data"),
        )
        try:
            site.resources["/evolue.html"] = Resource(
                page("Agenda", "<p>Plantation reportée au 19 mars.</p>")
            )
            response = httpx.post(
                f"{server}/admin/crawl",
                headers=AUTH,
                timeout=300,
                json={"urls": [site.url + "/"], "delay": 0, "max_bytes": 200000},
            )
            assert response.status_code == 200, response.text
            result = response.json()
            assert result["updated"] == [f"{site.url}/evolue.html"] and not result["added"]
            assert result["fetched"] == [f"{site.url}/evolue.html"]

            answer = httpx.post(
                f"{server}/ask", json={"question": "Qui préside la coopérative Arbres Unis ?"}, timeout=60
            ).json()
            assert answer["status"] == "answered", answer
            citation = answer["citations"][0]
            assert citation["url"] == citation["source"] == f"{site.url}/a-propos.html"
            shown = httpx.get(
                f"{server}/sources/{quote(citation['source'])}",
                params={"start": citation["char_start"], "end": citation["char_end"]},
                timeout=30,
            )
            assert shown.status_code == 200
            assert f'<mark id="quote">{escape(citation["quote"])}</mark>' in shown.text
            assert f'<a href="{site.url}/a-propos.html"' in shown.text  # the live page
        finally:
            stop_server(proc)


def test_a_malformed_start_url_is_a_422_on_the_admin_api(operator_server) -> None:
    url, _ = operator_server
    for target in ("http://[::1", "http://[::1]:99999/", "https://"):
        response = httpx.post(f"{url}/admin/crawl", headers=AUTH, json={"urls": [target]}, timeout=30)
        assert response.status_code == 422, response.text
        body = response.json()
        assert body["code"] == "crawl_url" and body["detail"].startswith("adresse web mal formée (")
        assert "malformed web address" in body["detail_en"]


def test_a_malformed_start_url_is_a_usage_error_on_the_cli(tmp_path) -> None:
    done = _cli(tmp_path / "index", "http://[::1", "--crawl")
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("alliance-bot: adresse web mal formée (http://[::1)")
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr


def test_urls_with_bidi_controls_are_escaped_in_everything_the_cli_prints(tmp_path, embedder) -> None:
    """A link whose path holds U+202E (RIGHT-TO-LEFT OVERRIDE): the warning (a log line), the
    summary and the JSON summary show it as \\u202e, never raw."""
    from bot.config import Settings
    from bot.ingest.pipeline import ingest
    from tests.ingest.test_pipeline import write_corpus

    settings = Settings(index_dir=tmp_path / "index")
    corpus = write_corpus(tmp_path / "docs", {"note.md": "# Note\n\nUne note locale sur les haies.\n"})
    ingest([corpus], settings.index, lambda: embedder, progress=False)  # the CLI embeds nothing
    with FixtureSite() as site:
        site.resources["/robots.txt"] = Resource(b"", "text/plain")
        site.resources["/"] = Resource(
            b'<html><head><meta name="robots" content="noindex"></head><body>'
            + '<a href="/\u202egpj.exe">facture</a></body></html>'.encode()
        )
        args = ("--crawl", "--allow-private", "--delay", "0")
        for extra in ((), ("--json",)):
            done = _cli(settings.index_dir, site.url + "/", *args, *extra)
            assert done.returncode == 0, done.stderr
            for printed in (done.stdout, done.stderr):
                assert "\u202e" not in printed
            assert "/\\u202egpj.exe — page disparue (HTTP 404)" in done.stderr  # the warning
            if extra:
                skipped = json.loads(done.stdout)["skipped"]
                assert f"{site.url}/\u202egpj.exe" in {s["path"] for s in skipped}  # JSON's own escape
            else:
                assert f"ignorée : {site.url}/\\u202egpj.exe — page disparue" in done.stdout
