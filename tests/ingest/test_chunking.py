from bot.documents import Document, Section
from bot.ingest.chunking import Chunker, embedding_text

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
