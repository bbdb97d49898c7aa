"""Document loaders: Markdown, text, HTML, PDF and Word files become `Document`s.

`Document.text` is the stored text every citation offset points into, so each loader
produces clean readable text: markup removed, headings on their own line, paragraphs
separated by a blank line. `Document.sections` records where each heading (or PDF
page) starts in that text.

`load_documents` never raises for a bad file: the file is logged and returned in the
skipped list with a short reason, French first.
"""

from __future__ import annotations

import codecs
import html
import io
import logging
import os
import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import yaml

from bot.types import Document, Section

log = logging.getLogger("bot.documents")

SUPPORTED_SUFFIXES: frozenset[str] = frozenset(
    {".md", ".markdown", ".txt", ".html", ".htm", ".pdf", ".docx"}
)
MAX_FILE_BYTES = 20 * 1024 * 1024
# Share of control bytes (NUL and C0 controls other than tab, newline, CR, form feed)
# above which a "text" file is taken for binary content.
MAX_CONTROL_RATIO = 0.01

NOT_FOUND = "introuvable — not found"
EMPTY = "fichier vide — empty file"
BINARY = "contenu binaire, pas du texte — binary content"
UNKNOWN_ENCODING = "encodage du texte non reconnu — unknown text encoding"
NO_TEXT = "aucun texte lisible — no text content"
CORRUPT_PDF = "PDF illisible (fichier corrompu) — corrupt PDF"
ENCRYPTED_PDF = "PDF protégé par mot de passe — encrypted PDF"
SCANNED_PDF = "PDF sans texte extractible (document scanné ?) — no extractable text in PDF"
CORRUPT_DOCX = "document Word illisible (fichier corrompu) — corrupt .docx"
DUPLICATE = "même chemin relatif qu'un autre document déjà chargé — duplicate source"


@dataclass
class SkippedFile:
    path: str  # as given, or as found under the directory given
    reason: str  # French first, then English
    source: str | None = None  # the source it would have had, when the file exists


class DocumentError(Exception):
    """A file that cannot be loaded; the message is the reason, French first."""


# --------------------------------------------------------------------------- API


def load_document(path: Path, root: Path) -> Document:
    """Load one file. `source` is its path relative to `root` (posix), or its name."""
    path = Path(path)
    suffix = path.suffix.lower()
    if not path.exists():
        raise DocumentError(NOT_FOUND)
    if not path.is_file():
        raise DocumentError("pas un fichier — not a regular file")
    if suffix not in SUPPORTED_SUFFIXES:
        shown = suffix or "sans extension"
        raise DocumentError(f"format non pris en charge ({shown}) — unsupported file type")
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise DocumentError(
                f"fichier trop volumineux ({size / 1e6:.1f} Mo > {MAX_FILE_BYTES / 1e6:.0f} Mo)"
                " — file too large"
            )
        data = path.read_bytes()
    except OSError as exc:
        reason = f"lecture impossible ({exc.strerror or exc}) — unreadable file"
        raise DocumentError(reason) from exc
    if not data.strip():
        raise DocumentError(EMPTY)

    doc = _LOADERS[suffix](data, path)
    doc.source = _source(path, root)
    if not doc.text.strip():
        raise DocumentError(NO_TEXT)
    return doc


