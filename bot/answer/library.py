"""The assistants of every collection (bot/collections.py), loaded when first asked for.

The default collection's assistant is the one the server starts with; every other shares its
model, reader, query batcher and LLM writer (`Assistant(shared=...)`), so a further collection
costs its own index in memory and nothing more. Each collection is searched and read alone:
its own snapshot, its own BM25 statistics, its own reader threshold.

A collection deleted or renamed (bot/index/collections.py, maybe by another process) is
noticed at its next lookup: its folder is gone or is another one, so what was loaded from it
is dropped, never served under its old name nor under a name given again.
"""

from __future__ import annotations

import os
import threading
from dataclasses import replace
from pathlib import Path

from bot.answer.assistant import Assistant
from bot.collections import Registry, unknown_collection


class Library:
    def __init__(self, default: Assistant, registry: Registry):
        self.default = default
        self.registry = registry
        # name -> (its assistant, the identity of the folder it was loaded from)
        self._assistants: dict[str, tuple[Assistant, tuple[int, int] | None]] = {
            registry.default: (default, None)
        }
        self._lock = threading.Lock()

    @property
    def default_name(self) -> str:
        return self.registry.default

    def loaded(self) -> dict[str, Assistant]:
        return {name: assistant for name, (assistant, _) in self._assistants.items()}

    def assistant(self, name: str) -> Assistant:
        """The collection's assistant on its newest published generation. Blocking (it may load
        an index): call it off the event loop. An unknown name is `unknown_collection`."""
        if name == self.registry.default:
            found = self.default
        else:
            found = self._other(name)
        found.refresh_if_changed()
        return found

    def _other(self, name: str) -> Assistant:
        folder = self.registry.index_dir(name)
        identity = _identity(folder)
        cached = self._assistants.get(name)
        if cached is not None and cached[1] == identity:  # None == None: a database store, no folder
            return cached[0]
        with self._lock:
            cached = self._assistants.pop(name, None)  # deleted or renamed since: dropped
            if cached is not None and cached[1] == identity:
                self._assistants[name] = cached
                return cached[0]
            if not self.registry.exists(name):
                raise unknown_collection()
            self._prune()  # a collection loaded here and renamed since: its memory is given back
            config = self.default.config
            index = replace(config.index, index_dir=folder, collection=name)
            found = Assistant(replace(config, index=index, collection=name), shared=self.default)
            self._assistants[name] = (found, identity)
            return found

    def drop(self, name: str) -> None:
        """Forget what was loaded for `name` (a collection deleted or renamed)."""
        if name != self.registry.default:
            with self._lock:
                self._assistants.pop(name, None)

    def _prune(self) -> None:
        """Under the lock: drop every collection whose folder is gone or another since it loaded."""
        for name, (_, identity) in list(self._assistants.items()):
            if name != self.registry.default and _identity(self.registry.index_dir(name)) != identity:
                del self._assistants[name]


def _identity(folder: Path) -> tuple[int, int] | None:
    """Which folder this is (device, inode): a folder renamed away and another put in its place differ."""
    try:
        st = os.stat(folder)
    except OSError:
        return None
    return st.st_dev, st.st_ino
