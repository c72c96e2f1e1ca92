"""Reading a provider's response off the wire: whole JSON bodies and server-sent events.

Plugins hand over the raw bytes of an HTTP body (any iterable of byte chunks, or an async
one) and get JSON values or events back, read strictly and within the call's deadline:

- every chunk is checked against the running attempt's deadline, so a server that
  trickles bytes or sends only keep-alive comments cannot hold a call past its
  ``timeout`` (:class:`~metasync_llm._pipeline._attempt.DeadlineExceeded`, a ``TimeoutError``);
- server-sent events are parsed as the WHATWG specification says: comment lines
  (``: keep-alive``) are skipped, ``data:`` lines of one event are joined, an event
  without its closing blank line at the end of the body is dropped;
- text that is not UTF-8, or JSON that is invalid or nested beyond reason, raises a
  ``ValueError`` of the decoding kind (``UnicodeDecodeError``, ``json.JSONDecodeError``),
  which the connector reports as a failed call, not as a configuration problem.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator, Mapping
from typing import Any

from metasync_llm._pipeline._attempt import check_deadline


class SSEEvent:
    """One server-sent event: its name (``event:``, ``None`` if absent) and its data."""

    __slots__ = ("data", "event")

    def __init__(self, event: str | None, data: str) -> None:
        self.event = event
        self.data = data

    def json(self) -> Any:
        """The data parsed as JSON."""
        return loads(self.data)

    def __repr__(self) -> str:
        return f"SSEEvent(event={self.event!r}, data={self.data[:60]!r})"


class StreamErrorEvent(Exception):
    """An error the provider reported inside a response that had begun as a success.

    ``body`` is the error object the provider sent; the connector classifies it by its
    code (see ``BaseLLMSDK.error_codes``), as it would an HTTP error reply.
    """

    def __init__(self, body: object) -> None:
        self.body = body
        message = body.get("message") if isinstance(body, Mapping) else None
        super().__init__(message if isinstance(message, str) and message else str(body))


def is_event_stream(headers: Mapping[str, str]) -> bool:
    """Whether a response's ``Content-Type`` says it is a server-sent-event stream.

    A server asked to stream may still answer with one JSON body (an OpenAI-compatible
    server that does not stream, a proxy's error page): read that with :func:`read_json`.
    """
    content_type = headers.get("content-type") or headers.get("Content-Type") or ""
    return content_type.split(";", 1)[0].strip().lower() == "text/event-stream"


def loads(text: str | bytes) -> Any:
    """``json.loads``, with nesting too deep to parse reported as a decoding error."""
    try:
        return json.loads(text)
    except RecursionError:
        raise json.JSONDecodeError("JSON nested too deeply", "", 0) from None


def read_json(chunks: Iterable[bytes]) -> Any:
    """The JSON value of a whole body, read within the attempt's deadline."""
    parts = []
    for chunk in chunks:
        check_deadline()
        parts.append(chunk)
    check_deadline()
    return loads(b"".join(parts))


async def aread_json(chunks: AsyncIterable[bytes]) -> Any:
    """:func:`read_json` for an async body."""
    parts = []
    async for chunk in chunks:
        check_deadline()
        parts.append(chunk)
    check_deadline()
    return loads(b"".join(parts))


def sse_events(chunks: Iterable[bytes]) -> Iterator[SSEEvent]:
    """The server-sent events of a body, as they arrive, within the attempt's deadline."""
    parser = _SSEParser()
    for chunk in chunks:
        check_deadline()
        yield from parser.feed(chunk)
    yield from parser.feed(b"", final=True)


async def asse_events(chunks: AsyncIterable[bytes]) -> AsyncIterator[SSEEvent]:
    """:func:`sse_events` for an async body."""
    parser = _SSEParser()
    async for chunk in chunks:
        check_deadline()
        for event in parser.feed(chunk):
            yield event
    for event in parser.feed(b"", final=True):
        yield event


class _SSEParser:
    """The event-stream parser of the WHATWG HTML specification, fed bytes incrementally."""

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")("strict")
        self._pending = ""  # text after the last line break
        self._event: str | None = None
        self._data: list[str] = []
        self._started = False  # a leading byte order mark is dropped

    def feed(self, chunk: bytes, *, final: bool = False) -> list[SSEEvent]:
        text = self._decoder.decode(chunk, final)
        if not self._started and text:
            self._started = True
            text = text.removeprefix("\ufeff")
        text = self._pending + text
        carry = ""
        if text.endswith("\r") and not final:  # its "\n" may come with the next chunk
            text, carry = text[:-1], "\r"
        *lines, rest = _LINE_BREAK.split(text)
        # The text after the last line break waits for the next chunk; at the end of the
        # body, an unfinished line (and event) is dropped, as the specification says.
        self._pending = "" if final else rest + carry
        events = []
        for line in lines:
            event = self._line(line)
            if event is not None:
                events.append(event)
        return events

    def _line(self, line: str) -> SSEEvent | None:
        if not line:  # a blank line dispatches the event
            if not self._data:
                self._event = None
                return None
            event = SSEEvent(self._event, "\n".join(self._data))
            self._event, self._data = None, []
            return event
        if line[0] == ":":  # a comment, such as a proxy's keep-alive
            return None
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        return None  # "id", "retry" and unknown fields change nothing here


_LINE_BREAK = re.compile("\r\n|\r|\n")  # only these end a line: not U+2028 or form feeds
