"""The import graph of `bot/`: modules, the longest chain of imports, and every import
that points the wrong way: a core module importing the entry points (`bot.api`, `bot.cli`),
or any package importing one of a later stage or a sibling of its own stage.

    python bench/imports.py            # a table
    python bench/imports.py --json
"""

from __future__ import annotations

import argparse
import ast
import json
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ENTRY_POINTS = ("bot.api", "bot.cli", "bot.__main__", "bot.mcp_server")
# The stages, first to last (docs/architecture.md): a package imports only earlier stages.
# Within the first (leaves) and the last (entry points) packages may import one another;
# elsewhere siblings are independent (serving, `answer`, never imports writing, `ingest`).
STAGES = (
    (
        "bot",
        "bot.config",
        "bot.errors",
        "bot.documents",
        "bot.schema",
        "bot.text",
        "bot.terminal",
        "bot.html",
        "bot.shape",
    ),
    ("bot.embedding",),
    ("bot.index",),
    ("bot.answer", "bot.ingest"),
    ("bot.crawl", "bot.operator"),
    ("bot.training",),
    ENTRY_POINTS,
)


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def graph() -> dict[str, set[str]]:
    """Module -> the `bot` modules it imports (at any depth in the file, lazy imports included)."""
    files = {module_name(p): p for p in (ROOT / "bot").rglob("*.py")}
    edges: dict[str, set[str]] = {}
    for name, path in files.items():
        found = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            for target in targets:
                if target in files and target != name:
                    found.add(target)
        edges[name] = found
    return edges


def is_entry(module: str) -> bool:
    return any(module == e or module.startswith(e + ".") for e in ENTRY_POINTS)


def package(module: str) -> str:
    """The stage package a module belongs to (`bot.index.store` -> `bot.index`)."""
    return max((p for stage in STAGES for p in stage if module == p or module.startswith(p + ".")), key=len)


def stage(module: str) -> int:
    return next(i for i, names in enumerate(STAGES) if package(module) in names)


def points_back(a: str, b: str) -> bool:
    if package(a) == package(b):
        return False
    later, same = stage(b) > stage(a), stage(b) == stage(a)
    return later or (same and stage(a) not in (0, len(STAGES) - 1))


def wrong_way(edges: dict[str, set[str]]) -> list[tuple[str, str]]:
    return sorted((a, b) for a, targets in edges.items() for b in targets if points_back(a, b))


def longest_chain(edges: dict[str, set[str]]) -> list[str]:
    @cache
    def longest(node: str, seen: frozenset[str]) -> tuple[str, ...]:
        best: tuple[str, ...] = ()
        for nxt in sorted(edges.get(node, ())):
            if nxt not in seen:
                chain = longest(nxt, seen | {nxt})
                if len(chain) > len(best):
                    best = chain
        return (node, *best)

    return max((list(longest(m, frozenset({m}))) for m in sorted(edges)), key=len)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    edges = graph()
    report = {
        "modules": len(edges),
        "imports": sum(len(t) for t in edges.values()),
        "longest_chain": longest_chain(edges),
        "core_imports_of_entry_points": [f"{a} -> {b}" for a, b in wrong_way(edges)],
    }
    if args.json:
        print(json.dumps(report, indent=1))
        return
    print(
        f"| modules | imports | longest chain | wrong way |\n|---|---|---|---|\n"
        f"| {report['modules']} | {report['imports']} | {len(report['longest_chain'])} | "
        f"{len(report['core_imports_of_entry_points'])} |"
    )
    print("\nlongest chain: " + " -> ".join(report["longest_chain"]))
    for line in report["core_imports_of_entry_points"]:
        print("wrong way:", line)


if __name__ == "__main__":
    main()
