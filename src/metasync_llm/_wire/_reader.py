"""Reading a provider's answer, streamed or whole, through a plugin's sans-IO reader.

A plugin's ``stream``/``astream`` sends the request with its client library and hands
the response's headers and raw body to :func:`read_answer` (:func:`aread_answer`), with
an :class:`AnswerReader` that knows the provider's shapes and does no I/O. The core
decides how the body is read (server-sent events or one JSON document, by its
``Content-Type``), reads it under the attempt's deadline (``_sse``) and yields what the
reader makes of it: text chunks, then one ``StreamEnd`` when the provider marked the
answer complete. The two loops below are the only ones; the readers are shared.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator, Mapping
from contextlib import suppress
from itertools import islice
from typing import TYPE_CHECKING, Any, Protocol

from metasync_llm._wire._sse import aread_json, asse_events, is_event_stream, read_json, sse_events

if TYPE_CHECKING:
    from metasync_llm._wire._sse import SSEEvent
    from metasync_llm.result import StreamEnd, StreamItem


class Event(Protocol):
    """One event of a stream: what it holds, as JSON (an ``SSEEvent`` is one)."""

    def json(self) -> Any: ...


class AnswerReader(Protocol):
    """What a plugin knows of its provider's answers; no I/O.

    ``done`` turns true once an event says the answer is complete (``data: [DONE]``, a
    ``message_stop``): nothing after it is read.
    """

    done: bool

    def feed(self, event: SSEEvent | Any) -> str | None:
        """The text of one event (``None`` if it has none); raise an error event as
        ``toolkit.StreamErrorEvent``."""
        ...

    def end(self) -> StreamEnd | None:
        """After the last event: the ``StreamEnd`` (usage, finish reason), or ``None`` when
        the provider never marked the answer complete (the core reports it cut short)."""
        ...

    def whole(self, body: Any) -> Iterable[StreamItem]:
        """A whole (not streamed) JSON body: its text, then its ``StreamEnd``."""
        ...


def read_answer(
    headers: Mapping[str, str], body: Iterable[bytes], reader: AnswerReader
) -> Iterator[StreamItem]:
    """The items of a response, read from its raw ``body`` bytes by ``reader``."""
    if is_event_stream(headers):
        yield from read_events(sse_events(body), reader)
    else:  # a plain request, or a server that does not stream
        yield from reader.whole(read_json(body))


async def aread_answer(
    headers: Mapping[str, str], body: AsyncIterable[bytes], reader: AnswerReader
) -> AsyncIterator[StreamItem]:
    """:func:`read_answer` for an async body."""
    if is_event_stream(headers):
        async for item in aread_events(asse_events(body), reader):
            yield item
    else:
        for item in reader.whole(await aread_json(body)):
            yield item


#: Events read past the answer's end at most, to reach the end of the body (see _drain).
DRAIN_EVENTS = 16


def read_events(events: Iterable[Event], reader: AnswerReader) -> Iterator[StreamItem]:
    """The items of a stream's events (anything with a ``json()`` method: the events of
    ``toolkit.sse_events``, or the chunks an SDK parsed itself, wrapped)."""
    remaining = iter(events)
    for event in remaining:
        text = reader.feed(event)
        if text:
            yield text
        if reader.done:
            _drain(remaining)
            break
    end = reader.end()
    if end is not None:
        yield end


async def aread_events(
    events: AsyncIterable[Event], reader: AnswerReader
) -> AsyncIterator[StreamItem]:
    """:func:`read_events` for async events."""
    remaining = aiter(events)
    async for event in remaining:
        text = reader.feed(event)
        if text:
            yield text
        if reader.done:
            await _adrain(remaining)
            break
    end = reader.end()
    if end is not None:
        yield end


def _drain(events: Iterator[Event]) -> None:
    """Read on to the end of the body once the answer is complete, unread.

    A client library that closes a body it has not read to its end closes the connection
    with it: every streamed call then opens a new one and leaves a TIME_WAIT socket behind
    (300 async Anthropic calls at concurrency 64 opened 364 connections; a process making
    ~500 such calls a second runs out of ports). The SDKs' own readers drain the same way.
    A server that sends on is read for :data:`DRAIN_EVENTS` events at most; a failure
    here costs only the connection, not the complete answer, so it is not raised.
    """
    with suppress(Exception):
        for _ in islice(events, DRAIN_EVENTS):
            pass


async def _adrain(events: AsyncIterator[Event]) -> None:
    """:func:`_drain` for async events."""
    with suppress(Exception):
        for _ in range(DRAIN_EVENTS):
            await anext(events)  # StopAsyncIteration at the body's end: suppressed


__all__ = ["AnswerReader", "Event", "aread_answer", "aread_events", "read_answer", "read_events"]
