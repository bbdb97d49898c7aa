"""API keys of the collections (`ALLIANCE_KEYS_FILE`): one JSON file an operator may edit.

    {"keys": {"staff": {"sha256": "<hex of sha256(key)>", "read": ["interne"], "admin": ["interne"]}}}

Only a hash of each key is stored. A presented key is hashed and compared with every stored
hash in constant time, with no early exit (the time taken does not tell which key is close).
A key is never logged: what the server and CLI name is its id. The file is read again when it
changes, so an edit takes effect without a restart.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from bot.collections import write_json
from bot.errors import UserError

KEY_PREFIX = "ak-"


@dataclass(frozen=True)
class KeyRights:
    """What one key may do: the collections it reads, and those it administers (and reads)."""

    id: str
    read: frozenset[str] = field(default_factory=frozenset)
    admin: frozenset[str] = field(default_factory=frozenset)

    def reads(self, name: str) -> bool:
        return name in self.read or name in self.admin


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


class KeysFile:
    def __init__(self, path: Path | None):
        self.path = path
        # (mtime, size) and the keys read then, swapped as one: request threads share it
        self._cache: tuple[tuple[int, int] | None, list[tuple[bytes, KeyRights]]] = (None, [])

    def _load(self) -> list[tuple[bytes, KeyRights]]:
        if self.path is None:
            return []
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            return []
        seen, keys = self._cache
        if seen != (stat.st_mtime_ns, stat.st_size):
            keys = _parse(read_keys(self.path))
            self._cache = ((stat.st_mtime_ns, stat.st_size), keys)
        return keys

    def rights(self, key: str) -> KeyRights | None:
        """The rights of the key sent, or None when it is no key of the file."""
        sent = key_hash(key).encode()
        found = None
        for digest, rights in self._load():  # every entry compared: no early exit
            if hmac.compare_digest(sent, digest):
                found = rights
        return found

    @property
    def configured(self) -> bool:
        return bool(self._load())


def read_keys(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise UserError(
            "keys_file_unreadable",
            f"Fichier de clés illisible ({type(e).__name__}) : vérifiez ALLIANCE_KEYS_FILE.",
            f"Keys file unreadable ({type(e).__name__}): check ALLIANCE_KEYS_FILE.",
            status=500,
        ) from None
    return data if isinstance(data, dict) else {}


def _parse(data: dict) -> list[tuple[bytes, KeyRights]]:
    out = []
    for key_id, entry in (data.get("keys") or {}).items():
        digest = str(entry.get("sha256", "")).lower()
        if len(digest) != 64:
            continue  # not a hash: such an entry opens nothing
        rights = KeyRights(key_id, frozenset(entry.get("read", ())), frozenset(entry.get("admin", ())))
        out.append((digest.encode(), rights))
    return out


def add_key(path: Path, key_id: str, read: list[str], admin: list[str]) -> str:
    """A new random key for `key_id` (replacing any key of that id); returns it, the one time it
    is ever shown: only its hash is written."""
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    data = read_keys(path) if path.is_file() else {}
    keys = data.setdefault("keys", {})
    keys[key_id] = {"sha256": key_hash(key), "read": sorted(set(read)), "admin": sorted(set(admin))}
    write_json(path, data)
    return key


def rename_in_keys(path: Path | None, old: str, new: str | None) -> list[str]:
    """Every key that names collection `old` names `new` instead (None: no longer any); the
    ids of the keys changed. The file is rewritten only when one changed."""
    if path is None or not path.is_file():
        return []
    data = read_keys(path)
    changed = []
    for key_id, entry in (data.get("keys") or {}).items():
        for field_name in ("read", "admin"):
            names = list(entry.get(field_name) or ())
            if old in names:
                kept = [n for n in names if n != old] + ([new] if new else [])
                entry[field_name] = sorted(set(kept))
                if key_id not in changed:
                    changed.append(key_id)
    if changed:
        write_json(path, data)
    return changed


def keys_naming(path: Path | None, name: str) -> list[str]:
    """The ids of the keys that read or administer collection `name`."""
    if path is None or not path.is_file():
        return []
    keys = read_keys(path).get("keys") or {}
    return [k for k, e in keys.items() if name in (e.get("read") or ()) or name in (e.get("admin") or ())]
