"""Markdown: YAML front matter, then markdown-it-py's token stream turned into blocks.

Headings keep their level (sections), list items their marker and nesting, table rows
become « a | b » lines, code is kept verbatim; inline markup, links' targets and images
are dropped. Raw HTML blocks go through the HTML loader's reader.
"""

from __future__ import annotations

import logging
import re
from datetime import date, datetime
from functools import cache
from pathlib import Path

import yaml
from markdown_it import MarkdownIt
from markdown_it.token import Token

from bot.documents import Document
from bot.ingest.loaders.common import (
    MAX_MARKDOWN_CHARS,
    Block,
    DocumentError,
    assemble,
    decode_text,
    first_heading,
    prettify_stem,
    squash,
    text_too_long,
    web_url,
)

log = logging.getLogger("bot.ingest.loaders")

_FRONT_MATTER = re.compile(r"\A---[ \t]*\n(.*?)\n(?:---|\.\.\.)[ \t]*(?:\n|\Z)", re.S)
_HEADING_ID = re.compile(r"[ \t]*\{#[^}]*\}[ \t]*$")  # « Titre {#ancre} »
_BULLET_LINE = re.compile(r"^[ \t]*•[ \t]+")  # pasted from Word: not Markdown, still a list


@cache
def _parser() -> MarkdownIt:
    # Indented code is off: in documents (not READMEs) indented text is a paragraph, not code.
    return MarkdownIt("commonmark").enable(["table", "strikethrough"]).disable("code")


def strip_inline_markdown(text: str) -> str:
    """`**bold**`, `*em*`, `` `code` ``, links and images to plain text (one line)."""
    return squash(_inline_text(_parser().parseInline(text)[0].children or []).replace("\n", " "))


def _inline_text(children: list[Token]) -> str:
    """What a reader sees of an inline token stream; hard breaks stay line breaks."""
    out: list[str] = []
    autolink = False
    for token in children:
        kind = token.type
        if kind == "text":
            content = token.content
            if autolink:
                content = content.removeprefix("mailto:")
            out.append(content)
        elif kind == "code_inline":
            out.append(token.content.strip())
        elif kind == "softbreak":
            out.append(" ")
        elif kind == "hardbreak":
            out.append("\n")
        elif kind == "image":  # with the spaces before it: « texte ![x](a.png). » -> « texte. »
            if out:
                out[-1] = out[-1].rstrip(" \t")
        elif kind == "link_open":
            autolink = token.markup == "autolink"
        elif kind == "link_close":
            autolink = False
        # html_inline (tags) and emphasis/strike markers are dropped
    return "\n".join(squash(line) for line in "".join(out).split("\n"))


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
        return squash(str(value)) or None
    return None


def markdown_blocks(text: str) -> list[Block]:
    """What a reader sees of a Markdown text, as blocks."""
    from bot.ingest.loaders.html import html_blocks

    blocks: list[Block] = []
    items: list[str] = []  # open list items' markers, "" once their first paragraph used it
    depth = 0  # nesting of lists
    new_group = False  # the next item or row starts a list or table of its own
    cells: list[str] | None = None  # the table row being read
    heading_level = 0
    for token in _parser().parse(text):
        kind = token.type
        if kind in ("bullet_list_open", "ordered_list_open"):
            new_group = new_group or depth == 0
            depth += 1
        elif kind == "table_open":
            new_group = True
        elif kind in ("bullet_list_close", "ordered_list_close"):
            depth -= 1
        elif kind == "list_item_open":
            marker = f"{token.info}{token.markup}" if token.info else "-"
            items.append("  " * (depth - 1) + marker + " ")
        elif kind == "list_item_close":
            items.pop()
        elif kind == "heading_open":
            heading_level = int(token.tag[1])
        elif kind == "tr_open":
            cells = []
        elif kind == "tr_close" and cells is not None:
            blocks.append(Block(" | ".join(c for c in cells if c), "row", starts_group=new_group))
            cells, new_group = None, False
        elif kind == "inline":
            content = _inline_text(token.children or [])
            if cells is not None:
                cells.append(squash(content.replace("\n", " ")))
            elif heading_level:
                heading = squash(_HEADING_ID.sub("", content.replace("\n", " ")))
                blocks.append(Block(heading, "heading", heading_level))
                heading_level = 0
            elif items and items[-1]:  # an item's first paragraph carries its marker
                blocks.append(Block(items[-1] + content, "li", starts_group=new_group))
                items[-1] = ""
                new_group = False
            elif not items and all(_BULLET_LINE.match(line) for line in token.content.split("\n")):
                for n, line in enumerate(token.content.split("\n")):
                    item = "- " + strip_inline_markdown(_BULLET_LINE.sub("", line))
                    blocks.append(Block(item, "li", starts_group=n == 0))
            else:
                blocks.append(Block(content))
        elif kind in ("fence", "code_block"):
            code = "\n".join(line.rstrip() for line in token.content.split("\n"))
            blocks.append(Block(code.strip("\n"), "code"))
        elif kind == "html_block":
            blocks.extend(html_blocks(token.content))
    return blocks


def load_markdown(data: bytes, path: Path) -> Document:
    text = decode_text(data)
    if len(text) > MAX_MARKDOWN_CHARS:
        where, where_en = " dans la source Markdown", " in the Markdown source"
        raise DocumentError(text_too_long(len(text), where, where_en, MAX_MARKDOWN_CHARS))
    meta, body = _front_matter(text, path.name)
    blocks = markdown_blocks(body)
    text, sections = assemble(blocks)
    title = _meta_str(meta.get("title")) or first_heading(blocks)
    url = web_url(_meta_str(meta.get("url"))) or web_url(_meta_str(meta.get("source")))
    return Document(
        source=path.name,
        title=title or prettify_stem(path),
        text=text,
        sections=sections,
        url=url,
        date=_meta_str(meta.get("date")),
    )
