"""The loops of a call: one sync, one async, over the same :class:`~._state.CallState`.

Every call goes through the plugin's ``stream``/``astream`` hook.
:class:`CompletionStream` (sync) and :class:`AsyncCompletionStream` (asyncio) hand the
chunks to the caller as they arrive and end with the same
:class:`~metasync_llm.CompletionResult` (usage, cost, timing with time to first chunk).
A blocking call (:func:`run`, :func:`arun`) drains a stream that keeps its chunks, so it
may retry an attempt that failed part-way. Closing a stream early (``close``/``aclose``,
leaving its ``with`` block, breaking out of a ``for`` loop and dropping it, a cancelled
task) closes the plugin's HTTP stream. :func:`run_asking` / :func:`arun_asking` ask again
when an answer misses the schema.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Iterator
from types import TracebackType
from typing import Any

from metasync_llm._pipeline import _native_schema
from metasync_llm._pipeline._attempt import current as current_attempt
from metasync_llm._pipeline._outcome import (
    combined,
    finished,
    reasked,
    without_native_schema,
)
from metasync_llm._pipeline._prepare import Call
from metasync_llm._pipeline._state import CallState
from metasync_llm.errors import (
    CompletionError,
    MetasyncLLMError,
    PluginError,
    SchemaValidationError,
)
from metasync_llm.result import CompletionResult

_ENDED = object()  # what next() returns once a plugin's stream is exhausted


class CompletionStream:
    """A completion streamed from a plugin: ``for chunk in stream``, then ``stream.result``."""

    def __init__(self, call: Call, *, delivered: bool = True) -> None:
        self._state = CallState(call, delivered=delivered)
        self._items: Iterator[object] | None = None
        self._closed = False

    def __iter__(self) -> CompletionStream:
        return self

    def __next__(self) -> str:
        try:
            return self._next()
        except StopIteration:
            raise
        except BaseException as exc:
            self._state.abort(exc)
            raise

    def _next(self) -> str:
        state = self._state
        while not self._closed:
            # The plugin's readers check the attempt's deadline as bytes arrive.
            timing = current_attempt.set(state.clock)
            failure: Exception | None = None
            try:
                if self._items is None:
                    state.begin()
                    self._items = iter(state.call.loaded.sdk.stream(state.call.request))
                item = next(self._items, _ENDED)
                if item is _ENDED:
                    state.check_end()
            except Exception as exc:
                failure = exc
            finally:
                current_attempt.reset(timing)
            if failure is not None:
                self._close_items()
                try:
                    delay = state.wait_or_raise(failure)
                except MetasyncLLMError:  # final
                    self._closed = True
                    raise
                time.sleep(delay)
                continue
            if item is _ENDED:
                self._closed, self._items = True, None
                state.done(finished(state.call, state.finish()))
                raise StopIteration
            try:
                chunk = state.accept(item)
            except PluginError:
                self.close()
                raise
            if chunk is not None:
                return chunk
        raise StopIteration

    @property
    def text(self) -> str:
        """The text received so far."""
        return self._state.text

    @property
    def result(self) -> CompletionResult:
        """The result, once the stream is exhausted."""
        return self._state.final()

    def until_done(self) -> CompletionResult:
        """Read the rest of the stream and return the result."""
        for _ in self:
            pass
        return self.result

    def _close_items(self) -> None:
        items, self._items = self._items, None
        close = getattr(items, "close", None)
        if close is not None:
            close()

    def close(self) -> None:
        """Stop the stream and release its HTTP connection."""
        if not self._closed:
            self._state.abort(None, "closed")
        self._closed = True
        self._close_items()

    def __enter__(self) -> CompletionStream:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __del__(self) -> None:
        # At interpreter shutdown the generator may be half torn down: never raise here.
        with contextlib.suppress(Exception):
            self.close()


class AsyncCompletionStream:
    """A completion streamed with asyncio: ``async for chunk in stream``, then ``stream.result``."""

    def __init__(self, call: Call, *, delivered: bool = True) -> None:
        self._state = CallState(call, delivered=delivered, asynchronous=True)
        self._items: AsyncIterator[object] | None = None
        self._closed = False

    def __aiter__(self) -> AsyncCompletionStream:
        return self

    async def __anext__(self) -> str:
        try:
            return await self._anext()
        except StopAsyncIteration:
            raise
        except BaseException as exc:
            self._state.abort(exc)
            raise

    async def _anext(self) -> str:
        import asyncio  # noqa: PLC0415 - not for sync-only processes: its import costs ~40 ms

        state = self._state
        while not self._closed:
            # The plugin's readers check the attempt's deadline as bytes arrive.
            timing = current_attempt.set(state.clock)
            failure: Exception | None = None
            try:
                if self._items is None:
                    state.begin()
                    self._items = aiter(state.call.loaded.sdk.astream(state.call.request))
                item = await anext(self._items, _ENDED)
                if item is _ENDED:
                    state.check_end()
            except asyncio.CancelledError as exc:
                state.abort(exc, "cancelled")
                await self.aclose()
                raise
            except Exception as exc:
                failure = exc
            finally:
                current_attempt.reset(timing)
            if failure is not None:
                await self._close_items()
                try:
                    delay = state.wait_or_raise(failure)
                except MetasyncLLMError:  # final
                    self._closed = True
                    raise
                await asyncio.sleep(delay)
                continue
            if item is _ENDED:
                self._closed, self._items = True, None
                result = state.finish()
                if state.finishes_off_the_loop:
                    result = await asyncio.to_thread(finished, state.call, result)
                state.done(result)
                raise StopAsyncIteration
            try:
                chunk = state.accept(item)
            except PluginError:
                await self.aclose()
                raise
            if chunk is not None:
                return chunk
        raise StopAsyncIteration

    @property
    def text(self) -> str:
        """The text received so far."""
        return self._state.text

    @property
    def result(self) -> CompletionResult:
        """The result, once the stream is exhausted."""
        return self._state.final()

    async def until_done(self) -> CompletionResult:
        """Read the rest of the stream and return the result."""
        async for _ in self:
            pass
        return self.result

    async def _close_items(self) -> None:
        items, self._items = self._items, None
        aclose: Any = getattr(items, "aclose", None)
        if aclose is not None:
            await aclose()

    async def aclose(self) -> None:
        """Stop the stream and release its HTTP connection."""
        if not self._closed:
            self._state.abort(None, "closed")
        self._closed = True
        await self._close_items()

    def __del__(self) -> None:
        # Collected before it ended or was closed (entered by hand, never exited): its HTTP
        # connection cannot be closed from here, without its loop, but observers get the
        # end event now, as for a closed stream (an OpenTelemetry span would otherwise stay
        # open for ever: 500 such streams held 500 spans).
        state = getattr(self, "_state", None)  # None: __init__ did not finish
        if state is not None and state.watch is not None and not self._closed:
            self._closed = True
            state.abort(None, "closed")

    async def __aenter__(self) -> AsyncCompletionStream:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


def run(call: Call) -> CompletionResult:
    """A blocking call: the plugin's whole stream, kept (so retried while that is safe)."""
    return CompletionStream(call, delivered=False).until_done()


