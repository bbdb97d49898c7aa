"""Document loaders: Markdown, text, HTML, PDF, Word, OpenDocument and PowerPoint files
become `Document`s.

`Document.text` is the stored text every citation offset points into, so each loader
produces clean readable text: markup removed, headings on their own line, paragraphs
separated by a blank line. `Document.sections` records where each heading (or PDF
page or slide) starts in that text. One module per format; `common` holds the limits, the skip
reasons and the shared text handling, `files` the walk and the safe reads.

`load_documents` never raises for a bad file: the file is logged and returned in the
skipped list with a short reason, French first.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from bot.documents import Document
from bot.ingest.loaders.common import (
    BAD_NAME,
    DUPLICATE,
    EMPTY,
    MAX_DOCX_UNZIPPED_BYTES,
    MAX_DOCX_XML_BYTES,
    MAX_FILE_BYTES,
    MAX_TEXT_CHARS,
    NO_TEXT,
    NOT_A_FILE,
    NOT_FOUND,
    OUTSIDE_ROOT,
    DocumentError,
    check_text_length,
    too_large,
)
from bot.ingest.loaders.docx import load_docx
from bot.ingest.loaders.files import is_safe_name, read_stable, resolves_within, shown_path, walk
from bot.ingest.loaders.html import load_html
from bot.ingest.loaders.markdown import load_markdown
from bot.ingest.loaders.odt import load_odt
from bot.ingest.loaders.pdf import load_pdf
from bot.ingest.loaders.pptx import load_pptx
from bot.ingest.loaders.text import load_text

__all__ = [
    "MAX_DOCX_UNZIPPED_BYTES",
    "MAX_DOCX_XML_BYTES",
    "MAX_FILE_BYTES",
    "MAX_TEXT_CHARS",
    "SUPPORTED_SUFFIXES",
    "DocumentError",
    "SkippedFile",
    "load_bytes",
    "load_document",
    "read_document",
    "load_documents",
]

log = logging.getLogger("bot.ingest.loaders")

_LOADERS: dict[str, Callable[[bytes, Path], Document]] = {
    ".md": load_markdown,
    ".markdown": load_markdown,
    ".txt": load_text,
    ".html": load_html,
    ".htm": load_html,
    ".pdf": load_pdf,
    ".docx": load_docx,
    ".odt": load_odt,
    ".pptx": load_pptx,
}
SUPPORTED_SUFFIXES: frozenset[str] = frozenset(_LOADERS)


@dataclass
class SkippedFile:
    path: str  # as given, or as found under the directory given (unsafe characters escaped)
    reason: str  # French first, then English
    # The source it would have had, when the file exists and may keep an indexed version
    # (unreadable this time); None for what must not stay indexed (see _NOT_KEPT).
    source: str | None = None


# A file skipped for one of these reasons loses any version indexed before: it is gone,
# it leads out of the folder, or its name is unsafe to show.
_NOT_KEPT = frozenset({NOT_FOUND, OUTSIDE_ROOT, BAD_NAME})


def load_document(path: Path, root: Path, *, confine: Path | None = None) -> Document:
    """Load one file. `source` is its path relative to `root` (posix), or its name.

    With `confine` (a resolved folder), a file whose links resolve outside it is refused.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    source = _source(path, root)
    if not (is_safe_name(source) and is_safe_name(path.name)):
        raise DocumentError(BAD_NAME)
    try:
        if not path.exists():
            raise DocumentError(NOT_FOUND)
        real = path.resolve()
        if confine is not None and not real.is_relative_to(confine):
            raise DocumentError(OUTSIDE_ROOT)
        if not real.is_file():
            raise DocumentError(NOT_A_FILE)
        if suffix not in SUPPORTED_SUFFIXES:
            shown = suffix or "sans extension"
            raise DocumentError(f"format non pris en charge ({shown}) — unsupported file type")
        data = read_stable(real)
    except OSError as exc:
        raise DocumentError(f"lecture impossible ({exc.strerror or exc}) — unreadable file") from exc
    doc = load_bytes(data, path, suffix)
    doc.source = source
    return doc


def load_bytes(data: bytes, path: Path, suffix: str) -> Document:
    """Load bytes read elsewhere (a download, an upload checked before it replaces anything)
    with the loader of `suffix`; `path` names the document. The same checks as a file:
    empty, no text, too long."""
    if len(data) > MAX_FILE_BYTES:
        raise DocumentError(too_large(len(data)))
    if not data.strip():
        raise DocumentError(EMPTY)
    doc = _LOADERS[suffix](data, path)
    if not doc.text.strip():
        raise DocumentError(NO_TEXT)
    check_text_length(len(doc.text))
    return doc


def load_documents(paths: Iterable[Path]) -> tuple[list[Document], list[SkippedFile]]:
    """Load files and directories (walked recursively, in sorted order).

    Sources are named from the folder given: `documents/historique.md` for the folder
    `documents`, `note.txt` for the file `note.txt`. Hidden files and directories are
    ignored; links are not followed out of a folder given (a link inside it is fine).
    A bad file is logged, listed as skipped, and never stops the others.
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
                confine = given.resolve()
                root, found = confine.parent, list(walk(given))
            elif given.exists():
                confine, root, found = None, given.parent, [(given, False)]
            else:
                skip(shown_path(given), NOT_FOUND)
                continue
        except OSError as exc:
            skip(shown_path(given), f"accès impossible ({exc.strerror or exc}) — unreadable path")
            continue
        for file, is_dir_link in found:
            shown = shown_path(file)
            if is_dir_link:  # never entered; its target, when inside, is walked anyway
                if confine is not None and not resolves_within(file, confine):
                    skip(shown, OUTSIDE_ROOT)
                continue
            try:
                key = file.resolve()
            except (OSError, RuntimeError):
                key = file.absolute()
            if confine is not None and not key.is_relative_to(confine):
                skip(shown, OUTSIDE_ROOT)  # every link out is reported, even to a file seen before
                continue
            if key in seen_files:
                continue
            seen_files.add(key)
            try:
                doc = load_document(file, root, confine=confine)
            except DocumentError as exc:
                reason = str(exc)
                kept = reason not in _NOT_KEPT and file.exists()
                skip(shown, reason, _source(file, root) if kept else None)
                continue
            except Exception as exc:  # a loader bug or an odd file must not stop ingest
                log.warning("Erreur inattendue en lisant %s", shown, exc_info=True)
                reason = f"erreur inattendue ({type(exc).__name__}) — unexpected error"
                skip(shown, reason, _source(file, root))
                continue
            if doc.source in seen_sources:
                skip(shown, DUPLICATE)
                continue
            seen_sources.add(doc.source)
            docs.append(doc)
    return docs, skipped


def _source(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(Path(root).resolve()).as_posix()
    except (ValueError, OSError, RuntimeError):
        return path.name
