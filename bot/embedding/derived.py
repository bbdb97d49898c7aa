"""Files derived from the model cache to load faster, written once beside their source.

Each lives in a folder with a `stamp.json` naming its source by size and by a hash of its
first and last MiB (not its time: a cache copied into an image keeps its bytes, not always
its times), so a re-exported or rebuilt source makes it stale. Written in a temporary
folder renamed into place; a cache that cannot be written (read-only, full) just keeps
the slower load.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

STAMP = "stamp.json"
EDGE = 1 << 20


def stamp(source: Path, **extra) -> dict:
    size = source.stat().st_size
    digest = hashlib.sha256()
    with source.open("rb") as f:
        digest.update(f.read(EDGE))
        if size > EDGE:
            f.seek(max(EDGE, size - EDGE))
            digest.update(f.read(EDGE))
    return {"size": size, "edges_sha256": digest.hexdigest(), **extra}


def current(folder: Path, source: Path, **extra) -> dict | None:
    """The folder's stamp if the folder was derived from `source` as it is now."""
    try:
        recorded = json.loads((folder / STAMP).read_text(encoding="utf-8"))
        expected = stamp(source, **extra)
    except (OSError, ValueError):
        return None
    return recorded if all(recorded.get(k) == v for k, v in expected.items()) else None


def write(folder: Path, source: Path, fill: Callable[[Path], dict], **extra) -> None:
    """Run `fill(work_folder)` (it returns what to add to the stamp) and install the folder."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        record = stamp(source, **extra) | fill(work)
        (work / STAMP).write_text(json.dumps(record), encoding="utf-8")
        for file in work.iterdir():
            file.chmod(0o644)
        work.chmod(0o755)  # mkdtemp makes it private; the cache may be shared (Docker)
        if folder.exists():
            shutil.rmtree(folder, ignore_errors=True)
        os.replace(work, folder)
    finally:
        shutil.rmtree(work, ignore_errors=True)