async def arun(call: Call) -> CompletionResult:
    """The asyncio form of :func:`run`, over the plugin's ``astream``."""
    return await AsyncCompletionStream(call, delivered=False).until_done()


def run_asking(call: Call) -> CompletionResult:
    """:func:`run`, re-asking after an answer that does not fit the schema (``schemaRetries``).

    The result's usage, cost, time and attempts count every ask; so do those of the
    :class:`SchemaValidationError` raised when the last ask does not fit either.
    """
    spent = None
    for ask in range(call.settings.schema_retries + 1):
        try:
            return combined(spent, run(call))
        except SchemaValidationError as exc:
            spent = _spent(spent, exc, last=ask == call.settings.schema_retries)
            call = reasked(call, exc)
        except CompletionError as exc:
            if not _refused(call, exc):
                raise
            # One more request, with the schema told to the model instead.
            return combined(spent, run_asking(without_native_schema(call)))
    raise AssertionError("unreachable: the last ask returns or raises")


async def arun_asking(call: Call) -> CompletionResult:
    """The asyncio form of :func:`run_asking`."""
    spent = None
    for ask in range(call.settings.schema_retries + 1):
        try:
            return combined(spent, await arun(call))
        except SchemaValidationError as exc:
            spent = _spent(spent, exc, last=ask == call.settings.schema_retries)
            call = reasked(call, exc)
        except CompletionError as exc:
            if not _refused(call, exc):
                raise
            return combined(spent, await arun_asking(without_native_schema(call)))
    raise AssertionError("unreachable: the last ask returns or raises")


def _refused(call: Call, error: CompletionError) -> bool:
    return call.native_schema and _native_schema.is_refusal(error)


def _spent(
    spent: CompletionResult | None, exc: SchemaValidationError, *, last: bool
) -> CompletionResult | None:
    """What the asks so far cost, ``exc``'s included; after the ``last`` ask, ``exc``
    itself, carrying that total (its result, its attempts), is raised."""
    if exc.result is not None:
        spent = combined(spent, exc.result)
    if last:
        if spent is not None:
            exc.result = spent
            exc.attempts = spent.attempts
        raise exc
    return spent


__all__ = ["AsyncCompletionStream", "CompletionStream"]
