"""Plain-text loader: encodings, titles."""

from __future__ import annotations

from pathlib import Path

from bot.ingest.loaders import load_document


def test_txt_windows_1252_is_detected(tmp_path: Path) -> None:
    content = (
        "Le cœur de l'été\n\n"
        "L'œuvre est très belle, déjà vue à Noël : « une réussite » pour l'équipe.\r\n"
        "Deuxième ligne élégante, où l'on parle de coopération.\r\n"
    )
    path = tmp_path / "latin.txt"
    path.write_bytes(content.encode("cp1252"))
    doc = load_document(path, tmp_path)
    assert doc.title == "Le cœur de l'été"
    assert "« une réussite »" in doc.text
    assert "L'œuvre est très belle, déjà vue à Noël" in doc.text
    assert "\r" not in doc.text
    assert doc.text.endswith("où l'on parle de coopération.")


def test_short_windows_1252_text_is_not_read_as_central_european(tmp_path: Path) -> None:
    # charset-normalizer alone ranks cp1250 first here (œ -> ś, è -> č): French wins ties.
    path = tmp_path / "court.txt"
    path.write_bytes("Titre\n\nL'œuvre est très belle, déjà vue à Noël.\n".encode("cp1252"))
    assert load_document(path, tmp_path).text == "Titre\n\nL'œuvre est très belle, déjà vue à Noël."


def test_txt_utf8_bom_and_long_first_line(tmp_path: Path) -> None:
    long_line = "Une première ligne beaucoup trop longue pour être un titre, " * 3
    path = tmp_path / "notes_de-reunion.txt"
    path.write_bytes(b"\xef\xbb\xbf" + (long_line + "\nsuite à venir\n").encode("utf-8"))
    doc = load_document(path, tmp_path)
    assert not doc.text.startswith("\ufeff")
    assert doc.text.startswith("Une première ligne")
    assert doc.title == "Notes de reunion"
    assert doc.sections[0].start == 0


def test_utf16_with_bom_is_text(tmp_path: Path) -> None:
    path = tmp_path / "u16.txt"
    path.write_bytes("Titre\nCoopération économique.\n".encode("utf-16"))
    doc = load_document(path, tmp_path)
    assert doc.title == "Titre" and "Coopération économique." in doc.text
