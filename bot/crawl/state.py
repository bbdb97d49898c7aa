"""What a crawl remembers of each URL between two runs (`<index>/crawl.json`): its
validators (ETag, Last-Modified) for conditional requests, the content hash of the
document it gave, and its links (a 304 has no body to read them from).

A validator is only sent when the index still holds the document with that content
hash, so a state file out of step with the index (a crash between the two writes, an
`ingest --rebuild`) costs a full download, never a wrong "unchanged".
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

STATE_FILE = "crawl.json"
FORMAT = 1


@dataclass
class UrlState:
    source: str | None = None  # the document this URL gave (None: a sitemap, a noindex page)
    content_hash: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    links: list[str] = field(default_factory=list)


def load_state(index_dir: Path) -> dict[str, UrlState]:
    try:
        data = json.loads((index_dir / STATE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}  # none yet, or unreadable: every URL is fetched in full
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        return {}
    out = {}
    for url, entry in (data.get("urls") or {}).items():
        try:
            out[url] = UrlState(**entry)
        except TypeError:
            continue
    return out


def save_state(index_dir: Path, state: dict[str, UrlState]) -> None:
    """Written atomically: a temporary file, fsynced, renamed over the old one."""
    index_dir.mkdir(parents=True, exist_ok=True)
    path = index_dir / STATE_FILE
    tmp = index_dir / f".{STATE_FILE}.{os.getpid()}.tmp"
    payload = {"format": FORMAT, "urls": {u: asdict(s) for u, s in sorted(state.items())}}
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(payload, fh, ensure_ascii=False)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
