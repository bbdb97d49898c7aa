"""Plain text: lines kept, runs of blank lines folded, the first short line as title."""

from __future__ import annotations

import re
from pathlib import Path

from bot.documents import Document, Section
from bot.ingest.loaders.common import decode_text, prettify_stem


def load_text(data: bytes, path: Path) -> Document:
    decoded = decode_text(data)
    lines = [line.rstrip() for line in decoded.split("\n")]
    text = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip("\n")
    text = text.replace("\u00a0", " ").replace("\u202f", " ")
    first = next((line.strip() for line in lines if line.strip()), "")
    title = first if 0 < len(first) <= 100 else prettify_stem(path)
    return Document(source=path.name, title=title, text=text, sections=[Section(0)])
