"""httpx transports for SDKs that read response bodies themselves.

Most plugins hand the raw body to ``toolkit.read_answer``, which checks the attempt's
deadline at every chunk. An SDK that parses bodies itself (google-genai's streams) never
lets the core see the bytes; built on httpx (or httpx2), it takes a transport, and
:func:`httpx_client_args` gives it one that checks the deadline at every chunk the server
sends (so a server that trickles bytes cannot hold a call past its ``timeout``) and gives
each request the document's own connect, read, write and pool timeouts.

The httpx module is the plugin's (``httpx`` or ``httpx2``): the core imports neither.
"""

from __future__ import annotations

import functools
import os
import ssl
from collections.abc import AsyncIterator, Iterator, Mapping
from types import ModuleType
from typing import Any

from metasync_llm._pipeline._attempt import check_deadline
from metasync_llm._plugin_fields import connect_timeout_of, timeout_of


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


__all__ = ["httpx_client_args", "ssl_context"]
