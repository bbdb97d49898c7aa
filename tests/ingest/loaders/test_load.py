"""load_documents / load_document: walking, skipping bad files, sources, limits."""

from __future__ import annotations

import logging
import os
import random
from pathlib import Path

import pytest

from bot.ingest.loaders import (
    MAX_FILE_BYTES,
    MAX_TEXT_CHARS,
    SUPPORTED_SUFFIXES,
    DocumentError,
    load_document,
    load_documents,
)
from bot.ingest.loaders.common import MAX_MARKDOWN_CHARS
from tests.ingest.loaders.helpers import check_sections, skipped_reason


def test_load_documents_skips_bad_files_and_keeps_good_ones(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    corpus = tmp_path / "docs"
    (corpus / "sub").mkdir(parents=True)
    (corpus / ".cache").mkdir()
    (corpus / "a.md").write_text("# A\n\nPremier.\n", encoding="utf-8")
    (corpus / "sub" / "b.txt").write_text("B\n\nSecond.\n", encoding="utf-8")
    (corpus / "vide.txt").write_bytes(b"")
    (corpus / "blancs.md").write_text("  \n\n\t\n", encoding="utf-8")
    rng = random.Random(7)
    (corpus / "binaire.txt").write_bytes(bytes(rng.randrange(256) for _ in range(4000)) + b"\x00" * 100)
    (corpus / "image.xyz").write_bytes(b"something")
    (corpus / "casse.pdf").write_bytes(b"%PDF-1.4 garbage")
    (corpus / ".cache" / "c.md").write_text("# Caché\n", encoding="utf-8")
    (corpus / ".hidden.md").write_text("# Caché\n", encoding="utf-8")
    (corpus / "z.html").write_text("<html><body><p>Dernier.</p></body></html>", encoding="utf-8")

    with caplog.at_level(logging.WARNING, logger="bot.ingest.loaders"):
        docs, skipped = load_documents([corpus, tmp_path / "absent.md"])

    # Sources are named from the folder given.
    assert [d.source for d in docs] == [f"{corpus.name}/{n}" for n in ("a.md", "sub/b.txt", "z.html")]
    assert "vide" in skipped_reason(skipped, "vide.txt")
    assert "vide" in skipped_reason(skipped, "blancs.md")
    assert "binaire" in skipped_reason(skipped, "binaire.txt")
    assert "non pris en charge (.xyz)" in skipped_reason(skipped, "image.xyz")
    assert "corrompu" in skipped_reason(skipped, "casse.pdf")
    assert skipped_reason(skipped, "absent.md") == "introuvable — not found"
    assert not any("Caché" in d.text or "hidden" in d.source for d in docs)
    assert len(skipped) == 6
    # An unreadable file names the source whose indexed version ingest keeps; a missing one does not.
    sources = {Path(s.path).name: s.source for s in skipped}
    assert sources["vide.txt"] == "docs/vide.txt" and sources["casse.pdf"] == "docs/casse.pdf"
    assert sources["absent.md"] is None
    # Every skip is logged with the file's name and the reason.
    for item in skipped:
        assert any(
            Path(item.path).name in r.getMessage() and item.reason in r.getMessage() for r in caplog.records
        ), item
    # Paths are shown as found under the directory given.
    assert skipped_reason(skipped, "vide.txt") and any(
        s.path == (corpus / "vide.txt").as_posix() for s in skipped
    )


def test_load_documents_single_file_and_duplicates(tmp_path: Path) -> None:
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    (tmp_path / "one" / "a.md").write_text("# Un\n", encoding="utf-8")
    (tmp_path / "two" / "a.md").write_text("# Deux\n", encoding="utf-8")
    docs, skipped = load_documents([tmp_path / "one" / "a.md", tmp_path / "one", tmp_path / "two"])
    # The same file given twice is loaded once; files of the same name in two folders are two.
    assert [(d.source, d.title) for d in docs] == [("a.md", "Un"), ("two/a.md", "Deux")]
    assert not skipped


def test_source_outside_root_is_the_file_name(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("Bonjour\n", encoding="utf-8")
    doc = load_document(tmp_path / "a.txt", tmp_path / "ailleurs")
    assert doc.source == "a.txt"


def test_oversized_file_is_skipped(tmp_path: Path) -> None:
    path = tmp_path / "gros.txt"
    with open(path, "wb") as fh:
        fh.seek(MAX_FILE_BYTES)
        fh.write(b"x")
    with pytest.raises(DocumentError, match="trop volumineux"):
        load_document(path, tmp_path)


def test_binary_without_nul_bytes_is_skipped(tmp_path: Path) -> None:
    path = tmp_path / "bruit.md"
    path.write_bytes(os.urandom(3000).replace(b"\x00", b"\x01"))
    with pytest.raises(DocumentError, match="binaire"):
        load_document(path, tmp_path)


def test_supported_suffixes() -> None:
    assert SUPPORTED_SUFFIXES == {
        ".md",
        ".markdown",
        ".txt",
        ".html",
        ".htm",
        ".pdf",
        ".docx",
        ".odt",
        ".pptx",
    }


def test_default_corpus_loads_cleanly() -> None:
    from bot.config import REPO_ROOT

    docs, skipped = load_documents([REPO_ROOT / "documents"])
    assert not skipped
    assert 4 <= len(docs) <= 8
    for doc in docs:
        assert doc.source.startswith("documents/") and doc.source.endswith(".md")
        assert doc.title and doc.title != Path(doc.source).stem
        assert "#" not in doc.text and "**" not in doc.text and "---" not in doc.text
        assert doc.text.rstrip().splitlines()[-1].startswith("Source : ")
        check_sections(doc)


# ------------------------------------------------------------------------ limits


def test_text_over_the_cap_is_skipped_with_its_length(tmp_path: Path) -> None:
    paragraph = " ".join(["Une phrase ordinaire sur l'Alliance Dynamique et ses partenariats."] * 15) + "\n\n"
    count = MAX_TEXT_CHARS // len(paragraph) + 1
    (tmp_path / "enorme.txt").write_text(paragraph * count, encoding="utf-8")
    (tmp_path / "juste.txt").write_text(paragraph * (count - 1), encoding="utf-8")
    (tmp_path / "enorme.md").write_text("# Titre\n\n" + paragraph * count, encoding="utf-8")

    docs, skipped = load_documents([tmp_path])

    assert [d.source for d in docs] == [f"{tmp_path.name}/juste.txt"]
    assert len(docs[0].text) <= MAX_TEXT_CHARS
    reason = skipped_reason(skipped, "enorme.txt")
    assert reason.startswith("texte trop long (") and "text too long" in reason
    assert f"{MAX_TEXT_CHARS:,} characters" in reason
    assert "texte trop long" in skipped_reason(skipped, "enorme.md")


def test_markdown_source_far_over_the_cap_is_refused_before_parsing(tmp_path: Path) -> None:
    path = tmp_path / "crochets.md"
    path.write_text("[" * (MAX_MARKDOWN_CHARS + 1), encoding="utf-8")  # the slowest input to parse
    with pytest.raises(DocumentError, match="source Markdown"):
        load_document(path, tmp_path)
