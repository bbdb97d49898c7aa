"""Whether the indexed folders changed since `ask` last brought the index up to date.

`ensure_index` reads every document again to find out (the loaders import markdown-it,
pypdf, lxml...: half a second before the first question here). The folders' file names,
sizes and modification times, with the index settings and the published generation,
make a signature; when it equals the one recorded after the last sync, nothing needs
reading. Any difference (a file touched, added or removed, another generation, other
settings) takes the full path, which records the new signature. This module imports no
loader, so that the check itself costs milliseconds.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

from bot.config import IndexConfig
from bot.index.stores import open_store

RECORD = "sources-checked.json"
# A file changed this recently may still be being written: never recorded as settled.
SETTLE_SECONDS = 2.0


def signature(config: IndexConfig) -> tuple[str, float] | None:
    """(signature, newest modification time) of what the index was built from; None when
    there is no index or its roots are gone (then `ensure_index` decides)."""
    target = open_store(config)
    generation = target.current()
    if generation is None:
        return None
    roots = target.read_manifest(generation).roots
    digest = hashlib.sha256(f"{generation}\n{config!r}\n".encode())
    newest = 0.0
    for root in roots:
        path = Path(root)
        if not path.exists():
            return None
        for entry in _files(path):
            stat = entry.stat(follow_symlinks=True) if entry.is_file() else entry.stat(follow_symlinks=False)
            newest = max(newest, stat.st_mtime)
            digest.update(f"{entry.path}\0{stat.st_size}\0{stat.st_mtime_ns}\0{stat.st_ino}\n".encode())
    return digest.hexdigest(), newest


def _files(root: Path):
    """Every entry under `root` (links not followed into), in a stable order."""
    if root.is_file():
        yield from (e for e in os.scandir(root.parent) if e.name == root.name)
        return
    stack = [str(root)]
    while stack:
        with os.scandir(stack.pop()) as entries:
            for entry in sorted(entries, key=lambda e: e.name):
                yield entry
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)


def unchanged(config: IndexConfig) -> bool:
    """True when the recorded signature still holds: the index is up to date."""
    try:
        recorded = json.loads((config.index_dir / RECORD).read_text(encoding="utf-8"))
        current = signature(config)
    except (OSError, ValueError):
        return False
    return current is not None and recorded.get("signature") == current[0]


def record(config: IndexConfig) -> None:
    """Remember the signature after a sync (skipped while a file is fresh, or read-only)."""
    try:
        current = signature(config)
        if current is None or time.time() - current[1] < SETTLE_SECONDS:
            return
        target = config.index_dir / RECORD
        temporary = target.with_name(f".{RECORD}.{os.getpid()}")
        temporary.write_text(json.dumps({"signature": current[0]}), encoding="utf-8")
        os.replace(temporary, target)
    except OSError:
        pass  # a read-only index: every `ask` reads the documents, as before
