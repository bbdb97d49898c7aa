"""What a question asks for (person, date, number, place) and the spans of those kinds in a
sentence, in French and English. Rules only: they feed the reader's features and the
short answers."""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.text import fold

WHO, WHEN, NUMBER, WHERE, OTHER = "who", "when", "number", "where", "other"
ANSWER_TYPES = (WHO, WHEN, NUMBER, WHERE)

# Checked in this order: "en quelle année" is a date even though it has "quel".
_QUESTION_TYPES = [
    (
        WHEN,
        re.compile(
            r"\b(quand|depuis quand|jusqu'a quand|quelle annee|quelles annees|quelle date|en quelle|"
            r"a quelle (epoque|periode|date)|quel siecle|quel jour|quel mois|de quand|"
            r"when|what year|which year|what date|what century)\b"
        ),
    ),
    (
        NUMBER,
        re.compile(
            r"\b(combien|quel nombre|quel est le nombre|quelle quantite|quel pourcentage|quelle part|"
            r"quelle proportion|quel montant|quel age|quelle superficie|quelle taille|quelle hauteur|"
            r"quelle longueur|quelle distance|quelle duree|quelle somme|quel prix|quel cout|quel taux|"
            r"quelle population|quel score|how (many|much|long|old|far|tall|big))\b"
        ),
    ),
    (
        WHERE,
        re.compile(
            r"(^|\b(d|jusqu)')ou\b|\b(dans|en|sur) quel(le)? (pays|ville|region|lieu|continent|"
            r"departement|endroit|ile|province|etat|quartier)\b|\bquel(le)? (pays|ville|region|lieu|"
            r"continent|endroit|ile|province|quartier)\b|\b(where|which (country|city|region|place))\b"
        ),
    ),
    (
        WHO,
        re.compile(
            r"(^|[,:] ?|\b(a|par|de|avec|pour|chez|contre|selon|envers|of|to|by|with|for) )"
            r"(qui|who|whom)\b|^(qui|who|whose)\b|"
            r"\b(quel est le nom|comment s'appel|quel(le)? (personne|personnalite|entreprise|societe|"
            r"organisation|organisme|equipe|club|groupe|association|fondation|institution|artiste|"
            r"auteur|ecrivain|roi|reine|president|joueur|pilote|marque|parti|famille|homme|femme)|"
            r"which (company|organi[sz]ation|team|person|group))\b"
        ),
    ),
]


def question_type(question: str) -> str:
    q = fold(question).replace("’", "'")
    for kind, pattern in _QUESTION_TYPES:
        if pattern.search(q):
            return kind
    return OTHER


@dataclass(frozen=True)
class Span:
    kind: str
    start: int  # offsets into the text given to `find_spans`
    end: int


