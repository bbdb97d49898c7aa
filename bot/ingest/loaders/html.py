"""HTML: the main text of a page (lexbor via selectolax), without scripts, styles,
navigation, forms or hidden elements; headings become sections."""

from __future__ import annotations

import re
from pathlib import Path

from bot.documents import Document
from bot.ingest.loaders.common import (
    Block,
    DocumentError,
    assemble,
    decode_text,
    first_heading,
    prettify_stem,
    squash,
)

_SKIP = frozenset(
    """script style noscript template svg math nav aside footer form iframe object embed
    canvas button select input textarea label dialog head audio video map""".split()
)
_SKIP_ROLES = frozenset({"navigation", "banner", "contentinfo", "complementary", "search"})
_BLOCKS = frozenset(
    """address article blockquote body center dd details div dl dt fieldset figcaption
    figure header hgroup hr html legend li main ol p section summary table tbody thead
    tfoot ul caption""".split()
)
# Nesting deeper than this is refused before parsing: real pages stay under ~60 levels, and
# parsing and walking cost grows with the square of the depth (200,000 levels: minutes).
MAX_HTML_DEPTH = 256
# Elements that need no end tag, or whose end tag is implied by the next one: never nesting.
_NO_DEPTH = frozenset(
    """area base br col embed hr img input link meta param source track wbr p li dt dd tr td th
    option optgroup thead tbody tfoot colgroup caption rb rp rt rtc""".split()
)
# A tag, or the start of a comment; an attribute list past 4 KB is not read as a tag.
_TAG = re.compile(r"<!--|<(/?)([A-Za-z][A-Za-z0-9-]{0,40})[^>]{0,4096}?(/?)>")
_RAW_TEXT = frozenset({"script", "style", "textarea", "title"})  # no tags inside
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.I)
_HIDDEN_STYLE = re.compile(r"display\s*:\s*none", re.I)


def _cell_text(cell) -> str:
    """A table cell on one line: its row is one line of the stored text."""
    return squash(cell.text(separator=" ").replace("\n", " "))


class _HtmlText:
    """Walks a lexbor tree and collects readable blocks."""

    def __init__(self) -> None:
        self.blocks: list[Block] = []
        self.buffer: list[str] = []
        self.kind = "para"

    def flush(self) -> None:
        lines = [squash(line) for line in "".join(self.buffer).split("\n")]
        text = "\n".join(line for line in lines if line)
        if text:
            self.blocks.append(Block(("- " + text) if self.kind == "li" else text, self.kind))
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
                tag in _SKIP
                or (tag == "header" and not in_content)
                or "hidden" in attrs
                or (attrs.get("aria-hidden") or "").lower() == "true"
                or (attrs.get("role") or "").lower() in _SKIP_ROLES
                or _HIDDEN_STYLE.search(attrs.get("style") or "")
            ):
                continue
            if tag == "br":
                self.buffer.append("\n")
            elif re.fullmatch(r"h[1-6]", tag):
                self.flush()
                heading = squash(child.text(separator=" "))
                if heading:
                    self.blocks.append(Block(heading, "heading", int(tag[1])))
            elif tag == "pre":
                self.flush()
                text = "\n".join(line.rstrip() for line in child.text().split("\n"))
                self.blocks.append(Block(text.strip("\n"), "code"))
            elif tag == "tr":
                self.flush()
                cells = [_cell_text(c) for c in child.iter() if c.tag in ("td", "th")]
                self.blocks.append(Block(" | ".join(c for c in cells if c), "row"))
            elif tag == "li":
                self.flush()
                self.kind = "li"
                self.walk(child, in_content)
                self.flush()
            elif tag in _BLOCKS:
                self.flush()
                self.walk(child, in_content or tag in ("main", "article"))
                self.flush()
            else:
                self.walk(child, in_content)


def check_depth(text: str) -> None:
    """Refuse HTML nested deeper than MAX_HTML_DEPTH, in one linear scan of its tags."""
    lowered = text.lower()
    depth = pos = 0
    while (m := _TAG.search(text, pos)) is not None:
        pos = m.end()
        if m.group() == "<!--":
            pos = lowered.find("-->", pos)
        elif (tag := m.group(2).lower()) in _RAW_TEXT and not m.group(1):
            pos = lowered.find(f"</{tag}", pos)
        elif tag not in _NO_DEPTH and not m.group(3):
            depth = max(depth - 1, 0) if m.group(1) else depth + 1
            if depth > MAX_HTML_DEPTH:
                raise DocumentError(
                    f"HTML trop imbriqué (plus de {MAX_HTML_DEPTH} niveaux) — HTML nested too deeply "
                    f"(over {MAX_HTML_DEPTH} levels)"
                )
        if pos < 0:  # an unclosed comment or script: the rest is not markup
            return


def html_blocks(fragment: str) -> list[Block]:
    """The readable blocks of an HTML fragment (raw HTML inside Markdown)."""
    from selectolax.lexbor import LexborHTMLParser

    check_depth(fragment)
    tree = LexborHTMLParser(fragment)
    walker = _HtmlText()
    root = tree.body or tree.root
    if root is not None:
        walker.walk(root, in_content=True)
        walker.flush()
    return walker.blocks


def load_html(data: bytes, path: Path) -> Document:
    from selectolax.lexbor import LexborHTMLParser

    declared = _META_CHARSET.search(data[:4096])
    text = decode_text(data, declared.group(1).decode("ascii") if declared else None)
    check_depth(text)
    tree = LexborHTMLParser(text)
    title_node = tree.css_first("title")
    title = squash(title_node.text()) if title_node is not None else ""

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
    body, sections = assemble(walker.blocks)
    if not title:  # the first h1 of the main text, else of the page
        title = first_heading(walker.blocks) or ""
    if not title and (h1 := tree.css_first("h1")) is not None:
        title = squash(h1.text(separator=" "))
    return Document(source=path.name, title=title or prettify_stem(path), text=body, sections=sections)
