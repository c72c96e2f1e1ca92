"""Caches of provider clients, so connections are pooled across calls, threads and tasks."""

from __future__ import annotations

import _thread  # threading's lock, without importing threading at discovery
import inspect
import time
from collections.abc import AsyncGenerator, Callable, Hashable, Mapping
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from metasync_llm._pipeline._attempt import add_setup
from metasync_llm._plugin_fields import connect_timeout_of, endpoint_of, timeout_of

if TYPE_CHECKING:
    import asyncio


T = TypeVar("T")

#: The event loop of the async client being created (set in the worker thread's context).
_creating_for: ContextVar[asyncio.AbstractEventLoop | None] = ContextVar(
    "metasync_llm_client_loop", default=None
)


def client_loop() -> asyncio.AbstractEventLoop | None:
    """The event loop whose client ``create_client(..., asynchronous=True)`` is making.

    The core creates async clients in a worker thread (:class:`AsyncClientCache`), where
    ``asyncio.get_running_loop()`` fails; a client library that binds its session to a
    loop when it is built (aiohttp) takes this one. ``None`` outside the core's pool.
    """
    return _creating_for.get()


def timed_setup(create: Callable[[], T]) -> T:
    """``create()``, its duration added to the running attempt's set-up time (the first use
    of a client library imports it: often longer than the call itself)."""
    start = time.perf_counter()
    try:
        return create()
    finally:
        add_setup(time.perf_counter() - start)


def client_key(config: Mapping[str, Any], api_key: str | None) -> tuple[Any, ...]:
    """What makes two calls share a client: endpoint, API version, key and timeouts.

    The key appears only as a digest (:func:`key_fingerprint`). A document without an
    ``endpoint`` (a plugin with a default one) has ``None`` in its place.
    """
    return (
        endpoint_of(config) if "endpoint" in config else None,
        config.get("apiVersion"),
        key_fingerprint(api_key),
        timeout_of(config),
        connect_timeout_of(config),
    )


def key_fingerprint(api_key: str | None) -> str | None:
    """A digest standing in for an API key in cache keys, so the key itself is kept in no
    cache (a SHA-256 of a key costs well under a microsecond a call)."""
    if api_key is None:
        return None
    import hashlib  # noqa: PLC0415 - OpenSSL loads on the first call, not at discovery

    return hashlib.sha256(api_key.encode("utf-8")).hexdigest()


def _closer(client: object, *, asynchronous: bool) -> Callable[[], object] | None:
    """How to release ``client``: ``aclose()`` (async), ``close()``, else its context
    manager's exit (mistralai's clients have no ``close``, only ``with``/``async with``)."""
    names = ("aclose", "close", "__aexit__") if asynchronous else ("close", "__exit__")
    for name in names:
        method = getattr(client, name, None)
        if callable(method):
            if name.startswith("__"):
                return lambda: method(None, None, None)
            return method  # type: ignore[no-any-return]
    return None


def _close_all(clients: dict[Hashable, Any]) -> None:
    """Close every client in ``clients`` (sync ``close()``), ignoring failures."""
    for client in list(clients.values()):
        close = _closer(client, asynchronous=False)
        if close is None:
            continue
        try:
            result = close()
        except Exception:  # one client failing to close must not keep the others open
            from metasync_llm._log import get_logger  # noqa: PLC0415 - rare path

            get_logger(__name__).debug("closing %r failed", client, exc_info=True)
            continue
        if inspect.isawaitable(result):
            close_coroutine = getattr(result, "close", None)
            if close_coroutine is not None:
                close_coroutine()  # an async close() with no loop to run it: drop it
    clients.clear()


class ClientCache(Generic[T]):
    """Creates one client per key (e.g. endpoint, key fingerprint, API version) and reuses it.

    Lookups of an existing client take no lock; creation is serialized so two threads
    never build two clients for the same key. The clients are closed by :meth:`close`,
    or when the cache itself is garbage-collected (a plugin instance dropped by
    ``SDKRegistry.refresh()``), so their connections do not outlive it.
    """

    def __init__(self) -> None:
        self._clients: dict[Hashable, T] = {}
        self._lock = _thread.allocate_lock()
        self._watched = False

    def get(self, key: Hashable, create: Callable[[], T]) -> T:
        """The client for ``key``, created with ``create()`` the first time."""
        client = self._clients.get(key)
        if client is None:
            with self._lock:
                client = self._clients.get(key)
                if client is None:
                    client = self._clients[key] = timed_setup(create)
                    if not self._watched:
                        self._watch()
        return client

    def _watch(self) -> None:
        # Set up on the first client rather than in __init__: plugins make their caches at
        # discovery, where importing weakref (and atexit) would cost every process start.
        import weakref  # noqa: PLC0415

        weakref.finalize(self, _close_all, self._clients)
        self._watched = True

    def __len__(self) -> int:
        return len(self._clients)

    def close(self) -> None:
        """Close every client now; later calls create new ones."""
        with self._lock:
            _close_all(self._clients)