_MONTHS = (
    r"janvier|f[ée]vrier|mars|avril|mai|juin|juillet|ao[ûu]t|septembre|octobre|novembre|d[ée]cembre|"
    r"january|february|march|april|june|july|august|september|october|november|december"
)
_ROMAN = r"[IVXL]+(?:e|ème|er)"
_DATE = re.compile(
    rf"\b(?:(?:1er|\d{{1,2}})\s+(?:{_MONTHS})\s+\d{{3,4}}"
    rf"|(?:{_MONTHS})\s+\d{{3,4}}"
    rf"|(?:{_MONTHS})\s+\d{{1,2}},\s+\d{{4}}"
    rf"|(?:1er|\d{{1,2}})\s+(?:{_MONTHS})"
    rf"|{_ROMAN}\s+si[èe]cles?"
    rf"|(?:années|ann[ée]es)\s+(?:\d{{2,4}}|vingt|trente|quarante|cinquante|soixante)"
    rf"|\d{{1,2}}[/.]\d{{1,2}}[/.]\d{{2,4}}"
    rf"|(?:1\d{{3}}|20\d{{2}})(?:\s*[-–]\s*(?:1\d{{3}}|20\d{{2}}))?)\b",
    re.IGNORECASE,
)
_UNITS = (
    r"%|pour\s?cent|percent|€|euros?|dollars?|\$|francs?|livres?|km²|km2|m²|m2|km|kilomètres?|mètres?|"
    r"m|cm|mm|kg|kilos?|grammes?|g|tonnes?|t|litres?|l|hectares?|ha|habitants?|personnes?|"
    r"ans|années?|mois|jours?|heures?|minutes?|secondes?|siècles?|°C|degrés?|points?|"
    r"millions?|milliards?|milliers?|centaines?|dizaines?|miles?|feet|years?|people|"
    r"victoires?|buts?|titres?|tours?|exemplaires?|membres?|salariés?|employés?|élèves?|étudiants?"
)
_NUMBER = re.compile(
    rf"(?<![\w,.])(?:plus de |moins de |près de |environ |about |over |nearly )?"
    rf"\d+(?:[ \u00a0.,]\d{{3}})*(?:[.,]\d+)?"
    rf"(?:\s*(?:millions?|milliards?|billion|million)(?:\s+d['’])?)?(?:\s*(?:{_UNITS})\b)?(?:\s*(?:{_UNITS}))?",
    re.IGNORECASE,
)
_NUMBER_WORDS = re.compile(
    r"\b(?:deux|trois|quatre|cinq|six|sept|huit|neuf|dix|onze|douze|treize|quatorze|quinze|seize|"
    r"vingt|trente|quarante|cinquante|soixante|cent|mille|two|three|four|five|six|seven|eight|nine|"
    r"ten|twelve|twenty|hundred|thousand)\b(?:\s+(?:[a-zéèêàûôîç]+))?",
    re.IGNORECASE,
)
# A name: capitalised words, with particles inside ("Charles-Benoît HEIDSIECK",
# "le Groupe La Poste", "Banque de France", "Jean d'Ormesson").
_CAP = r"(?:[A-ZÀ-ÖØ-Þ][\w’'\-]*\w|[A-ZÀ-ÖØ-Þ])"
_PARTICLE = r"(?:de|du|des|de la|d['’]|la|le|les|von|van|der|den|di|da|del|of|the|and|et|y|&|sur|en)"
_NAME = re.compile(
    rf"(?:\b(?:(?:le|la|les)\s+|[lL]['’]))?(?<![\w-]){_CAP}(?:(?:\s+|-)(?:{_PARTICLE}\s*)?{_CAP})*"
)
_PLACE_BEFORE = re.compile(
    r"(?:\b(?:à|a|au|aux|en|dans|près de|vers|depuis|de|d['’]|in|at|near|from)\s+(?:la\s+|le\s+|l['’])?)$",
    re.IGNORECASE,
)
# Capitalised words that start sentences or are function words, not names.
_NOT_NAMES = frozenset(
    fold(w)
    for w in (
        "Le La Les L Un Une Des De Du Il Elle Ils Elles On Ce Cette Ces Cet Son Sa Ses Leur Leurs "
        "Dans En Au Aux Par Pour Sur Avec Selon Lors Depuis Après Avant Entre Mais Et Ou Donc Puis "
        "Ainsi Alors Cependant Pourtant Toutefois Enfin Aussi Si Quand Comme Tout Tous Toutes Toute "
        "Lorsque Bien Plus Très Parmi Chaque Certains Certaines Dès Face Grâce Malgré Contrairement "
        "C Qu Qui Que Quoi Dont Où The A An This That These Those It He She They We In On At By For "
        "With From Of As After Before During Since When While However Also Its His Her Their"
    ).split()
)


def find_spans(text: str) -> list[Span]:
    """Dates, numbers (with their unit), names and places in `text`, without overlaps
    (dates win over numbers, places over names)."""
    spans: list[Span] = []
    taken = [False] * len(text)

    def add(kind: str, start: int, end: int) -> None:
        while end > start and text[end - 1] in " ,.;:’'":
            end -= 1
        if end <= start or any(taken[start:end]):
            return
        for i in range(start, end):
            taken[i] = True
        spans.append(Span(kind, start, end))

    for m in _DATE.finditer(text):
        add(WHEN, m.start(), m.end())
    for m in _NUMBER.finditer(text):
        add(NUMBER, m.start(), m.end())
    for m in _NUMBER_WORDS.finditer(text):
        add(NUMBER, m.start(), m.end())
    for m in _NAME.finditer(text):
        start, end = m.start(), m.end()
        words = text[start:end].split()
        # Drop function words that only look like names because they start the sentence.
        while len(words) > 1 and (
            fold(words[0].rstrip("’'")) in _NOT_NAMES or re.match(r"^\w['’][a-zà-ÿ]", words[0])
        ):
            start = text.index(words[1], start + len(words[0]))
            words = words[1:]
        if not words or (
            len(words) == 1
            and (fold(words[0].strip("’'")) in _NOT_NAMES or re.match(r"^\w['’][a-zà-ÿ]", words[0]))
        ):
            continue
        kind = WHERE if _PLACE_BEFORE.search(text[max(0, start - 12) : start]) else WHO
        add(kind, start, end)
    return sorted(spans, key=lambda s: s.start)


def matches(question_kind: str, span_kind: str) -> bool:
    """A place or a name can answer "qui" and "où" alike: "à Paris", "par la Mairie de Paris"."""
    if question_kind == span_kind:
        return True
    return {question_kind, span_kind} == {WHO, WHERE}
