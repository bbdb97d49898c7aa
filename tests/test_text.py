from bot.text import detect_language, fold, sentence_spans, terms


def sentences(text: str) -> list[str]:
    return [text[a:b] for a, b in sentence_spans(text)]


def test_fold_removes_accents_and_ligatures():
    assert fold("Cœur Économique À l’ÉTÉ") == "coeur economique a l'ete"


def test_elisions_are_split_and_stop_words_dropped():
    assert terms("l'Alliance d'abord qu'elle") == terms("Alliance abord elle") == ["allianc", "abord"]


def test_accented_and_plain_spellings_match():
    assert terms("coopération économique") == terms("cooperation economique")
    assert terms("lancée") == terms("lancé") == terms("LANCE")


def test_numbers_and_hyphenated_names_are_kept():
    got = terms("l'ODD 17 depuis 2014, la co-construction")
    assert got == ["odd", "17", "depuis", "2014", "co-construct", "co", "construct"]


def test_english_analysis():
    assert terms("The partnerships were founded", "en") == ["partnership", "found"]


def test_detect_language():
    assert detect_language("The alliance was founded in 2014 by the group and its partners.") == "en"
    assert detect_language("L'alliance a été lancée en 2014 par le Groupe et ses partenaires.") == "fr"


def test_sentences_do_not_cut_at_abbreviations_numbers_or_quotes():
    text = (
        "M. Dupont et le Dr. Martin ont parlé, etc. puis ils sont partis. "
        "Le taux est de 3.5 % en 2020. Elle a dit « Bonjour. Ça va ? » avant de partir ! "
        "J. Dupont conclut."
    )
    assert sentences(text) == [
        "M. Dupont et le Dr. Martin ont parlé, etc. puis ils sont partis.",
        "Le taux est de 3.5 % en 2020.",
        "Elle a dit « Bonjour. Ça va ? » avant de partir !",
        "J. Dupont conclut.",
    ]


def test_sentences_split_headings_lists_and_keep_wrapped_lines():
    text = "Historique\n\nUne phrase coupée\nau milieu. Une autre.\n- premier point\n- second point"
    assert sentences(text) == [
        "Historique",
        "Une phrase coupée\nau milieu.",
        "Une autre.",
        "- premier point",
        "- second point",
    ]


def test_sentence_offsets_point_into_the_text():
    text = "  Première phrase.  Deuxième phrase ?\n\nTroisième !  "
    for a, b in sentence_spans(text):
        assert text[a:b] == text[a:b].strip() and text[a:b]
    assert [text[a:b] for a, b in sentence_spans(text, 20)] == ["Deuxième phrase ?", "Troisième !"]
