from bot.documents import Document, Section
from bot.ingest.chunking import Chunker, embedding_text
from tests.deadline import within

TEXT = (
    "Historique\n\n"
    "L'Alliance Dynamique a été initiée en 2014. Le chemin débute en 2008. "
    "Six ans plus tard, la démarche est au cœur de l'actualité.\n\n"
    "Partenariats\n\n"
    "Il existe deux types de partenariats. Le premier relève de la coopération économique. "
    "Le second relève de l'innovation sociétale."
)


def make_doc() -> Document:
    second = TEXT.index("Partenariats")
    return Document(
        source="a.md",
        title="L'Alliance",
        text=TEXT,
        sections=[Section(0, ("Historique",)), Section(second, ("Partenariats",))],
    )


def test_chunks_keep_offsets_and_never_cross_headings():
    doc = make_doc()
    chunks = Chunker(size=120, overlap=0)(doc)
    assert chunks
    for chunk in chunks:
        assert chunk.char_start < chunk.char_end <= len(doc.text)
        assert doc.text[chunk.char_start : chunk.char_end].strip()
    boundary = TEXT.index("Partenariats")
    assert all(c.char_end <= boundary or c.char_start >= boundary for c in chunks)
    assert {c.headings for c in chunks} == {("Historique",), ("Partenariats",)}


def test_chunks_cut_between_sentences_and_overlap():
    doc = make_doc()
    chunks = Chunker(size=100, overlap=1)(doc)
    for chunk in chunks:
        assert (
            doc.text[chunk.char_start : chunk.char_end].rstrip().endswith((".", "Historique", "Partenariats"))
        )
    in_section = [c for c in chunks if c.headings == ("Partenariats",)]
    assert len(in_section) >= 2
    # The last sentence of a chunk opens the next one.
    assert in_section[1].char_start < in_section[0].char_end


def test_a_long_sentence_is_a_chunk_of_its_own():
    doc = Document(source="b.txt", title="B", text="Mot " * 300 + "fin.")
    chunks = Chunker(size=100)(doc)
    assert len(chunks) == 1 and (chunks[0].char_start, chunks[0].char_end) == (0, len(doc.text))


def test_embedding_text_prepends_title_and_headings_once():
    doc = make_doc()
    chunk = Chunker(size=2000)(doc)[0]
    assert embedding_text("L'Alliance", chunk, doc.text).startswith("L'Alliance > Historique\n")
    assert embedding_text("Historique", chunk, doc.text).startswith("Historique\n")


def test_a_document_of_sixty_thousand_headings_is_chunked_in_seconds():
    """Each section looked up its heading path by scanning every section before it: 60,000
    headings (a 1.35 MB page of them) took minutes."""
    parts, sections, at = [], [], 0
    for i in range(60_000):
        block = f"Titre {i}\n\nUne phrase numéro {i}.\n\n"
        sections.append(Section(at, (f"Titre {i}",)))
        parts.append(block)
        at += len(block)
    doc = Document(source="titres.md", title="Titres", text="".join(parts).rstrip("\n"), sections=sections)
    with within(20):
        chunks = Chunker()(doc)
    assert len(chunks) == 60_000
    assert chunks[12_345].headings == ("Titre 12345",)
    assert (
        doc.text[chunks[12_345].char_start : chunks[12_345].char_end]
        == "Titre 12345\n\nUne phrase numéro 12345."
    )


def test_section_at_finds_the_section_holding_an_offset():
    doc = make_doc()
    second = TEXT.index("Partenariats")
    assert doc.section_at(0).headings == ("Historique",)
    assert doc.section_at(second - 1).headings == ("Historique",)
    assert doc.section_at(second).headings == ("Partenariats",)
    assert doc.section_at(len(TEXT)).headings == ("Partenariats",)
    late = Document(source="b.md", title="", text=TEXT, sections=[Section(10, ("Tard",))])
    assert late.section_at(3) == Section(0) and late.section_at(10).headings == ("Tard",)
    assert Document(source="c.md", title="", text=TEXT).section_at(5) == Section(0)
