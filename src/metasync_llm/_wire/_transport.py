"""The deadline for SDKs that read response bodies themselves.

Most plugins hand the raw body to ``toolkit.read_answer``, which checks the attempt's
deadline at every chunk. An SDK that parses bodies itself (google-genai's streams) never
lets the core see the bytes. Built on httpx (or httpx2), it takes a transport, and
:func:`httpx_client_args` gives it one that checks the deadline at every chunk the server
sends (so a server that trickles bytes cannot hold a call past its ``timeout``) and gives
each request the document's own connect, read, write and pool timeouts. On aiohttp
(google-genai's async stack), which takes no transport, :func:`aiohttp_session` gives
the connections the document's connect timeout, and :func:`await_within_deadline` and
:func:`within_deadline` cancel the awaits that run past the deadline.

The httpx module is the plugin's (``httpx`` or ``httpx2``): the core imports none. aiohttp
is imported by :func:`aiohttp_session` only, when a plugin asks for a session.
"""

from __future__ import annotations

import asyncio
import functools
import importlib.util
import os
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Iterator, Mapping
from types import ModuleType
from typing import Any, TypeVar

from metasync_llm._pipeline._attempt import check_deadline, current
from metasync_llm._plugin_fields import connect_timeout_of, timeout_of
from metasync_llm._wire._clients import client_loop


def httpx_client_args(
    httpx: ModuleType, config: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Keyword arguments for a sync and an async ``httpx.Client`` of ``config``'s calls:
    a deadline-checking transport with the document's timeouts, and the shared TLS
    context (:func:`ssl_context`)."""
    read = timeout_of(config)
    timeouts = {"connect": connect_timeout_of(config), "read": read, "write": read, "pool": read}
    context = ssl_context(httpx)
    sync, asynchronous = _transports(httpx)
    return (
        {"transport": sync(timeouts, context), "verify": context},
        {"transport": asynchronous(timeouts, context), "verify": context},
    )


T = TypeVar("T")


def aiohttp_session(config: Mapping[str, Any], context: ssl.SSLContext, **session_args: Any) -> Any:
    """An ``aiohttp.ClientSession`` for the async client ``create_client`` is making, or
    ``None`` when aiohttp is not installed or no event loop is waiting for the client
    (:func:`~metasync_llm._wire._clients.client_loop`). The caller closes it.

    Unlimited connections, the TLS ``context``, and the document's connect timeout
    (``connectTimeout``) on each new connection, which an SDK's per-request
    ``ClientTimeout`` cannot drop (google-genai passes one with only ``total``).
    """
    loop = client_loop()
    if loop is None or importlib.util.find_spec("aiohttp") is None:
        return None
    import aiohttp  # noqa: PLC0415 - the plugin's dependency, loaded with its client

    connector = _aiohttp_connector()(connect_timeout_of(config), loop=loop, limit=0, ssl=context)
    return aiohttp.ClientSession(connector=connector, **session_args)


@functools.cache
def _aiohttp_connector() -> Any:
    """The connector class, made once per process."""
    import aiohttp  # noqa: PLC0415
    import attr  # noqa: PLC0415 - aiohttp's own dependency; ClientTimeout is an attrs class

    class Connector(aiohttp.TCPConnector):
        def __init__(self, connect_timeout: float, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self._connect_timeout = connect_timeout

        async def connect(self, req: Any, traces: Any, timeout: Any) -> Any:
            limit = timeout.sock_connect
            if limit is None or limit > self._connect_timeout:
                timeout = attr.evolve(timeout, sock_connect=self._connect_timeout)
            return await super().connect(req, traces, timeout)

    return Connector


async def await_within_deadline(awaitable: Awaitable[T]) -> T:
    """Await ``awaitable`` until the current attempt's deadline at most, then raise
    ``DeadlineExceeded`` (a ``TimeoutError``): this stops a server that sends nothing and
    one that trickles bytes alike. Outside a call it only awaits."""
    clock = current.get()
    if clock is None:
        return await awaitable
    # The clock counts time.monotonic(); an event loop's clock may have another origin.
    loop = asyncio.get_running_loop()
    timeout = asyncio.timeout_at(loop.time() + clock.deadline - time.monotonic())
    try:
        async with timeout:
            return await awaitable
    except TimeoutError:
        if timeout.expired():  # ours, not a timeout of the SDK's own
            raise clock.exceeded() from None
        raise


async def within_deadline(chunks: AsyncIterator[T]) -> AsyncIterator[T]:
    """``chunks``, each awaited until the current attempt's deadline at most (a stream's
    deadline moves on at every text chunk the core reads)."""
    while True:
        try:
            chunk = await await_within_deadline(anext(chunks))
        except StopAsyncIteration:
            return
        yield chunk


@functools.cache
def ssl_context(httpx: ModuleType) -> ssl.SSLContext:
    """One TLS context for every client of the process, made as httpx makes it
    (``SSL_CERT_FILE``/``SSL_CERT_DIR``, else certifi's bundle): loading the CA bundle costs
    ~17 ms, which an SDK making its own context would pay for every client (measured with
    google-genai: 4 loads, ~67 ms, on a process's first call)."""
    if os.environ.get("SSL_CERT_FILE") or os.environ.get("SSL_CERT_DIR"):
        return ssl.create_default_context(
            cafile=os.environ.get("SSL_CERT_FILE"), capath=os.environ.get("SSL_CERT_DIR")
        )
    context: ssl.SSLContext = httpx.create_ssl_context()
    return context


@functools.cache
def _transports(httpx: ModuleType) -> tuple[Any, Any]:
    """The transport classes for ``httpx``, made once per module."""

    class Checked(httpx.SyncByteStream):  # type: ignore[misc, name-defined]
        def __init__(self, stream: Any) -> None:
            self._stream = stream

        def __iter__(self) -> Iterator[bytes]:
            try:
                for chunk in self._stream:
                    check_deadline()
                    yield chunk
            except BaseException:
                self.close()
                raise

        def close(self) -> None:
            self._stream.close()

    class AsyncChecked(httpx.AsyncByteStream):  # type: ignore[misc, name-defined]
        def __init__(self, stream: Any) -> None:
            self._stream = stream

        async def __aiter__(self) -> AsyncIterator[bytes]:
            try:
                async for chunk in self._stream:
                    check_deadline()
                    yield chunk
            except BaseException:
                await self.aclose()
                raise

        async def aclose(self) -> None:
            await self._stream.aclose()

    class Transport(httpx.HTTPTransport):  # type: ignore[misc, name-defined]
        def __init__(self, timeouts: dict[str, float], context: ssl.SSLContext) -> None:
            super().__init__(verify=context)
            self._timeouts = timeouts

        def handle_request(self, request: Any) -> Any:
            request.extensions["timeout"] = self._timeouts
            response = super().handle_request(request)
            response.stream = Checked(response.stream)
            return response

    class AsyncTransport(httpx.AsyncHTTPTransport):  # type: ignore[misc, name-defined]
        def __init__(self, timeouts: dict[str, float], context: ssl.SSLContext) -> None:
            super().__init__(verify=context)
            self._timeouts = timeouts

        async def handle_async_request(self, request: Any) -> Any:
            request.extensions["timeout"] = self._timeouts
            response = await super().handle_async_request(request)
            response.stream = AsyncChecked(response.stream)
            return response

    return Transport, AsyncTransport


__all__ = [
    "aiohttp_session",
    "await_within_deadline",
    "httpx_client_args",
    "ssl_context",
    "within_deadline",
]
