"""The shape of stored text: which lines are list items and which are table rows.

The loaders store a list item as one line that starts with its marker (`- `, `1. `, two
spaces of indent a level) and a table row as its cells joined by ` | `, one line a row
(`bot.ingest.loaders`). `shape` finds those lines again so that a page or a terminal can show a
quote as a list or a table. Every character of the text belongs to exactly one `Run`, in
order: a page that writes every run (hidden ones too: bullet markers, cell separators, the
newlines between blocks) holds the text character for character, so a highlighted span is
exactly `text[start:end]`. The widget has the same rules in JavaScript (`shape` in widget.js).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

LIST_ITEM = re.compile(r"( *)([-*+•]|\d{1,9}[.)])[ \t]+")
CELL_SEP = " | "


@dataclass(frozen=True)
class Run:
    start: int
    end: int
    hidden: bool = False  # structure the element already shows (a bullet, a cell border, a break)


@dataclass
class Item:
    depth: int
    ordered: bool
    runs: list[Run]  # marker, body, then the newline before the next item (hidden)


@dataclass
class Block:
    kind: str  # "text" (lines kept as they are), "list", "table" or "gap" (newlines between blocks)
    runs: list[Run] = field(default_factory=list)  # text, gap
    items: list[Item] = field(default_factory=list)  # list
    rows: list[list[list[Run]]] = field(default_factory=list)  # table: rows of cells of runs


def _line_kinds(lines: list[tuple[int, int, str]]) -> list[str]:
    kinds = []
    for _, _, line in lines:
        if not line.strip():
            kinds.append("blank")
        elif LIST_ITEM.match(line):
            kinds.append("item")
        elif CELL_SEP in line:
            kinds.append("row")
        else:
            kinds.append("text")
    # One line with " | " is a sentence; a table is two rows or more.
    return [
        "text" if k == "row" and "row" not in kinds[max(i - 1, 0) : i] + kinds[i + 1 : i + 2] else k
        for i, k in enumerate(kinds)
    ]


def shape(text: str) -> list[Block]:
    lines, pos = [], 0
    for line in text.split("\n"):
        lines.append((pos, pos + len(line), line))
        pos += len(line) + 1
    kinds = _line_kinds(lines)
    blocks: list[Block] = []
    done = 0  # text[:done] is in blocks
    i = 0
    while i < len(lines):
        kind = kinds[i]
        j = i
        while j + 1 < len(lines) and kinds[j + 1] == kind:
            j += 1
        if kind != "blank":
            start, end = lines[i][0], lines[j][1]
            if start > done:
                blocks.append(Block("gap", [Run(done, start, True)]))
            group = lines[i : j + 1]
            if kind == "text":
                blocks.append(Block("text", [Run(start, end)]))
            elif kind == "item":
                blocks.append(Block("list", items=[_item(text, s, e, e < end) for s, e, _ in group]))
            else:
                blocks.append(Block("table", rows=[_row(text, s, e, e < end) for s, e, _ in group]))
            done = end
        i = j + 1
    if done < len(text):
        blocks.append(Block("gap", [Run(done, len(text), True)]))
    return blocks


def _item(text: str, start: int, end: int, more: bool) -> Item:
    m = LIST_ITEM.match(text, start, end)
    ordered = m.group(2)[0].isdigit()
    runs = [Run(start, m.end(), hidden=not ordered), Run(m.end(), end)]
    if more:
        runs.append(Run(end, end + 1, True))
    return Item(len(m.group(1)) // 2, ordered, runs)


def _row(text: str, start: int, end: int, more: bool) -> list[list[Run]]:
    cells, pos = [], start
    while (sep := text.find(CELL_SEP, pos, end)) != -1:
        cells.append([Run(pos, sep), Run(sep, sep + len(CELL_SEP), True)])
        pos = sep + len(CELL_SEP)
    cells.append([Run(pos, end)] + ([Run(end, end + 1, True)] if more else []))
    return cells


def plain_lines(text: str) -> list[tuple[str, str]]:
    """The text as (indent, line) pairs for a terminal: one list item or table row a line,
    a paragraph's lines as they are; the indent is the one its wrapped lines continue at."""
    out: list[tuple[str, str]] = []
    for line in text.split("\n"):
        if not line.strip():
            continue
        m = LIST_ITEM.match(line)
        out.append((" " * m.end(), line) if m else ("", line))
    return out