def load_documents(paths: Iterable[Path]) -> tuple[list[Document], list[SkippedFile]]:
    """Load files and directories (walked recursively, in sorted order).

    Sources are named from the folder given: `documents/historique.md` for the folder
    `documents`, `note.txt` for the file `note.txt`. Hidden files
    and directories are ignored. A bad file is logged, listed as skipped, and never stops
    the others.
    """
    docs: list[Document] = []
    skipped: list[SkippedFile] = []
    seen_files: set[Path] = set()
    seen_sources: set[str] = set()

    def skip(shown: str, reason: str, source: str | None = None) -> None:
        log.warning("Fichier ignoré : %s — %s", shown, reason)
        skipped.append(SkippedFile(shown, reason, source))

    for given in paths:
        given = Path(given)
        try:
            if given.is_dir():
                root, files = given.resolve().parent, list(_walk(given))
            elif given.exists():
                root, files = given.parent, [given]
            else:
                skip(given.as_posix(), NOT_FOUND)
                continue
        except OSError as exc:
            skip(given.as_posix(), f"accès impossible ({exc.strerror or exc}) — unreadable path")
            continue
        for file in files:
            shown = file.as_posix()
            try:
                key = file.resolve()
            except OSError:
                key = file.absolute()
            if key in seen_files:
                continue
            seen_files.add(key)
            try:
                doc = load_document(file, root)
            except DocumentError as exc:
                skip(shown, str(exc), _source(file, root) if file.exists() else None)
                continue
            except Exception as exc:  # a loader bug or an odd file must not stop ingest
                log.warning("Erreur inattendue en lisant %s", shown, exc_info=True)
                reason = f"erreur inattendue ({type(exc).__name__}) — unexpected error"
                skipped.append(SkippedFile(shown, reason, _source(file, root)))
                continue
            if doc.source in seen_sources:
                skip(shown, DUPLICATE)
                continue
            seen_sources.add(doc.source)
            docs.append(doc)
    return docs, skipped


def _walk(root: Path) -> Iterator[Path]:
    """Files under `root`, hidden ones (and Office lock files) left out, sorted."""
    found: list[tuple[str, Path]] = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in filenames:
            if name.startswith((".", "~$")):
                continue
            file = Path(dirpath) / name
            found.append((file.relative_to(root).as_posix(), file))
    for _, file in sorted(found):
        yield file


