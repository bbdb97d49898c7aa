"""Walking and reading: symlinks stay inside the folder, unsafe file names are skipped,
a file that changes or reads as empty while being read is read again."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bot.ingest.loaders import load_document, load_documents
from bot.ingest.loaders.common import (
    BAD_NAME,
    CHANGING,
    OUTSIDE_ROOT,
    QUIET_SECONDS,
    READ_ATTEMPTS,
    DocumentError,
)
from bot.ingest.loaders.files import read_stable, shown_path
from tests.ingest.loaders.helpers import skipped_reason

SECRET = "Contenu confidentiel hors du dossier : mot de passe 1234."


def test_symlinks_out_of_the_folder_are_skipped_and_inside_ones_are_fine(tmp_path: Path) -> None:
    outside = tmp_path / "ailleurs"
    (outside / "sub").mkdir(parents=True)
    (outside / "secret.md").write_text(f"# Secret\n\n{SECRET}\n", encoding="utf-8")
    (outside / "sub" / "autre.txt").write_text(SECRET + "\n", encoding="utf-8")
    corpus = tmp_path / "docs"
    (corpus / "vrai").mkdir(parents=True)
    (corpus / "vrai" / "a.md").write_text("# A\n\nPremier document.\n", encoding="utf-8")
    (corpus / "fuite.md").symlink_to(outside / "secret.md")
    (corpus / "dossier-fuite").symlink_to(outside / "sub", target_is_directory=True)
    (corpus / "remonte.md").symlink_to(Path("..") / "ailleurs" / "secret.md")  # relative link
    (corpus / "alias.md").symlink_to(corpus / "vrai" / "a.md")
    (corpus / "raccourci").symlink_to(corpus / "vrai", target_is_directory=True)

    docs, skipped = load_documents([corpus])

    assert not any(SECRET in d.text for d in docs)
    # The link inside the folder is fine: the file is loaded once, under its real path.
    assert [d.source for d in docs] == ["docs/vrai/a.md"]
    for name in ("fuite.md", "dossier-fuite", "remonte.md"):
        assert skipped_reason(skipped, name) == OUTSIDE_ROOT
    assert len(skipped) == 3
    assert all(s.source is None for s in skipped)  # nothing indexed through them may stay
    assert OUTSIDE_ROOT.startswith("lien symbolique") and "symlink" in OUTSIDE_ROOT


def test_a_folder_given_through_a_link_is_its_target(tmp_path: Path) -> None:
    (tmp_path / "reel").mkdir()
    (tmp_path / "reel" / "a.txt").write_text("Bonjour.\n", encoding="utf-8")
    (tmp_path / "lien").symlink_to(tmp_path / "reel", target_is_directory=True)
    docs, skipped = load_documents([tmp_path / "lien"])
    assert [d.source for d in docs] == ["reel/a.txt"] and not skipped


def test_load_document_confined_refuses_a_link_out(tmp_path: Path) -> None:
    (tmp_path / "secret.txt").write_text(SECRET, encoding="utf-8")
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "lien.txt").symlink_to(tmp_path / "secret.txt")
    with pytest.raises(DocumentError) as caught:
        load_document(tmp_path / "docs" / "lien.txt", tmp_path, confine=(tmp_path / "docs").resolve())
    assert str(caught.value) == OUTSIDE_ROOT


def test_file_names_with_control_newline_or_bidi_characters_are_skipped(tmp_path: Path) -> None:
    corpus = tmp_path / "docs"
    corpus.mkdir()
    names = ["saut\nde ligne.md", "tab\tulation.md", "facture\u202egpj.md", "iso\u2066lé.txt", "cr\r.txt"]
    for name in names:
        (corpus / name).write_text("# Titre\n\nTexte.\n", encoding="utf-8")
    (corpus / "correct-é.md").write_text("# Titre\n\nTexte.\n", encoding="utf-8")
    # A name that is not UTF-8 (Latin-1 « café ») becomes a surrogate escape in Python.
    with open(os.fsencode(corpus) + b"/caf\xe9.txt", "wb") as fh:
        fh.write(b"Texte.\n")

    docs, skipped = load_documents([corpus])

    assert [d.source for d in docs] == ["docs/correct-é.md"]
    assert len(skipped) == len(names) + 1
    assert {s.reason for s in skipped} == {BAD_NAME}
    assert all(s.source is None for s in skipped)
    for item in skipped:  # what is shown and logged carries no raw control character
        assert item.path.isprintable() and "\\u" in item.path
        item.path.encode("utf-8")
    assert any(s.path.endswith("docs/facture\\u202egpj.md") for s in skipped)


def test_shown_path_leaves_ordinary_names_alone() -> None:
    assert shown_path(Path("docs/Été 2020 (copie).md")) == "docs/Été 2020 (copie).md"
    assert shown_path("a\nb") == "a\\u000ab"


def test_a_file_rewritten_during_the_read_is_read_again(tmp_path: Path) -> None:
    path = tmp_path / "note.txt"
    path.write_text("Ancienne version, en cours de réécriture", encoding="utf-8")
    attempts: list[int] = []

    def rewrite_during_first_read(attempt: int) -> None:
        attempts.append(attempt)
        if attempt == 0:
            path.write_text("Nouvelle version, complète.", encoding="utf-8")

    data = read_stable(path, after_read=rewrite_during_first_read)
    assert data.decode("utf-8") == "Nouvelle version, complète."
    assert attempts[:2] == [0, 1]


def test_a_file_modified_just_now_is_believed_only_once_it_settled(tmp_path: Path) -> None:
    path = tmp_path / "note.txt"
    path.write_text("Contenu peut-être incomplet.", encoding="utf-8")
    attempts: list[int] = []
    with pytest.raises(DocumentError, match="en cours de modification"):  # never settles in 60 s
        read_stable(path, after_read=attempts.append, sleep=lambda _: None, quiet=60)
    assert attempts == list(range(READ_ATTEMPTS))
    old = path.stat().st_mtime_ns - int(10 * QUIET_SECONDS * 1e9)
    os.utime(path, ns=(old, old))
    attempts.clear()
    assert read_stable(path, after_read=attempts.append) == b"Contenu peut-\xc3\xaatre incomplet."
    assert attempts == [0]  # an old, unchanged file is read once


def test_a_file_that_reads_empty_while_being_written_is_not_taken_for_empty(tmp_path: Path) -> None:
    path = tmp_path / "note.txt"
    path.write_bytes(b"")  # truncated by its writer, content not written yet

    def writer_finishes(attempt: int) -> None:
        if attempt == 0:
            path.write_text("Contenu enfin écrit.", encoding="utf-8")

    assert read_stable(path, after_read=writer_finishes).decode("utf-8") == "Contenu enfin écrit."


def test_an_empty_file_is_read_several_times_then_reported_empty(tmp_path: Path) -> None:
    path = tmp_path / "vide.txt"
    path.write_bytes(b"")
    attempts: list[int] = []
    assert read_stable(path, after_read=attempts.append) == b""
    assert attempts == list(range(READ_ATTEMPTS))


def test_a_file_that_keeps_changing_is_skipped(tmp_path: Path) -> None:
    path = tmp_path / "journal.txt"
    path.write_text("Une ligne de journal.\n", encoding="utf-8")
    pauses: list[float] = []

    def touch(attempt: int) -> None:  # another process keeps writing: the times move
        stamp = path.stat().st_mtime_ns + 1_000_000_000
        os.utime(path, ns=(stamp, stamp))

    with pytest.raises(DocumentError) as caught:
        read_stable(path, after_read=touch, sleep=pauses.append)
    assert str(caught.value) == CHANGING == "fichier en cours de modification — file changed while being read"
    assert len(pauses) == READ_ATTEMPTS - 1 and pauses == sorted(pauses)


def test_a_file_replaced_during_the_read_is_read_again(tmp_path: Path) -> None:
    path = tmp_path / "note.md"
    path.write_text("# Ancienne\n", encoding="utf-8")

    def replace_by_rename(attempt: int) -> None:  # how editors save: write aside, rename
        if attempt == 0:
            (tmp_path / "note.md.tmp").write_text("# Nouvelle\n", encoding="utf-8")
            os.replace(tmp_path / "note.md.tmp", path)

    assert read_stable(path, after_read=replace_by_rename) == b"# Nouvelle\n"
