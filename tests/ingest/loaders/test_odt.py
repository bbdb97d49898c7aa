"""OpenDocument loader: headings, paragraphs, lists, tables, corrupt files, bombs."""

from __future__ import annotations

import time
import zipfile
from pathlib import Path

import pytest

from bot.ingest.loaders import MAX_DOCX_XML_BYTES, DocumentError, load_document, load_documents
from tests.ingest.loaders.helpers import check_sections, load_with_peak, make_odt, skipped_reason

BODY = (
    '<text:h text:outline-level="1">Alliance Dynamique</text:h>'
    '<text:p text:style-name="Standard">Initiée par le <text:span>Groupe La Poste</text:span>'
    '<text:s/>en<text:s text:c="3"/>2014.<text:note><text:note-body><text:p>Une note.</text:p>'
    "</text:note-body></text:note></text:p>"
    '<text:h text:outline-level="2">Partenariats</text:h>'
    "<text:list><text:list-item><text:p>Coopération économique</text:p></text:list-item>"
    "<text:list-item><text:p>Innovation sociétale</text:p></text:list-item></text:list>"
    "<table:table><table:table-row><table:table-cell><text:p>Année</text:p></table:table-cell>"
    "<table:table-cell><text:p>Événement</text:p></table:table-cell></table:table-row>"
    "<table:table-row><table:table-cell><text:p>2008</text:p></table:table-cell>"
    "<table:table-cell><text:p>Début du chemin</text:p></table:table-cell></table:table-row>"
    "</table:table>"
    '<text:section><text:h text:outline-level="1">Reconnaissance</text:h>'
    "<text:p>Promotion 2020<text:line-break/>de la Fondation.</text:p></text:section>"
)


def test_odt_headings_paragraphs_lists_and_tables(tmp_path: Path) -> None:
    make_odt(tmp_path / "note.odt", BODY, title="Rapport de l'Alliance")

    doc = load_document(tmp_path / "note.odt", tmp_path)
    assert doc.title == "Rapport de l'Alliance"
    assert doc.text.startswith("Alliance Dynamique\n\nInitiée par le Groupe La Poste en 2014.\n\n")
    assert "Une note" not in doc.text  # a footnote is not part of the sentence
    assert "- Coopération économique\n- Innovation sociétale" in doc.text
    assert "Année | Événement\n2008 | Début du chemin" in doc.text
    assert "Promotion 2020\nde la Fondation." in doc.text
    assert [s.headings for s in doc.sections] == [
        ("Alliance Dynamique",),
        ("Alliance Dynamique", "Partenariats"),
        ("Reconnaissance",),
    ]
    check_sections(doc)
    assert doc.section_at(doc.text.index("Début du chemin")).headings[-1] == "Partenariats"


def test_odt_without_a_title_takes_its_first_heading(tmp_path: Path) -> None:
    make_odt(tmp_path / "sans-titre.odt", BODY)
    assert load_document(tmp_path / "sans-titre.odt", tmp_path).title == "Alliance Dynamique"


def test_corrupt_odt_is_skipped(tmp_path: Path) -> None:
    (tmp_path / "faux.odt").write_bytes(b"PK\x03\x04 pas vraiment un zip")
    with zipfile.ZipFile(tmp_path / "sans-contenu.odt", "w") as archive:
        archive.writestr("mimetype", "application/vnd.oasis.opendocument.text")
    for name in ("faux.odt", "sans-contenu.odt"):
        with pytest.raises(DocumentError, match="OpenDocument illisible"):
            load_document(tmp_path / name, tmp_path)