def _source(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(Path(root).resolve()).as_posix()
    except (ValueError, OSError):
        return path.name


def prettify_stem(path: Path) -> str:
    """'01_mon-fichier' -> 'Mon fichier'."""
    stem = re.sub(r"[_\-]+", " ", path.stem).strip()
    stem = re.sub(r"^\d+\s+(?=\S)", "", stem)
    stem = re.sub(r"\s+", " ", stem)
    return (stem[:1].upper() + stem[1:]) if stem else path.name


# ---------------------------------------------------------------- text decoding

_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_CONTROL_BYTES = bytes(b for b in range(32) if b not in (9, 10, 12, 13)) + b"\x7f"
_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")
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
    if len(_CONTROL_CHARS.findall(text)) > MAX_CONTROL_RATIO * max(len(text), 1):
        raise DocumentError(BINARY)
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\f", "\n")
    text = _CONTROL_CHARS.sub("", text)
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
            if (
                alt is not None
                and alt.chaos <= best.chaos + 0.01
                and alt.coherence >= best.coherence - 0.1
            ):
                chosen = alt
                break
    return str(chosen)


_SPACES = re.compile(r"[ \t\f\v\u00a0\u202f\u2007\u2009\u200b]+")


def _squash(text: str) -> str:
    """Collapse runs of spaces (non-breaking ones too) and trim."""
    return _SPACES.sub(" ", text).strip()


# ------------------------------------------------------------- assembling text


@dataclass
class _Block:
    text: str
    kind: str = "para"  # para | heading | li | row | code
    level: int = 0  # heading level, 1..6


_TIGHT = {"li", "row"}  # consecutive blocks of these kinds are separated by one newline


def _assemble(blocks: list[_Block]) -> tuple[str, list[Section]]:
    """Join blocks into the stored text and compute the sections of its headings."""
    parts: list[str] = []
    sections: list[Section] = []
    stack: list[tuple[int, str]] = []
    offset = 0
    prev: _Block | None = None
    for block in blocks:
        text = block.text.strip("\n")
        if not text.strip():
            continue
        if prev is not None:
            sep = "\n" if block.kind == prev.kind and block.kind in _TIGHT else "\n\n"
            parts.append(sep)
            offset += len(sep)
        if block.kind == "heading":
            while stack and stack[-1][0] >= block.level:
                stack.pop()
            stack.append((block.level, text))
            sections.append(Section(offset, tuple(h for _, h in stack)))
        elif not sections:
            sections.append(Section(0))
        parts.append(text)
        offset += len(text)
        prev = block
    return "".join(parts), sections


# -------------------------------------------------------------------- Markdown

_FRONT_MATTER = re.compile(r"\A---[ \t]*\n(.*?)\n(?:---|\.\.\.)[ \t]*(?:\n|\Z)", re.S)
_ATX = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
_SETEXT = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_HR = re.compile(r"^ {0,3}([-*_])(?:[ \t]*\1){2,}[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_LIST_ITEM = re.compile(r"^([ \t]*)(?:[-*+•]|(\d{1,9}[.)]))[ \t]+(.*)$")
_REF_DEF = re.compile(r"^ {0,3}\[[^\]]+\]:[ \t]*\S+.*$")
_QUOTE = re.compile(r"^[ \t]{0,3}(?:>[ \t]?)+")
_TABLE_SEP = re.compile(r"^[ \t]*\|?[ \t]*:?-{2,}:?[ \t]*(?:\|[ \t]*:?-{2,}:?[ \t]*)*\|?[ \t]*$")
_HTML_COMMENT = re.compile(r"<!--.*?-->", re.S)

_CODE_SPAN = re.compile(r"(`+)(.+?)\1", re.S)
_IMAGE = re.compile(r"[ \t]*!\[[^\]]*\](?:\((?:[^()]|\([^)]*\))*\)|\[[^\]]*\])")
_LINK = re.compile(r"\[([^\]]+)\](?:\((?:[^()]|\([^)]*\))*\)|\[[^\]]*\])")
_AUTOLINK = re.compile(r"<((?:https?|ftp|mailto):[^>\s]+|[^@>\s]+@[^>\s]+)>")
_HTML_TAG = re.compile(r"</?[A-Za-z][A-Za-z0-9-]*(?:\s[^<>]*)?/?>")
_STRONG = re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1")
_STRIKE = re.compile(r"~~(?=\S)(.+?)(?<=\S)~~")
_EM_STAR = re.compile(r"\*(?=[^\s*])([^*]+?)(?<=[^\s*])\*")
_EM_UNDER = re.compile(r"(?<!\w)_(?=[^\s_])([^_]+?)(?<=[^\s_])_(?!\w)")
_ESCAPE = re.compile(r"\\([\\`*_{}\[\]()#+\-.!|>~<\"'])")
_HEADING_ID = re.compile(r"[ \t]*\{#[^}]*\}[ \t]*$")


def strip_inline_markdown(text: str) -> str:
    """`**bold**`, `*em*`, `` `code` ``, links and images to plain text."""
    codes: list[str] = []

    def keep_code(m: re.Match[str]) -> str:
        codes.append(m.group(2).strip())
        return f"\x00{len(codes) - 1}\x00"

    text = _CODE_SPAN.sub(keep_code, text)
    text = _IMAGE.sub("", text)
    text = _LINK.sub(r"\1", text)
    text = _AUTOLINK.sub(lambda m: m.group(1).removeprefix("mailto:"), text)
    text = _HTML_TAG.sub("", text)
    for _ in range(2):  # nested emphasis: ***x*** or **a *b* c**
        text = _STRONG.sub(r"\2", text)
        text = _STRIKE.sub(r"\1", text)
        text = _EM_STAR.sub(r"\1", text)
        text = _EM_UNDER.sub(r"\1", text)
    text = _ESCAPE.sub(r"\1", text)
    text = html.unescape(text)
    text = re.sub(r"\x00(\d+)\x00", lambda m: codes[int(m.group(1))], text)
    return _squash(text)


def _front_matter(text: str, name: str) -> tuple[dict, str]:
    match = _FRONT_MATTER.match(text)
    if not match:
        return {}, text
    try:
        meta = yaml.safe_load(match.group(1))
    except yaml.YAMLError:
        meta = None
    if isinstance(meta, dict):
        return meta, text[match.end() :]
    if re.match(r"^[A-Za-z_][\w -]*:", match.group(1)):
        log.warning("%s : en-tête YAML invalide, ignoré", name)
        return {}, text[match.end() :]
    return {}, text


def _meta_str(value: object) -> str | None:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        return _squash(str(value)) or None
    return None


def markdown_blocks(text: str) -> list[_Block]:
    """A small line-based Markdown reader: what a reader sees, as blocks."""
    blocks: list[_Block] = []
    para: list[str] = []  # lines of the current paragraph or list item
    prefix: str | None = None  # list marker of the current item, None for a paragraph
    fence: str | None = None
    code: list[str] = []
    in_table = False
    lines = _HTML_COMMENT.sub("", text).split("\n")

    def flush() -> None:
        nonlocal para, prefix
        if para:
            # A line ending with two spaces or a backslash is a hard break; others wrap.
            joined = ""
            for line in para:
                if joined:
                    hard = joined.endswith("  ") or joined.endswith("\\")
                    joined = joined.rstrip(" \\") + ("\n" if hard else " ")
                joined += line
            body = "\n".join(strip_inline_markdown(part) for part in joined.split("\n"))
            if prefix is None:
                blocks.append(_Block(body))
            else:
                blocks.append(_Block(prefix + body, "li"))
        para, prefix = [], None

    for i, raw in enumerate(lines):
        if fence is not None:
            if re.match(rf"^ {{0,3}}{re.escape(fence[0])}{{{len(fence)},}}[ \t]*$", raw):
                blocks.append(_Block("\n".join(code).strip("\n"), "code"))
                fence, code = None, []
            else:
                code.append(raw.rstrip())
            continue
        line = _QUOTE.sub("", raw)
        stripped = line.strip()
        if not stripped:
            flush()
            in_table = False
            continue
        if m := _FENCE.match(line):
            flush()
            fence = m.group(1)
            continue
        if m := _ATX.match(line):
            flush()
            heading = strip_inline_markdown(_HEADING_ID.sub("", m.group(2) or ""))
            if heading:
                blocks.append(_Block(heading, "heading", len(m.group(1))))
            continue
        if para and prefix is None and (m := _SETEXT.match(line)):
            heading = strip_inline_markdown(" ".join(p.strip() for p in para))
            para = []
            if heading:
                blocks.append(_Block(heading, "heading", 1 if m.group(1)[0] == "=" else 2))
            continue
        if _HR.match(line) or _REF_DEF.match(line):
            flush()
            continue
        next_line = lines[i + 1] if i + 1 < len(lines) else ""
        if in_table or ("|" in stripped and _TABLE_SEP.match(_QUOTE.sub("", next_line))):
            flush()
            in_table = True
            if not _TABLE_SEP.match(line):
                cells = [strip_inline_markdown(c) for c in stripped.strip("|").split("|")]
                blocks.append(_Block(" | ".join(c for c in cells if c), "row"))
            continue
        keep_break = "  " if line.endswith("  ") else ""
        if m := _LIST_ITEM.match(line):
            flush()
            indent = "  " * (len(m.group(1).expandtabs(4)) // 2)
            prefix = indent + (m.group(2) or "-") + " "
            para = [m.group(3).strip() + keep_break]
            continue
        para.append(stripped + keep_break)
    flush()
    if fence is not None and code:
        blocks.append(_Block("\n".join(code).strip("\n"), "code"))
    return blocks


def _load_markdown(data: bytes, path: Path) -> Document:
    meta, body = _front_matter(decode_text(data), path.name)
    blocks = markdown_blocks(body)
    text, sections = _assemble(blocks)
    title = _meta_str(meta.get("title"))
    if not title:
        title = next((b.text for b in blocks if b.kind == "heading" and b.level == 1), None)
    url = _meta_str(meta.get("url"))
    origin = _meta_str(meta.get("source"))
    if not url and origin and re.match(r"https?://", origin):
        url = origin
    return Document(
        source=path.name,
        title=title or prettify_stem(path),
        text=text,
        sections=sections,
        url=url,
        date=_meta_str(meta.get("date")),
    )


# ------------------------------------------------------------------------ text


def _load_txt(data: bytes, path: Path) -> Document:
    lines = [line.rstrip() for line in decode_text(data).split("\n")]
    text = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip("\n")
    text = text.replace("\u00a0", " ").replace("\u202f", " ")
    first = next((line.strip() for line in lines if line.strip()), "")
    title = first if 0 < len(first) <= 100 else prettify_stem(path)
    return Document(source=path.name, title=title, text=text, sections=[Section(0)])


# ------------------------------------------------------------------------ HTML

_HTML_SKIP = frozenset(
    """script style noscript template svg math nav aside footer form iframe object embed
    canvas button select input textarea label dialog head audio video map""".split()
)
_HTML_SKIP_ROLES = frozenset({"navigation", "banner", "contentinfo", "complementary", "search"})
_HTML_BLOCKS = frozenset(
    """address article blockquote body center dd details div dl dt fieldset figcaption
    figure header hgroup hr html legend li main ol p section summary table tbody thead
    tfoot ul caption""".split()
)
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.I)


class _HtmlText:
    """Walks a lexbor tree and collects readable blocks."""

    def __init__(self) -> None:
        self.blocks: list[_Block] = []
        self.buffer: list[str] = []
        self.kind = "para"

    def flush(self) -> None:
        lines = [_squash(line) for line in "".join(self.buffer).split("\n")]
        text = "\n".join(line for line in lines if line)
        if text:
            self.blocks.append(_Block(("- " + text) if self.kind == "li" else text, self.kind))
        self.buffer = []
        self.kind = "para"

    def walk(self, node, in_content: bool = False) -> None:
        for child in node.iter(include_text=True):
            if child.is_text_node:
                self.buffer.append((child.text_content or "").replace("\n", " "))
                continue
            if not child.is_element_node:
                continue
            tag = child.tag
            attrs = child.attributes
            if (
                tag in _HTML_SKIP
                or (tag == "header" and not in_content)
                or "hidden" in attrs
                or (attrs.get("aria-hidden") or "").lower() == "true"
                or (attrs.get("role") or "").lower() in _HTML_SKIP_ROLES
                or re.search(r"display\s*:\s*none", attrs.get("style") or "", re.I)
            ):
                continue
            if tag == "br":
                self.buffer.append("\n")
            elif re.fullmatch(r"h[1-6]", tag):
                self.flush()
                heading = _squash(child.text(separator=" "))
                if heading:
                    self.blocks.append(_Block(heading, "heading", int(tag[1])))
            elif tag == "pre":
                self.flush()
                text = "\n".join(line.rstrip() for line in child.text().split("\n"))
                self.blocks.append(_Block(text.strip("\n"), "code"))
            elif tag == "tr":
                self.flush()
                cells = [
                    _squash(c.text(separator=" ")) for c in child.iter() if c.tag in ("td", "th")
                ]
                self.blocks.append(_Block(" | ".join(c for c in cells if c), "row"))
            elif tag == "li":
                self.flush()
                self.kind = "li"
                self.walk(child, in_content)
                self.flush()
            elif tag in _HTML_BLOCKS:
                self.flush()
                self.walk(child, in_content or tag in ("main", "article"))
                self.flush()
            else:
                self.walk(child, in_content)


def _load_html(data: bytes, path: Path) -> Document:
    from selectolax.lexbor import LexborHTMLParser

    declared = _META_CHARSET.search(data[:4096])
    text = decode_text(data, declared.group(1).decode("ascii") if declared else None)
    tree = LexborHTMLParser(text)
    title_node = tree.css_first("title")
    title = _squash(title_node.text()) if title_node is not None else ""

    root = tree.css_first("main") or tree.css_first("[role=main]")
    in_content = root is not None
    if root is None:
        articles = tree.css("article")
        if len(articles) == 1:
            root, in_content = articles[0], True
    if root is None:
        root = tree.body or tree.root
    walker = _HtmlText()
    if root is not None:
        walker.walk(root, in_content)
        walker.flush()
    body, sections = _assemble(walker.blocks)
    if not title:  # the first h1 of the main text, else of the page
        title = next((b.text for b in walker.blocks if b.kind == "heading" and b.level == 1), "")
    if not title and (h1 := tree.css_first("h1")) is not None:
        title = _squash(h1.text(separator=" "))
    return Document(
        source=path.name, title=title or prettify_stem(path), text=body, sections=sections
    )


# ------------------------------------------------------------------------- PDF

_LIGATURES = str.maketrans(
    {"ﬀ": "ff", "ﬁ": "fi", "ﬂ": "fl", "ﬃ": "ffi", "ﬄ": "ffl", "ﬅ": "st", "ﬆ": "st"}
)


def _clean_page(text: str) -> str:
    text = unicodedata.normalize("NFC", text.translate(_LIGATURES))
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _CONTROL_CHARS.sub("", text)
    lines = [_squash(line) for line in text.split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip("\n")


def _load_pdf(data: bytes, path: Path) -> Document:
    from pypdf import PdfReader

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            try:
                if not reader.decrypt(""):
                    raise DocumentError(ENCRYPTED_PDF)
            except DocumentError:
                raise
            except Exception as exc:
                raise DocumentError(ENCRYPTED_PDF) from exc
        pages = list(reader.pages)
    except DocumentError:
        raise
    except Exception as exc:
        raise DocumentError(CORRUPT_PDF) from exc

    parts: list[str] = []
    sections: list[Section] = []
    offset = 0
    for number, page in enumerate(pages, start=1):
        try:
            page_text = _clean_page(page.extract_text() or "")
        except Exception:
            log.warning("%s : page %d illisible, ignorée", path.name, number, exc_info=True)
            continue
        if not page_text:
            continue
        if parts:
            parts.append("\n\n")
            offset += 2
        sections.append(Section(offset, (), number))
        parts.append(page_text)
        offset += len(page_text)
    if not parts:
        raise DocumentError(SCANNED_PDF)

    title = ""
    try:
        meta = reader.metadata
        title = _squash(meta.title or "") if meta is not None else ""
    except Exception:
        title = ""
    if re.search(r"\.(docx?|pdf|odt|pptx?|indd)$", title, re.I) or title.lower().startswith(
        ("microsoft word", "untitled")
    ):
        title = ""
    return Document(
        source=path.name, title=title or prettify_stem(path), text="".join(parts), sections=sections
    )


# ------------------------------------------------------------------------ DOCX

_DOCX_HEADING = re.compile(r"^(?:heading|titre|überschrift|título|titolo)\s*(\d)$", re.I)


def _load_docx(data: bytes, path: Path) -> Document:
    import docx
    from docx.table import Table

    try:
        document = docx.Document(io.BytesIO(data))
    except Exception as exc:
        raise DocumentError(CORRUPT_DOCX) from exc

    blocks: list[_Block] = []
    title_style = None
    for item in document.iter_inner_content():
        if isinstance(item, Table):
            for row in item.rows:
                cells, last = [], None
                for cell in row.cells:
                    if cell._tc is last:  # a merged cell repeats
                        continue
                    last = cell._tc
                    cells.append(_squash(cell.text.replace("\n", " ")))
                if any(cells):
                    blocks.append(_Block(" | ".join(c for c in cells if c), "row"))
            continue
        text = "\n".join(_squash(line) for line in item.text.split("\n")).strip("\n")
        if not text:
            continue
        style = (item.style.name if item.style is not None else "") or ""
        if m := _DOCX_HEADING.match(style.strip()):
            blocks.append(_Block(_squash(text), "heading", max(1, min(int(m.group(1)), 6))))
        elif style.lower() in ("title", "titre"):
            title_style = title_style or _squash(text)
            blocks.append(_Block(text))
        elif style.lower().startswith(("list", "liste")):
            blocks.append(_Block("- " + text, "li"))
        else:
            blocks.append(_Block(text))

    text, sections = _assemble(blocks)
    title = _squash(document.core_properties.title or "") or title_style
    if not title:
        title = next((b.text for b in blocks if b.kind == "heading" and b.level == 1), "")
    return Document(
        source=path.name, title=title or prettify_stem(path), text=text, sections=sections
    )


_LOADERS: dict[str, Callable[[bytes, Path], Document]] = {
    ".md": _load_markdown,
    ".markdown": _load_markdown,
    ".txt": _load_txt,
    ".html": _load_html,
    ".htm": _load_html,
    ".pdf": _load_pdf,
    ".docx": _load_docx,
}
