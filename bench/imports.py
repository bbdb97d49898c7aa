"""The import graph of `bot/`: modules, the longest chain of imports, and every import
that points the wrong way (a core module importing the entry points `bot.api` or `bot.cli`).

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


def wrong_way(edges: dict[str, set[str]]) -> list[tuple[str, str]]:
    return sorted((a, b) for a, targets in edges.items() for b in targets if is_entry(b) and not is_entry(a))


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
        f"| modules | imports | longest chain | core -> api/cli |\n|---|---|---|---|\n"
        f"| {report['modules']} | {report['imports']} | {len(report['longest_chain'])} | "
        f"{len(report['core_imports_of_entry_points'])} |"
    )
    print("\nlongest chain: " + " -> ".join(report["longest_chain"]))
    for line in report["core_imports_of_entry_points"]:
        print("wrong way:", line)


if __name__ == "__main__":
    main()
