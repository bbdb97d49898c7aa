"""What every loader shares: limits, skip reasons, text decoding and block assembly.

A loader turns a file's bytes into `_Block`s (heading, paragraph, list item, table row,
code); `assemble` joins them into the stored text and records where each heading starts.
"""

from __future__ import annotations

import codecs
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from bot.documents import Section

# ------------------------------------------------------------------------- limits
# Documented in README ("Limits"). A file past one of them is skipped with a reason.

MAX_FILE_BYTES = 20 * 1024 * 1024  # size on disk
MAX_TEXT_CHARS = 2_000_000  # stored text of one document (about 1,000 pages)
# Markdown source refused before parsing: markdown-it-py reads 0.05 (hostile) to 0.5 MB a second
# (hostile input is the slow end), and markup is never half of a real document.
MAX_MARKDOWN_CHARS = 2 * MAX_TEXT_CHARS
MAX_DOCX_XML_BYTES = 64_000_000  # the XML parts of a .docx once unzipped (what python-docx parses)
MAX_DOCX_UNZIPPED_BYTES = 128_000_000  # all the parts of a .docx once unzipped (images included)
READ_ATTEMPTS = 4  # reads of a file that comes back empty or changes while being read
READ_RETRY_SECONDS = 0.05  # first pause between two reads; doubled each time
# A file modified this recently may still be being written (a copy, a download, a rewrite
# that truncated it first): it is read again after a pause before it is believed.
QUIET_SECONDS = 0.1
# Share of control bytes (NUL and C0 controls other than tab, newline, CR, form feed)
# above which a "text" file is taken for binary content.
MAX_CONTROL_RATIO = 0.01

# ------------------------------------------------------------------ skip reasons
# French first, then English: they are shown to the operator as they are.

NOT_FOUND = "introuvable — not found"
NOT_A_FILE = "pas un fichier — not a regular file"
EMPTY = "fichier vide — empty file"
BINARY = "contenu binaire, pas du texte — binary content"
UNKNOWN_ENCODING = "encodage du texte non reconnu — unknown text encoding"
NO_TEXT = "aucun texte lisible — no text content"
CORRUPT_PDF = "PDF illisible (fichier corrompu) — corrupt PDF"
ENCRYPTED_PDF = "PDF protégé par mot de passe — encrypted PDF"
SCANNED_PDF = "PDF sans texte extractible (document scanné ?) — no extractable text in PDF"
CORRUPT_DOCX = "document Word illisible (fichier corrompu) — corrupt .docx"
CORRUPT_ODT = "document OpenDocument illisible (fichier corrompu) — corrupt .odt"
CORRUPT_PPTX = "présentation PowerPoint illisible (fichier corrompu) — corrupt .pptx"
DUPLICATE = "même chemin relatif qu'un autre document déjà chargé — duplicate source"
CHANGING = "fichier en cours de modification — file changed while being read"
OUTSIDE_ROOT = "lien symbolique vers l'extérieur du dossier indexé — symlink pointing outside the folder"
BAD_NAME = (
    "nom de fichier avec caractères de contrôle, retour à la ligne, contrôle bidirectionnel"
    " ou octets non UTF-8 — file name with control, newline, bidi or non-UTF-8 characters"
)


def too_large(size: int) -> str:
    return f"fichier trop volumineux ({size / 1e6:.1f} Mo > {MAX_FILE_BYTES / 1e6:.0f} Mo) — file too large"


def text_too_long(
    length: int | None, where: str = "", where_en: str = "", limit: int = MAX_TEXT_CHARS
) -> str:
    """Over `limit` (`length` unknown when extraction stopped early); `where` (fr) and
    `where_en` say where."""
    got = f"{_fr(length)} > " if length is not None else "plus de "
    got_en = f"{length:,} > " if length is not None else "over "
    return (
        f"texte trop long ({got}{_fr(limit)} caractères{where}) : à découper"
        f" — text too long ({got_en}{limit:,} characters{where_en}): split it"
    )


def docx_too_large(
    xml_only: bool, size: int, limit: int, kind: str = "document Word trop volumineux", suffix: str = ".docx"
) -> str:
    """A zipped office file (.docx, .odt, .pptx) over one of the unzipped limits."""
    what, what_en = ("parties XML", "XML parts") if xml_only else ("toutes parties", "all parts")
    return (
        f"{kind} une fois décompressé ({what} : {size / 1e6:.0f} Mo"
        f" > {limit / 1e6:.0f} Mo) — {suffix} too large once unzipped ({what_en})"
    )


def _fr(number: int) -> str:
    return f"{number:,}".replace(",", "\u202f")


class DocumentError(Exception):
    """A file that cannot be loaded; the message is the reason, French first."""


def check_text_length(length: int) -> None:
    if length > MAX_TEXT_CHARS:
        raise DocumentError(text_too_long(length))


# ----------------------------------------------------------------- text decoding

_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_CONTROL_BYTES = bytes(b for b in range(32) if b not in (9, 10, 12, 13)) + b"\x7f"
CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")
# When charset-normalizer hesitates between single-byte encodings that fit equally
# well, a French corpus is far more likely to be Windows-1252 than, say, Windows-1250.
_WESTERN = ("cp1252", "iso8859_15", "latin_1")


