"""Issue 20's defects on a real server whose only documents are uploads: hostile documents and
uploads, a full disk, invented methods, removing the last document. Runs in file order: the
last test removes the last document."""

from __future__ import annotations

import random
import resource
import threading
import time

import httpx
import pytest

from bot.ingest.pipeline import ingest
from tests.conftest import ADMIN_TOKEN
from tests.servers import start_server, stop_server

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
KEEP = "# Le verger\n\nLe verger de Tilleul compte quarante-deux pommiers depuis 2019.\n"
QUESTION = "Combien de pommiers compte le verger de Tilleul ?"
FILE_LIMIT = 1024 * 1024  # RLIMIT_FSIZE of the server: a bigger write fails like a full disk


def _small_files() -> None:
    resource.setrlimit(resource.RLIMIT_FSIZE, (FILE_LIMIT, FILE_LIMIT))


@pytest.fixture(scope="module")
def uploads_server(settings, embedder, tmp_path_factory):
    """Yields (url, data dir). Its index holds uploads/keep.md and nothing else."""
    data = tmp_path_factory.mktemp("faults") / "data"
    uploads = data / "uploads"
    uploads.mkdir(parents=True)
    (uploads / "keep.md").write_text(KEEP, encoding="utf-8")
    index = data.parent / "index"
    ingest(
        [uploads], settings.model_copy(update={"index_dir": index}).index, lambda: embedder, progress=False
    )
    proc, url = start_server(
        index,
        uploads,
        preexec_fn=_small_files,
        ALLIANCE_RATE_LIMIT="0",
        ALLIANCE_ADMIN_TOKEN=ADMIN_TOKEN,
        ALLIANCE_DATA_DIR=str(data),
    )
    yield url, data
    stop_server(proc)


def upload(url: str, name: str, body: bytes) -> httpx.Response:
    return httpx.post(
        f"{url}/admin/documents", params={"filename": name}, content=body, headers=AUTH, timeout=120
    )


def test_every_html_page_sends_a_strict_policy(uploads_server):
    url, _ = uploads_server
    pages = [
        httpx.get(f"{url}{path}", headers=AUTH, timeout=60)
        for path in ("/", "/sources/uploads/keep.md", "/sources/uploads/absent.md", "/admin", "/admin/report")
    ]
    for page in pages:
        assert page.headers["content-type"].startswith("text/html"), page.url
        policy = page.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in policy and "default-src 'none'" in policy, page.url
        assert "unsafe-inline" not in policy.split("script-src")[1].split(";")[0]
        assert page.headers["x-content-type-options"] == "nosniff"
        assert page.headers["x-frame-options"] == "DENY"
    assert httpx.get(f"{url}/health", timeout=30).headers["x-content-type-options"] == "nosniff"
    # FastAPI's schema viewer keeps its CDN script, and is never framed either.
    docs = httpx.get(f"{url}/docs", timeout=30).headers
    assert "frame-ancestors 'none'" in docs["content-security-policy"] and docs["x-frame-options"] == "DENY"


@pytest.mark.parametrize(
    "link", ["javascript:alert(document.domain)", "data:text/html,<script>alert(1)</script>"]
)
def test_only_web_links_from_front_matter_reach_the_page(uploads_server, link):
    url, _ = uploads_server
    body = f'---\ntitle: Piège\nurl: "{link}"\n---\n\n# Piège\n\nUn document au lien piégé.\n'
    assert upload(url, "piege.md", body.encode()).status_code == 201
    page = httpx.get(f"{url}/sources/uploads/piege.md", timeout=30).text
    assert "javascript:" not in page and "data:text" not in page and "Document original" not in page
    listed = httpx.get(f"{url}/documents", timeout=30).json()
    assert next(d for d in listed if d["source"] == "uploads/piege.md")["url"] is None
    r = httpx.delete(f"{url}/admin/documents/uploads/piege.md", headers=AUTH, timeout=120)
    assert r.status_code == 200


def test_a_corrupt_reupload_keeps_the_good_file_and_its_entry(uploads_server):
    url, data = uploads_server
    garbage = random.Random(20).randbytes(3000)
    r = upload(url, "keep.md", garbage)
    assert r.status_code == 422 and r.json()["code"] == "unreadable_file"
    assert str(data) not in r.text and "/tmp" not in r.text
    assert (data / "uploads" / "keep.md").read_text(encoding="utf-8") == KEEP
    assert not [p.name for p in (data / "uploads").iterdir() if p.name.startswith(".")]
    answer = httpx.post(f"{url}/ask", json={"question": QUESTION}, timeout=60).json()
    assert answer["citations"] and answer["citations"][0]["source"] == "uploads/keep.md"


