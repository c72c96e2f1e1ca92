"""Caches of provider clients, so connections are pooled across calls, threads and tasks."""

from __future__ import annotations

import asyncio
import hashlib
import threading
import weakref
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


class AsyncClientCache(Generic[T]):
    """Async clients, one per key *and event loop*: an async client's connections belong
    to the loop that opened them, so a loop never reuses another loop's client.

    :meth:`get` creates a missing client in a worker thread, so the import of the client
    library and the client's construction never block the event loop.
    """

    def __init__(self) -> None:
        self._by_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[Hashable, T]]
        self._by_loop = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()

    async def get(self, key: Hashable, create: Callable[[], T]) -> T:
        """The running loop's client for ``key``, created with ``create()`` the first time."""
        loop = asyncio.get_running_loop()
        clients = self._by_loop.get(loop)
        if clients is None:
            with self._lock:
                clients = self._by_loop.setdefault(loop, {})
        client = clients.get(key)
        if client is None:
            made = await asyncio.to_thread(create)
            client = clients.setdefault(key, made)
        return client

    def count(self) -> int:
        """How many clients are cached, over all live loops."""
        return sum(len(c) for c in list(self._by_loop.values()))
