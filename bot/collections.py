"""Named collections: where each one's index lives, and who may read it.

The default collection is today's index directory itself (`embeddings/`): an existing index
is taken over as it is, nothing moved or embedded again. Every other collection is an index
directory of its own, `<index dir>/collections/<name>/`, with its own generations, `CURRENT`
and ingest lock (bot/index/store.py), so two ingests into two collections run at once.

`<index dir>/collections.json` holds each collection's visibility; written atomically. A
collection that is not in it is private, except the default one, public unless the registry
says otherwise.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from bot.errors import UserError, unknown_collection

DEFAULT_NAME = "alliance"
REGISTRY = "collections.json"
FOLDER = "collections"
Visibility = Literal["public", "private"]
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")


def default_name(corpus_name: str | None) -> str:
    """The default collection's name: ALLIANCE_CORPUS_NAME when it is a valid name, else `alliance`."""
    return corpus_name if corpus_name and _NAME.match(corpus_name) else DEFAULT_NAME


def valid_name(name: str) -> bool:
    return bool(_NAME.match(name))


def check_name(name: str) -> str:
    """A name is also a folder and part of a URL: lower-case letters, digits, `-`, `_`."""
    if not valid_name(name):
        raise UserError(
            "invalid_collection",
            f"Nom de collection invalide : {name[:60]!r} (lettres minuscules, chiffres, - et _, "
            "40 caractères au plus).",
            f"Invalid collection name: {name[:60]!r} (lower-case letters, digits, - and _, "
            "at most 40 characters).",
            status=422,
        )
    return name


def index_dir(root: Path, name: str, default: str) -> Path:
    """Where a collection's generations live; the default collection is `root` itself."""
    return root if name == default else root / FOLDER / check_name(name)


def data_dir(data_root: Path, name: str) -> Path:
    """A collection's own data folder (its uploads and default documents folder)."""
    return data_root / FOLDER / name


@dataclass(frozen=True)
class Entry:
    name: str
    visibility: Visibility
    default: bool


class Registry:
    """The collections of one index root and their visibility, read again when the file changes
    (the CLI may make a collection public while the server runs)."""

    def __init__(self, root: Path, default: str):
        self.root, self.default = root, default
        self.path = root / REGISTRY
        # (mtime, size) and what was read then, swapped as one: request threads share it
        self._cache: tuple[tuple[int, int] | None, dict[str, dict]] = (None, {})

    def _read(self) -> dict[str, dict]:
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            return {}
        seen, data = self._cache
        if seen != (stat.st_mtime_ns, stat.st_size):
            data = json.loads(self.path.read_text(encoding="utf-8")).get("collections", {})
            self._cache = ((stat.st_mtime_ns, stat.st_size), data)
        return data

    def names(self) -> list[str]:
        """The default collection first, then every created one, by name."""
        others = {n for n in self._read() if n != self.default and _NAME.match(n)}
        folder = self.root / FOLDER
        if folder.is_dir():
            others |= {p.name for p in folder.iterdir() if p.is_dir() and _NAME.match(p.name)}
        others.discard(self.default)
        return [self.default, *sorted(others)]

    def exists(self, name: str) -> bool:
        return name in self.names()

    def entry(self, name: str) -> Entry:
        stored = self._read().get(name, {})
        fallback = "public" if name == self.default else "private"
        visibility = stored.get("visibility", fallback)
        if visibility not in ("public", "private"):
            visibility = "private"  # a hand-edited typo must not open a collection
        return Entry(name, visibility, name == self.default)

    def entries(self) -> list[Entry]:
        return [self.entry(n) for n in self.names()]

    def index_dir(self, name: str) -> Path:
        return index_dir(self.root, name, self.default)

    def create(self, name: str, visibility: Visibility = "private") -> Path:
        """A new, empty collection (private unless asked otherwise); an existing one is kept."""
        check_name(name)
        folder = self.index_dir(name)
        folder.mkdir(parents=True, exist_ok=True)
        if name not in self._read():
            self._write(name, visibility)
        return folder

    def set_visibility(self, name: str, visibility: Visibility) -> None:
        if not self.exists(name):
            raise unknown_collection()
        self._write(name, visibility)

    def _write(self, name: str, visibility: Visibility) -> None:
        data = {n: dict(v) for n, v in self._read().items()}
        data.setdefault(name, {})["visibility"] = visibility
        self._store(data)

    def forget(self, name: str) -> None:
        """The registry's entry of a deleted collection removed (its folder is gone already)."""
        data = {n: dict(v) for n, v in self._read().items() if n != name}
        self._store(data)

    def move(self, old: str, new: str) -> None:
        """A renamed collection's entry (its visibility) under its new name."""
        data = {n: dict(v) for n, v in self._read().items() if n not in (old, new)}
        data[new] = dict(self._read().get(old, {"visibility": "private"}))
        self._store(data)

    def _store(self, data: dict[str, dict]) -> None:
        write_json(self.path, {"collections": data})
        self._cache = (None, {})


def write_json(path: Path, data: dict) -> None:
    """Temp file, fsync, rename, fsync the folder: a crash leaves the old file or the new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, ensure_ascii=False, indent=2)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)
