"""httpx2 transports for google-genai's clients: the document's timeouts, the core's deadline.

google-genai reads response bodies itself, so the core's readers never see the bytes: these
transports check the attempt's deadline at every chunk the server sends (a server that
trickles bytes cannot hold a call past its ``timeout``), and give each request the
document's connect timeout (google-genai sets one number for every phase).
Imported when the first client is created, never at discovery.
"""

from __future__ import annotations

import functools
import os
import ssl
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import Any

import httpx2

from metasync_llm import toolkit


def client_args(config: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """google-genai's ``client_args`` and ``async_client_args`` for a document's clients.

    Both sides get a transport: google-genai would otherwise build an aiohttp session for
    the async side whenever aiohttp is installed, with none of these timeouts.
    """
    read = toolkit.timeout_of(config)
    connect = toolkit.connect_timeout_of(config)
    timeouts = {"connect": connect, "read": read, "write": read, "pool": read}
    context = ssl_context()
    return (
        {"transport": _Transport(timeouts, context), "verify": context},
        {"transport": _AsyncTransport(timeouts, context), "verify": context},
    )


@functools.cache
def ssl_context() -> ssl.SSLContext:
    """One TLS context for every client of the process, made as google-genai makes it
    (``SSL_CERT_FILE``/``SSL_CERT_DIR``, else certifi's bundle): loading the CA bundle costs
    ~17 ms, which google-genai would otherwise pay for every client, and again in the
    transports (measured: 4 loads, ~67 ms, on a process's first call)."""
    if os.environ.get("SSL_CERT_FILE") or os.environ.get("SSL_CERT_DIR"):
        return ssl.create_default_context(
            cafile=os.environ.get("SSL_CERT_FILE"), capath=os.environ.get("SSL_CERT_DIR")
        )
    return httpx2.create_ssl_context()


class _Transport(httpx2.HTTPTransport):
    def __init__(self, timeouts: dict[str, float], context: ssl.SSLContext) -> None:
        super().__init__(verify=context)
        self._timeouts = timeouts

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        request.extensions["timeout"] = self._timeouts
        response = super().handle_request(request)
        response.stream = _Checked(response.stream)
        return response


class _AsyncTransport(httpx2.AsyncHTTPTransport):
    def __init__(self, timeouts: dict[str, float], context: ssl.SSLContext) -> None:
        super().__init__(verify=context)
        self._timeouts = timeouts

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        request.extensions["timeout"] = self._timeouts
        response = await super().handle_async_request(request)
        response.stream = _AsyncChecked(response.stream)
        return response


class _Checked(httpx2.SyncByteStream):
    """A response body that raises ``DeadlineExceeded`` at a chunk past the deadline."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def __iter__(self) -> Iterator[bytes]:
        try:
            for chunk in self._stream:
                toolkit.check_deadline()
                yield chunk
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        self._stream.close()


class _AsyncChecked(httpx2.AsyncByteStream):
    """The async twin of :class:`_Checked`."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._stream:
                toolkit.check_deadline()
                yield chunk
        except BaseException:
            await self.aclose()
            raise

    async def aclose(self) -> None:
        await self._stream.aclose()
