"""Checked model documents, remembered while they stay unchanged, so each is validated once.

A service keeps its model documents and passes the same one to every call; parsing it and
running the plugin's ``validate_config`` each time would be most of the layer's cost. A
document that passed is remembered with a deep snapshot of its contents: the next call
with the same object, still equal to its snapshot, under the same registry and plugin
instance, skips both. Any change to the document (nested blocks included), a registry
refresh, or a different dict with the same contents is checked again.
"""

from __future__ import annotations

import _thread
from collections.abc import Callable, Mapping
from typing import Any

from metasync_llm.model import ModelSettings, parse_model
from metasync_llm.registry import LoadedSDK, PluginRegistry

#: Documents remembered at most; the oldest is forgotten first.
LIMIT = 256

_SCALARS = (str, int, float, bool, type(None))


class _Entry:
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
        self._entries: dict[int, _Entry] = {}
        self._limit = limit
        self._lock = _thread.allocate_lock()

    def settings(self, model: Mapping[str, Any], registry: PluginRegistry) -> ModelSettings:
        """The document's common fields: remembered, else parsed (which raises if invalid)."""
        entry = self._entries.get(id(model))
        if entry is not None and entry.model is model and entry.snapshot == model:
            return entry.settings
        return parse_model(model)

    def loaded(
        self,
        model: Mapping[str, Any],
        settings: ModelSettings,
        registry: PluginRegistry,
        lookup: Callable[[PluginRegistry, ModelSettings], LoadedSDK],
        validate: Callable[[LoadedSDK, Mapping[str, Any], ModelSettings], None],
    ) -> LoadedSDK:
        """The plugin for ``settings.sdk``, its ``validate_config`` run unless remembered."""
        loaded = lookup(registry, settings)
        entry = self._entries.get(id(model))
        if (
            entry is not None
            and entry.model is model
            and entry.registry is registry
            and entry.loaded is loaded
            and entry.settings is settings
        ):
            return loaded
        validate(loaded, model, settings)
        self._remember(model, registry, settings, loaded)
        return loaded

    def _remember(
        self,
        model: Mapping[str, Any],
        registry: PluginRegistry,
        settings: ModelSettings,
        loaded: LoadedSDK,
    ) -> None:
        if type(model) is not dict:  # other mappings may change in ways a copy cannot see
            return
        snapshot = _snapshot(model)
        if snapshot is None:
            return
        with self._lock:
            self._entries.pop(id(model), None)  # re-inserted last: it is the newest
            self._entries[id(model)] = _Entry(model, snapshot, registry, settings, loaded)
            while len(self._entries) > self._limit:
                del self._entries[next(iter(self._entries))]

    def clear(self) -> None:
        """Forget every document."""
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


def _snapshot(value: Any) -> Any:
    """A deep copy of JSON-shaped data, or ``None`` if it holds anything else."""
    kind = type(value)
    if kind is dict:
        copied = {}
        for key, item in value.items():
            if type(key) is not str:
                return None
            inner = _snapshot(item)
            if inner is None and item is not None:
                return None
            copied[key] = inner
        return copied
    if kind is list:
        items = []
        for item in value:
            inner = _snapshot(item)
            if inner is None and item is not None:
                return None
            items.append(inner)
        return items
    if kind in _SCALARS:
        return value
    return None


#: The connector's cache of checked documents.
checked = CheckedDocuments()
