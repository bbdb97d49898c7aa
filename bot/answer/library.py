"""The assistants of every collection (bot/collections.py), loaded when first asked for.

The default collection's assistant is the one the server starts with; every other shares its
model, reader, query batcher and LLM writer (`Assistant(shared=...)`), so a further collection
costs its own index in memory and nothing more. Each collection is searched and read alone:
its own snapshot, its own BM25 statistics, its own reader threshold.
"""

from __future__ import annotations

import threading
from dataclasses import replace

from bot.answer.assistant import Assistant
from bot.collections import Registry, unknown_collection


class Library:
    def __init__(self, default: Assistant, registry: Registry):
        self.default = default
        self.registry = registry
        self._assistants: dict[str, Assistant] = {registry.default: default}
        self._lock = threading.Lock()

    @property
    def default_name(self) -> str:
        return self.registry.default

    def loaded(self) -> dict[str, Assistant]:
        return dict(self._assistants)

    def assistant(self, name: str) -> Assistant:
        """The collection's assistant on its newest published generation. Blocking (it may load
        an index): call it off the event loop. An unknown name is `unknown_collection`."""
        found = self._assistants.get(name)
        if found is None:
            if not self.registry.exists(name):
                raise unknown_collection()
            with self._lock:
                found = self._assistants.get(name)
                if found is None:
                    config = self.default.config
                    index = replace(config.index, index_dir=self.registry.index_dir(name), collection=name)
                    found = Assistant(replace(config, index=index), shared=self.default)
                    self._assistants[name] = found
        found.refresh_if_changed()
        return found