def test_odt_entities_are_never_expanded(tmp_path: Path) -> None:
    """A billion-laughs content.xml: a few hundred bytes that would expand to gigabytes."""
    lol = ['<!ENTITY l0 "lol">'] + [f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' for i in range(1, 10)]
    prolog = f"<!DOCTYPE office:document-content [{''.join(lol)}]>"
    make_odt(tmp_path / "rires.odt", "<text:p>Avant &l9; après</text:p>", prolog=prolog)
    began = time.perf_counter()
    try:
        doc = load_document(tmp_path / "rires.odt", tmp_path)
    except DocumentError as exc:
        assert "OpenDocument illisible" in str(exc)
    else:
        assert "lol" not in doc.text and len(doc.text) < 100
    assert time.perf_counter() - began < 2


def test_odt_whose_xml_unzips_past_the_limit_is_refused_before_parsing(tmp_path: Path) -> None:
    make_odt(tmp_path / "normal.odt", "<text:p>Un paragraphe ordinaire.</text:p>")
    paragraph = "<text:p>" + "Alliance Dynamique " * 50 + "</text:p>"
    make_odt(tmp_path / "bombe.odt", paragraph * (MAX_DOCX_XML_BYTES // len(paragraph) + 1))
    assert (tmp_path / "bombe.odt").stat().st_size < 1_000_000

    docs, skipped = load_documents([tmp_path])
    assert [d.source for d in docs] == [f"{tmp_path.name}/normal.odt"]
    reason = skipped_reason(skipped, "bombe.odt")
    assert reason.startswith("document OpenDocument trop volumineux une fois décompressé (parties XML")
    assert ".odt too large once unzipped (XML parts)" in reason


def test_huge_space_runs_allocate_nothing(tmp_path: Path) -> None:
    """`<text:s text:c="2000000000"/>` allocated 2 GB before any limit (a 409-byte file took a
    server from 655 to 1,178 MB with a smaller one): runs are clamped to what is left under
    the text limit, all runs together included."""
    huge = '<text:s text:c="2000000000"/>' * 50
    under = '<text:s text:c="1999999"/>' * 500  # each under the limit, 1 GB together
    body = f"<text:p>Avant{huge}après</text:p><text:p>Puis{under}fin.</text:p>"
    make_odt(tmp_path / "espaces.odt", body)
    make_odt(tmp_path / "normal.odt", "<text:p>Un paragraphe ordinaire.</text:p>")
    assert (tmp_path / "espaces.odt").stat().st_size < 2_000

    outcome = load_with_peak(tmp_path / "normal.odt", tmp_path / "espaces.odt")
    assert outcome.get("text") == "Avant après\n\nPuis fin.", outcome.get("error")
    assert outcome["growth_kb"] < 50_000


@pytest.mark.parametrize(
    ("markup", "expected"),
    [
        ('<text:p>en<text:s text:c="abc"/>2014</text:p>', "en 2014"),
        ('<text:p>en<text:s text:c="-5"/>2014</text:p>', "en 2014"),
        ('<text:p>en<text:s text:c="1e9"/>2014</text:p>', "en 2014"),
        (f'<text:p>en<text:s text:c="{"9" * 5000}"/>2014</text:p>', "en 2014"),  # past int()'s digits
        ('<text:h text:outline-level="zz">Titre</text:h>', "Titre"),
        ('<text:h text:outline-level="2.5">Titre</text:h>', "Titre"),
    ],
)
def test_malformed_integer_attributes_read_as_a_default(tmp_path: Path, markup: str, expected: str) -> None:
    """`text:c="abc"` or `text:outline-level="zz"` gave a traceback logged as an unexpected error."""
    make_odt(tmp_path / "bizarre.odt", markup + "<text:p>Suite du texte.</text:p>")
    docs, skipped = load_documents([tmp_path / "bizarre.odt"])
    assert not skipped and docs[0].text == f"{expected}\n\nSuite du texte."
    if "text:h" in markup:
        assert docs[0].sections[0].headings == ("Titre",)


def test_repeated_rows_and_cells_are_read_once_and_nested_tables_once(tmp_path: Path) -> None:
    """Repeat counts are never expanded; a table nested in a cell was read twice, as the cell's
    text and as rows of the outer table (each level of nesting once more)."""
    inner = (
        "<table:table><table:table-row><table:table-cell><text:p>Intérieur</text:p></table:table-cell>"
        "</table:table-row></table:table>"
    )
    body = (
        "<table:table><table:table-header-rows><table:table-row>"
        '<table:table-cell table:number-columns-repeated="2000000000"><text:p>Année</text:p>'
        '</table:table-cell><table:table-cell table:number-columns-spanned="abc"><text:p>Fait</text:p>'
        "</table:table-cell><table:covered-table-cell><text:p>Fait</text:p></table:covered-table-cell>"
        "</table:table-row></table:table-header-rows>"
        '<table:table-row table:number-rows-repeated="2000000000"><table:table-cell><text:p>2008</text:p>'
        f"</table:table-cell><table:table-cell><text:p>Début</text:p>{inner}</table:table-cell>"
        "</table:table-row></table:table>"
    )
    make_odt(tmp_path / "tableau.odt", body)
    doc = load_document(tmp_path / "tableau.odt", tmp_path)
    assert doc.text == "Année | Fait\n2008 | Début Intérieur"
