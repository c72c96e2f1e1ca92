"""Checked model documents, remembered while they stay unchanged, so each is validated once.

A service keeps its model documents and passes the same one to every call; parsing it and
running the plugin's ``validate_config`` each time would be most of the layer's cost. A
document that passed is remembered with a deep snapshot of its contents: the next call
with the same object, still equal to its snapshot, under the same registry and plugin
instance, skips both. Any change to the document (nested blocks included), a registry
refresh, or a different dict with the same contents is checked again. The connector does
the checking; this module only remembers.
"""

from __future__ import annotations

import _thread
from collections.abc import Mapping
from typing import Any

from metasync_llm.model import ModelSettings
from metasync_llm.registry import LoadedSDK, PluginRegistry

#: Documents remembered at most; the oldest is forgotten first.
LIMIT = 256

_SCALARS = (str, int, float, bool, type(None))


class CheckedDocument:
    """A document that passed, as it was then, with what checking it found."""

    __slots__ = ("loaded", "model", "registry", "settings", "snapshot")

    def __init__(
        self,
        model: dict[str, Any],
        snapshot: dict[str, Any],
        registry: PluginRegistry,
        settings: ModelSettings,
        loaded: LoadedSDK,
    ) -> None:
        self.model = model  # held, so its id() cannot be reused by another dict meanwhile
        self.snapshot = snapshot
        self.registry = registry
        self.settings = settings
        self.loaded = loaded


class CheckedDocuments:
    """Model documents that passed validation, by object identity."""

    def __init__(self, limit: int = LIMIT) -> None:
        self._entries: dict[int, CheckedDocument] = {}
        self._limit = limit
        self._lock = _thread.allocate_lock()

    def get(self, model: Mapping[str, Any], registry: PluginRegistry) -> CheckedDocument | None:
        """What was checked of ``model`` under ``registry``, if it has not changed since."""
        entry = self._entries.get(id(model))
        # The entry holds the document, so no other object can have its id() meanwhile.
        if entry is not None and entry.registry is registry and entry.snapshot == model:
            return entry
        return None

    def remember(
        self,
        model: Mapping[str, Any],
        registry: PluginRegistry,
        settings: ModelSettings,
        loaded: LoadedSDK,
    ) -> None:
        """Remember that ``model`` passed, unless it is not a dict of JSON values."""
        if type(model) is not dict:  # other mappings may change in ways a copy cannot see
            return
        snapshot = _snapshot(model)
        if snapshot is _UNSUPPORTED:
            return
        with self._lock:
            self._entries.pop(id(model), None)  # re-inserted last: it is the newest
            self._entries[id(model)] = CheckedDocument(model, snapshot, registry, settings, loaded)
            while len(self._entries) > self._limit:
                del self._entries[next(iter(self._entries))]

    def clear(self) -> None:
        """Forget every document."""
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


_UNSUPPORTED = object()


def _snapshot(value: Any) -> Any:
    """A deep copy of JSON-shaped data, or ``_UNSUPPORTED`` if it holds anything else."""
    kind = type(value)
    if kind is dict:
        copied = {}
        for key, item in value.items():
            inner = _snapshot(item)
            if type(key) is not str or inner is _UNSUPPORTED:
                return _UNSUPPORTED
            copied[key] = inner
        return copied
    if kind is list:
        items = [_snapshot(item) for item in value]
        return _UNSUPPORTED if any(item is _UNSUPPORTED for item in items) else items
    return value if kind in _SCALARS else _UNSUPPORTED


#: The connector's cache of checked documents.
checked = CheckedDocuments()
