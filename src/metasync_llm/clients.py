"""A thread-safe cache of provider clients, so connections are pooled across calls and threads."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

T = TypeVar("T")


def key_fingerprint(api_key: str | None) -> str | None:
    """A digest standing in for an API key in cache keys, so the key itself is not a dict key."""
    if api_key is None:
        return None
    return hashlib.sha256(api_key.encode("utf-8")).hexdigest()


class ClientCache(Generic[T]):
    """Creates one client per key (e.g. endpoint, key fingerprint, API version) and reuses it.

    Lookups of an existing client take no lock; creation is serialized so two threads
    never build two clients for the same key.
    """

    def __init__(self) -> None:
        self._clients: dict[Hashable, T] = {}
        self._lock = threading.Lock()

    def get(self, key: Hashable, create: Callable[[], T]) -> T:
        """The client for ``key``, created with ``create()`` the first time."""
        client = self._clients.get(key)
        if client is None:
            with self._lock:
                client = self._clients.get(key)
                if client is None:
                    client = self._clients[key] = create()
        return client

    def __len__(self) -> int:
        return len(self._clients)

    def clear(self) -> None:
        """Forget every client (they close when garbage-collected)."""
        with self._lock:
            self._clients.clear()
