"""Deleting and renaming a collection (bot/collections.py), safe against a running ingest and
atomic on disk.

Both hold the collection's ingest lock (`store.IngestLock`, the one an ingest takes), so neither
happens in the middle of an ingest, and no ingest starts in the middle of them. On disk each is
one `rename` of the collection's index folder (and of its data folder, where uploads land):

- delete: the folder is renamed to `collections/.deleted-<name>-<hex>` (a name no collection can
  have), then removed. A crash leaves either the collection whole or that folder, which the
  next delete removes.
- rename: the folder is renamed to its new name; its generations, `CURRENT` and lock go with it.

The keys file (`ALLIANCE_KEYS_FILE`) follows: a deleted collection's name is taken out of every
key, first (were anything interrupted, a key would read less, never more); a renamed one's is
replaced, last. A running server notices both at its next request (bot/answer/library.py).
"""

from __future__ import annotations

import os
import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from bot.collections import FOLDER, Registry, check_name, data_dir
from bot.errors import UserError, unknown_collection
from bot.index.store import IngestLock, fsync_dir
from bot.keys import rename_in_keys

TRASH = ".deleted-"


@dataclass(frozen=True)
class Changed:
    """What a delete or rename did: the collection's name (the new one after a rename) and the
    keys file's keys it rewrote."""

    name: str
    keys: list[str] = field(default_factory=list)  # ids of the keys that named it


def default_refused(name: str) -> UserError:
    return UserError(
        "default_collection",
        f"La collection par défaut ({name}) ne se supprime ni ne se renomme : son nom vient de "
        "ALLIANCE_CORPUS_NAME, son index est ALLIANCE_INDEX_DIR.",
        f"The default collection ({name}) cannot be deleted or renamed: its name comes from "
        "ALLIANCE_CORPUS_NAME, its index is ALLIANCE_INDEX_DIR.",
        status=409,
    )


def already_exists(name: str) -> UserError:
    return UserError(
        "collection_exists",
        f"La collection {name} existe déjà : choisissez un autre nom.",
        f"Collection {name} already exists: choose another name.",
        status=409,
    )


def delete_collection(
    registry: Registry, name: str, data_root: Path, keys_file: Path | None, wait: float = 0.0
) -> Changed:
    """Delete collection `name`: its index, its data folder, its registry entry and its name in
    the keys file. Raises `IngestBusy` when an ingest holds it longer than `wait` seconds."""
    if name == registry.default:
        raise default_refused(name)
    if not registry.exists(check_name(name)):
        raise unknown_collection()
    folder = registry.index_dir(name)
    _remove_leftovers(folder.parent)
    token = uuid.uuid4().hex[:8]
    trash = folder.parent / f"{TRASH}{name}-{token}"
    data, data_trash = data_dir(data_root, name), data_root / FOLDER / f"{TRASH}{name}-{token}"
    with IngestLock(folder, wait):
        keys = rename_in_keys(keys_file, name, None)
        os.rename(folder, trash)  # from here on the collection has no index
        fsync_dir(folder.parent)
        registry.forget(name)
        if data.is_dir():
            os.rename(data, data_trash)
            fsync_dir(data.parent)
    shutil.rmtree(trash, ignore_errors=True)
    shutil.rmtree(data_trash, ignore_errors=True)
    return Changed(name, keys)


def rename_collection(
    registry: Registry, old: str, new: str, data_root: Path, keys_file: Path | None, wait: float = 0.0
) -> Changed:
    """Rename collection `old` to `new`, with its index (nothing embedded again), its data
    folder, its visibility and its name in the keys file."""
    check_name(new)
    if registry.default in (old, new):
        raise default_refused(registry.default)
    if not registry.exists(check_name(old)):
        raise unknown_collection()
    if registry.exists(new):
        raise already_exists(new)
    folder, target = registry.index_dir(old), registry.index_dir(new)
    with IngestLock(folder, wait):  # its lock file moves with the folder: an ingest of `new` waits too
        if target.exists():
            raise already_exists(new)
        os.rename(folder, target)
        fsync_dir(folder.parent)
        registry.move(old, new)  # its visibility follows (a crash before: `new` is private)
        data = data_dir(data_root, old)
        if data.is_dir():
            os.rename(data, data_dir(data_root, new))
            fsync_dir(data.parent)
        keys = rename_in_keys(keys_file, old, new)
    return Changed(new, keys)


def _remove_leftovers(folder: Path) -> None:
    """What an interrupted delete left behind."""
    if folder.is_dir():
        for leftover in folder.glob(TRASH + "*"):
            shutil.rmtree(leftover, ignore_errors=True)