def test_no_server_path_in_an_ingest_summary(uploads_server):
    url, data = uploads_server
    bad = data / "uploads" / "illisible.md"
    bad.write_bytes(random.Random(1).randbytes(3000))
    try:
        r = httpx.post(f"{url}/admin/reingest", headers=AUTH, timeout=120)
        assert r.status_code == 200
        assert [s["path"] for s in r.json()["skipped"]] == ["uploads/illisible.md"]
        assert str(data) not in r.text
    finally:
        bad.unlink()


def test_a_full_disk_leaves_no_partial_file(uploads_server):
    url, data = uploads_server
    # Readable (so it gets as far as being written), and larger than the server may write.
    r = upload(url, "keep.md", b"# Gros\n\n" + b"Une phrase du gros fichier.\n\n" * (FILE_LIMIT // 29 + 2000))
    assert r.status_code == 507 and r.json()["code"] == "disk_full"
    assert sorted(p.name for p in (data / "uploads").iterdir()) == ["keep.md"]
    assert (data / "uploads" / "keep.md").read_text(encoding="utf-8") == KEEP


def test_deeply_nested_html_is_refused_fast_while_health_answers(uploads_server):
    url, _ = uploads_server
    statuses: list[int] = []
    done = threading.Event()

    def probe():
        with httpx.Client(timeout=5) as http:
            while not done.is_set():
                statuses.append(http.get(f"{url}/health").status_code)
                time.sleep(0.1)

    prober = threading.Thread(target=probe)
    prober.start()
    began = time.monotonic()
    try:
        r = upload(url, "profond.html", b"<html><body>" + b"<div>" * 200_000 + b"x" + b"</div>" * 200_000)
    finally:
        elapsed = time.monotonic() - began
        done.set()
        prober.join()
    assert r.status_code == 422 and "imbriqué" in r.json()["detail"]
    assert elapsed < 2, f"{elapsed:.2f} s"
    print(f"\n200,000-level HTML refused in {elapsed:.2f} s; /health: {statuses}")
    assert statuses and set(statuses) == {200}


def scrape_lines(url: str) -> int:
    return len(httpx.get(f"{url}/metrics", timeout=30).text.splitlines())


def test_metrics_stay_bounded_whatever_the_methods_and_paths(uploads_server):
    url, _ = uploads_server
    rng = random.Random(9)
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"

    def send(n: int) -> None:
        with httpx.Client(timeout=30) as http:
            for _ in range(n):
                method = "".join(rng.choice(letters) for _ in range(rng.randint(3, 12)))
                path = (
                    rng.choice(["/ask", "/health", "/documents"])
                    if rng.random() < 0.3
                    else "/" + "".join(rng.choice("abcdefghij/") for _ in range(rng.randint(1, 30)))
                )
                http.request(method, f"{url}{path}")

    send(50)  # every (method "other", route, status) label set once
    scrape_lines(url)  # and the scrape's own
    before = scrape_lines(url)
    send(1000)
    after = scrape_lines(url)
    print(f"\n/metrics: {before} lines before 1,000 random methods and paths, {after} after")
    assert after == before


def test_removing_the_last_document_leaves_an_empty_index(uploads_server):
    url, data = uploads_server
    r = httpx.delete(f"{url}/admin/documents/uploads/keep.md", headers=AUTH, timeout=120)
    assert r.status_code == 200, r.text
    assert r.json()["removed"] == ["uploads/keep.md"] and r.json()["chunks"] == 0
    assert not (data / "uploads" / "keep.md").exists()
    assert httpx.get(f"{url}/documents", timeout=30).json() == []
    answer = httpx.post(f"{url}/ask", json={"question": QUESTION}, timeout=60)
    assert answer.status_code == 200 and answer.json()["status"] == "no_answer"
    assert answer.json()["citations"] == []
    assert httpx.get(f"{url}/health", timeout=30).status_code == 200
    # And documents can be added again.
    assert upload(url, "keep.md", KEEP.encode()).status_code == 201