class _LoopClients(Generic[T]):
    """One event loop's clients, and the async generator that closes them at its shutdown."""

    def __init__(self) -> None:
        self.clients: dict[Hashable, T] = {}
        self.closer: AsyncGenerator[None, None] | None = None
        #: One lock per key being created: the calls that find no client wait for the
        #: first one's, instead of each creating one (256 tasks made 256 clients).
        self.creating: dict[Hashable, asyncio.Lock] = {}


async def _close_client(client: object) -> None:
    close = _closer(client, asynchronous=True)
    if close is None:
        return
    try:
        result = close()
        if inspect.isawaitable(result):
            await result
    except Exception:  # a client that fails to close must not stop the others closing
        from metasync_llm._log import get_logger  # noqa: PLC0415 - rare path

        get_logger(__name__).debug("closing %r failed", client, exc_info=True)


def _created_for(loop: asyncio.AbstractEventLoop, create: Callable[[], T]) -> T:
    _creating_for.set(loop)  # in the worker thread's copy of the context: it ends with it
    return create()


class AsyncClientCache(Generic[T]):
    """Async clients, one per key *and event loop*: an async client's connections belong
    to the loop that opened them, so a loop never reuses another loop's client.

    :meth:`get` creates a missing client in a worker thread, so the import of the client
    library and the client's construction never block the event loop. A loop's clients
    are closed when the loop shuts down (``asyncio.run`` and servers call
    ``loop.shutdown_asyncgens()`` before closing it), so a process that runs many loops
    one after another (``asyncio.run`` per job) keeps no connections of dead loops.
    """

    def __init__(self) -> None:
        self._by_loop: dict[asyncio.AbstractEventLoop, _LoopClients[T]] = {}
        self._lock = _thread.allocate_lock()

    async def get(self, key: Hashable, create: Callable[[], T]) -> T:
        """The running loop's client for ``key``, created with ``create()`` the first time."""
        import asyncio  # noqa: PLC0415 - not for sync-only processes: its import costs ~40 ms

        loop = asyncio.get_running_loop()
        holder = self._by_loop.get(loop)
        if holder is None:
            holder = await self._start(loop)
        client = holder.clients.get(key)
        if client is not None:
            return client
        lock = holder.creating.setdefault(key, asyncio.Lock())
        async with lock:
            client = holder.clients.get(key)
            if client is None:  # this call creates it; the others wait for it just above
                start = time.perf_counter()
                made = await asyncio.to_thread(_created_for, loop, create)
                add_setup(time.perf_counter() - start)
                client = holder.clients.setdefault(key, made)
                if client is not made:  # made after a failed creator's waiters: one stays
                    await _close_client(made)
        holder.creating.pop(key, None)
        return client

    async def _start(self, loop: asyncio.AbstractEventLoop) -> _LoopClients[T]:
        with self._lock:
            # Loops closed without shutting down their async generators: forget them.
            for old in [old for old in self._by_loop if old.is_closed()]:
                del self._by_loop[old]
            holder = self._by_loop.get(loop)
            if holder is not None:
                return holder
            holder = self._by_loop[loop] = _LoopClients()
        holder.closer = self._close_at_shutdown(loop, holder)
        await holder.closer.__anext__()  # registers it with the loop's shutdown_asyncgens
        return holder

    async def _close_at_shutdown(
        self, loop: asyncio.AbstractEventLoop, holder: _LoopClients[T]
    ) -> AsyncGenerator[None, None]:
        try:
            yield
        finally:
            with self._lock:
                self._by_loop.pop(loop, None)
            clients, holder.clients = list(holder.clients.values()), {}
            for client in clients:
                await _close_client(client)

    async def aclose(self) -> None:
        """Close the running loop's clients now (they are recreated on the next call)."""
        import asyncio  # noqa: PLC0415 - not for sync-only processes: its import costs ~40 ms

        holder = self._by_loop.get(asyncio.get_running_loop())
        if holder is not None and holder.closer is not None:
            await holder.closer.aclose()

    def count(self) -> int:
        """How many clients are cached, over all live loops."""
        return sum(len(h.clients) for h in list(self._by_loop.values()))