def decode_text(data: bytes, declared: str | None = None) -> str:
    """Bytes to normalised text: BOM, then UTF-8, then the declared charset (HTML), then
    charset-normalizer. CRLF/CR become \\n, text is NFC. Binary content is refused."""
    text = None
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            text = data[len(bom) :].decode(encoding, errors="replace")
            break
    if text is None:
        text = _decode_without_bom(data, declared)
    if len(CONTROL_CHARS.findall(text)) > MAX_CONTROL_RATIO * max(len(text), 1):
        raise DocumentError(BINARY)
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\f", "\n")
    text = CONTROL_CHARS.sub("", text)
    return unicodedata.normalize("NFC", text)


def _decode_without_bom(data: bytes, declared: str | None) -> str:
    controls = sum(data.count(b) for b in _CONTROL_BYTES)
    binary_looking = controls > MAX_CONTROL_RATIO * len(data)
    if not binary_looking:
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            pass
        if declared:
            try:
                return data.decode(declared)
            except (LookupError, UnicodeDecodeError):
                pass

    from charset_normalizer import from_bytes

    results = from_bytes(data)
    best = results.best()
    if best is None:
        raise DocumentError(BINARY if binary_looking else UNKNOWN_ENCODING)
    if binary_looking and not best.encoding.startswith(("utf_16", "utf_32")):
        # Many NULs or control bytes: only UTF-16/32 without a BOM explains them.
        raise DocumentError(BINARY)
    chosen = best
    if best.encoding not in _WESTERN:
        for name in _WESTERN:
            alt = next((r for r in results if r.encoding == name), None)
            if alt is not None and alt.chaos <= best.chaos + 0.01 and alt.coherence >= best.coherence - 0.1:
                chosen = alt
                break
    return str(chosen)


_SPACES = re.compile(r"[ \t\f\v\u00a0\u202f\u2007\u2009\u200b]+")


def squash(text: str) -> str:
    """Collapse runs of spaces (non-breaking ones too) and trim; drop the control characters
    that decoding (HTML entities like `&#27;`, YAML escapes like `"\\e"`) may have made."""
    return _SPACES.sub(" ", CONTROL_CHARS.sub("", text)).strip()


_WEB_URL = re.compile(r"https?://[^\s\x00-\x1f\x7f]+", re.I)


def web_url(value: str | None) -> str | None:
    """`value` when it is an absolute http(s) URL, else None: a document's link is shown on
    pages, and `javascript:` or `data:` there would run script in the server's origin."""
    return value if value and _WEB_URL.fullmatch(value) else None


def prettify_stem(path: Path) -> str:
    """'01_mon-fichier' -> 'Mon fichier'."""
    stem = re.sub(r"[_\-]+", " ", path.stem).strip()
    stem = re.sub(r"^\d+\s+(?=\S)", "", stem)
    stem = re.sub(r"\s+", " ", stem)
    return (stem[:1].upper() + stem[1:]) if stem else path.name


# -------------------------------------------------------------- assembling text


@dataclass
class Block:
    text: str
    kind: str = "para"  # para | heading | li | row | code
    level: int = 0  # heading level, 1..6
    starts_group: bool = False  # first item of a list or row of a table: a blank line before
    page: int | None = None  # first block of a page or slide: a section starts here with its number


_TIGHT = {"li", "row"}  # consecutive blocks of these kinds are separated by one newline


def assemble(blocks: list[Block]) -> tuple[str, list[Section]]:
    """Join blocks into the stored text and compute the sections of its headings."""
    parts: list[str] = []
    sections: list[Section] = []
    stack: list[tuple[int, str]] = []
    offset = 0
    prev: Block | None = None
    for block in blocks:
        text = CONTROL_CHARS.sub("", block.text).strip("\n")  # made by decoding entities
        if not text.strip():
            continue
        if prev is not None:
            tight = block.kind == prev.kind and block.kind in _TIGHT and not block.starts_group
            sep = "\n" if tight else "\n\n"
            parts.append(sep)
            offset += len(sep)
        if block.page is not None:  # a slide is a unit of its own: its headings start afresh
            stack.clear()
        if block.kind == "heading":
            while stack and stack[-1][0] >= block.level:
                stack.pop()
            stack.append((block.level, text))
            sections.append(Section(offset, tuple(h for _, h in stack), block.page))
        elif block.page is not None:
            sections.append(Section(offset, (), block.page))
        elif not sections:
            sections.append(Section(0))
        parts.append(text)
        offset += len(text)
        prev = block
        if offset > MAX_TEXT_CHARS:  # stop early: the document will be refused anyway
            raise DocumentError(text_too_long(None))
    return "".join(parts), sections


_DIGITS = re.compile(r"[ \t\n\r]*\+?([0-9]+)[ \t\n\r]*")


def attribute_int(value: str | None, default: int, low: int, high: int) -> int:
    """An integer attribute of a document's markup (a count, a level, a span), read
    defensively: missing or malformed (`"abc"`, `"-3"`, `"1e9"`) gives `default`, and a
    well-formed one is clamped to [low, high], so that no attribute sizes an allocation."""
    match = _DIGITS.fullmatch(value or "")
    if match is None:
        return default
    digits = match.group(1).lstrip("0") or "0"
    return max(low, min(int(digits) if len(digits) <= 18 else high, high))


def first_heading(blocks: list[Block], level: int = 1) -> str | None:
    return next((b.text for b in blocks if b.kind == "heading" and b.level == level), None)
