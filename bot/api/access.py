"""Who the caller is and which collection a request reads: resolved once, at the edge.

A caller is anonymous, holds a key of `ALLIANCE_KEYS_FILE` (bot/keys.py: the collections it
reads and administers) or the admin token (`ALLIANCE_ADMIN_TOKEN`: every collection). A
collection the caller may not read is answered exactly as one that does not exist (404
`unknown_collection`), so that its name does not leak."""

from __future__ import annotations

from dataclasses import dataclass

from bot.answer.assistant import Assistant
from bot.answer.library import Library
from bot.answer.snapshot import Snapshot
from bot.api.auth import bearer_matches
from bot.collections import Entry
from bot.errors import unknown_collection
from bot.keys import KeyRights, KeysFile


@dataclass(frozen=True)
class Caller:
    key: KeyRights | None = None  # the keys file's entry of the key sent
    operator: bool = False  # the admin token: reads and administers every collection

    def reads(self, entry: Entry) -> bool:
        if entry.visibility == "public" or self.operator:
            return True
        return self.key is not None and self.key.reads(entry.name)

    def administers(self, name: str) -> bool:
        return self.operator or (self.key is not None and name in self.key.admin)


def identify(authorization: str, keys: KeysFile, admin_token: str | None) -> Caller:
    """The caller's rights from `Authorization: Bearer <key>`; an unknown key reads what anybody reads."""
    scheme, _, given = authorization.partition(" ")
    if scheme.lower() != "bearer" or not given.strip():
        return Caller()
    if admin_token and bearer_matches(authorization, admin_token):
        return Caller(operator=True)
    return Caller(key=keys.rights(given.strip()))


@dataclass(frozen=True)
class Served:
    """One request's collection: its name, its assistant and the snapshot taken for this request."""

    name: str
    assistant: Assistant
    snapshot: Snapshot
    caller: Caller


def readable(library: Library, caller: Caller) -> list[Entry]:
    return [e for e in library.registry.entries() if caller.reads(e)]


def resolve(library: Library, caller: Caller, name: str | None) -> Served:
    """The collection `name` (None: the default one) as this caller may read it, or 404.
    Blocking (the first request of a collection loads its index): call it off the event loop."""
    name = name or library.default_name
    registry = library.registry
    if not registry.exists(name):
        library.drop(name)  # deleted since it was loaded: its index is not kept in memory
        raise unknown_collection()
    if not caller.reads(registry.entry(name)):
        raise unknown_collection()
    assistant = library.assistant(name)
    return Served(name, assistant, assistant.snapshot, caller)
