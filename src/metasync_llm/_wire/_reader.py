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


def read_events(events: Iterable[Event], reader: AnswerReader) -> Iterator[StreamItem]:
    """The items of a stream's events (anything with a ``json()`` method: the events of
    ``toolkit.sse_events``, or the chunks an SDK parsed itself, wrapped)."""
    for event in events:
        text = reader.feed(event)
        if text:
            yield text
        if reader.done:
            break
    end = reader.end()
    if end is not None:
        yield end


async def aread_events(
    events: AsyncIterable[Event], reader: AnswerReader
) -> AsyncIterator[StreamItem]:
    """:func:`read_events` for async events."""
    async for event in events:
        text = reader.feed(event)
        if text:
            yield text
        if reader.done:
            break
    end = reader.end()
    if end is not None:
        yield end


__all__ = ["AnswerReader", "Event", "aread_answer", "aread_events", "read_answer", "read_events"]
