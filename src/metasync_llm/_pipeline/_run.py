"""Running a plugin's stream: for a blocking call, and for a caller that iterates the chunks.

Every call goes through the plugin's ``stream``/``astream`` hook. :func:`run` and
:func:`arun` collect it for a blocking call; ``CompletionStream`` (sync) and
``AsyncCompletionStream`` (asyncio) hand the chunks to the caller as they arrive and end
with the same :class:`~metasync_llm.CompletionResult` (usage, cost, timing with time to
first chunk). Closing a stream early (``close``/``aclose``, leaving its ``with`` block,
breaking out of a ``for`` loop and dropping it, a cancelled task) closes the plugin's
HTTP stream.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Callable, Iterator
from types import TracebackType
from typing import TYPE_CHECKING, Any

from metasync_llm._model import timeout_of
from metasync_llm._pipeline._attempt import AttemptClock
from metasync_llm._pipeline._attempt import current as current_attempt
from metasync_llm._pipeline._call import (
    Call,
    call_error,
    combined,
    finished,
    reasked,
    refuses_native_schema,
    remember_native_schema_refused,
    result_of,
    without_native_schema,
)
from metasync_llm.errors import (
    CompletionError,
    IncompleteResponseError,
    MetasyncLLMError,
    PluginError,
    SchemaValidationError,
)
from metasync_llm.result import CompletionResult, StreamEnd

if TYPE_CHECKING:
    from metasync_llm.observers import CallWatch

_ENDED = object()  # what next() returns once a plugin's stream is exhausted


class _StreamState:
    """One call's chunks, end marker, attempts and result, and how its failures are mapped.

    ``delivered``: the chunks go to a caller as they arrive (a stream), so an attempt that
    produced text cannot be retried; a blocking call keeps them, and may retry.
    """

    def __init__(self, call: Call, *, delivered: bool, asynchronous: bool = False) -> None:
        #: The call's events for observers; ``None`` (and no cost) when there are none.
        #: Made first: an observer's time is not the call's.
        self.watch: CallWatch | None = None
        if call.observers is not None:
            from metasync_llm.observers import CallWatch  # noqa: PLC0415 - observed calls only

            self.watch = CallWatch(
                call.observers, call, stream=delivered, asynchronous=asynchronous
            )
        self.call = call
        self.delivered = delivered
        self.attempts = call.attempts()
        self.chunks: list[str] = []
        self.end: StreamEnd | None = None
        self.start = time.perf_counter()
        self.first_chunk: float | None = None
        self.result: CompletionResult | None = None
        #: The running attempt's deadline and client set-up time (see ``_attempt``).
        self.clock = AttemptClock(timeout_of(call.config), rolling=delivered)

    def begin(self) -> None:
        """An attempt starts, with a fresh deadline."""
        self.attempts.begin()
        self.clock.restart()

    def accept(self, item: object) -> str | None:
        """The text chunk in ``item`` (``None`` for the end marker or an empty chunk)."""
        if type(item) is str:
            if not item:
                return None
            if self.first_chunk is None and self.delivered:
                self.first_chunk = time.perf_counter() - self.start
                if self.watch is not None:
                    self.watch.first_chunk(self.first_chunk)
            self.clock.chunk()
            self.chunks.append(item)
            return item
        if isinstance(item, str):  # a str subclass: a plain str for the caller
            return self.accept(str(item))
        if isinstance(item, StreamEnd):
            self.end = item
            return None
        info = self.call.loaded.info
        raise PluginError(
            f"SDK {self.call.settings.sdk} ({info.origin}) yielded {type(item).__name__} from"
            " its stream; a stream yields str chunks and then one metasync_llm.StreamEnd",
            sdk=self.call.settings.sdk,
            model=self.call.settings.name,
            distribution=info.distribution,
        )

    def check_end(self) -> None:
        """At the end of the plugin's stream: raise if the provider never marked the end."""
        if self.end is None:
            settings = self.call.settings
            raise IncompleteResponseError(
                f"{settings.sdk} model {settings.name!r}: the response ended before the"
                f" provider marked the answer complete ({len(self.text)} characters had"
                " arrived)",
                sdk=settings.sdk,
                model=settings.name,
            )

    def finish(self) -> CompletionResult:
        """The result of a stream that ended (checked like any answer)."""
        elapsed = time.perf_counter() - self.start
        try:
            self.result = result_of(
                self.call,
                "".join(self.chunks),
                self.end or StreamEnd(),
                elapsed,
                self.first_chunk,
                self.attempts.count,
                self.clock.setup or None,
            )
        except MetasyncLLMError as exc:  # no text, or a malformed answer: final
            exc.attempts = self.attempts.count
            raise
        return self.result

    def wait_or_raise(self, exc: Exception) -> float:
        """After a failed attempt: the seconds to wait before the next, or raise the error.

        The error carries the text received so far (``partial_text``). A stream that has
        handed chunks to its caller is not retried; a blocking call starts afresh.
        """
        error = call_error(exc, self.call)
        error.partial_text = "".join(self.chunks)
        refused = refuses_native_schema(self.call, error)
        if refused:  # asking again as it stands cannot change that: the asking layer adapts
            remember_native_schema_refused(self.call)
        if refused or (self.delivered and (self.chunks or self.end is not None)):
            error.attempts = self.attempts.count
            raise error
        delay = self.attempts.after_failure(error)
        if delay is None:
            raise error
        if self.watch is not None:
            self.watch.retry(self.attempts.count, error, delay)
        self.chunks.clear()
        self.end = None
        return delay

    @property
    def text(self) -> str:
        return "".join(self.chunks)

    def done(self, result: CompletionResult) -> CompletionResult:
        """The call succeeded: tell the observers."""
        if self.watch is not None:
            self.watch.ended(result=result)
        return result

    def abort(self, exc: BaseException | None, outcome: str | None = None) -> None:
        """The call failed (``exc``), or was closed or cancelled: tell the observers."""
        if self.watch is not None:
            if outcome is None:
                outcome = "error" if isinstance(exc, Exception) else "cancelled"
            self.watch.ended(
                error=exc,
                outcome=outcome,
                attempts=self.attempts.count,
                answer=self.text,
                first_chunk=self.first_chunk,
            )

    def final(self) -> CompletionResult:
        if self.result is None:
            raise RuntimeError("the stream has not ended yet: iterate it to the end first")
        return self.result


def run(call: Call) -> CompletionResult:
    """A blocking call: the plugin's whole stream, retried while that is safe."""
    state = _StreamState(call, delivered=False)
    try:
        return state.done(_run(state))
    except BaseException as exc:
        state.abort(exc)
        raise


def _run(state: _StreamState) -> CompletionResult:
    call = state.call
    sdk, request = call.loaded.sdk, call.request
    timing = current_attempt.set(state.clock)
    try:
        while True:
            state.begin()
            items = sdk.stream(request)
            failure: Exception | None = None
            try:
                for item in items:
                    state.accept(item)
                state.check_end()
            except Exception as exc:
                failure = exc
            finally:
                _close(items)
            if failure is None:
                break
            time.sleep(state.wait_or_raise(failure))
    finally:
        current_attempt.reset(timing)
    return finished(call, state.finish())


async def arun(call: Call) -> CompletionResult:
    """The asyncio form of :func:`run`, over the plugin's ``astream``."""
    state = _StreamState(call, delivered=False, asynchronous=True)
    try:
        return state.done(await _arun(state))
    except BaseException as exc:
        state.abort(exc)
        raise


async def _arun(state: _StreamState) -> CompletionResult:
    import asyncio  # noqa: PLC0415 - loaded on first async use, not at import

    call = state.call
    sdk, request = call.loaded.sdk, call.request
    timing = current_attempt.set(state.clock)
    try:
        while True:
            state.begin()
            items = sdk.astream(request)
            failure: Exception | None = None
            try:
                async for item in items:
                    state.accept(item)
                state.check_end()
            except Exception as exc:
                failure = exc
            finally:
                await _aclose(items)
            if failure is None:
                break
            await asyncio.sleep(state.wait_or_raise(failure))
    finally:
        current_attempt.reset(timing)
    result = state.finish()
    if call.repair_json or call.schema is not None:  # can be slow on long answers: off the loop
        result = await asyncio.to_thread(finished, call, result)
    return result


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
            if not refuses_native_schema(call, exc):
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
            if not refuses_native_schema(call, exc):
                raise
            return combined(spent, await arun_asking(without_native_schema(call)))
    raise AssertionError("unreachable: the last ask returns or raises")


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


def _abandoned(stream: AsyncCompletionStream) -> None:
    """An async stream collected before it ended or was closed (entered by hand, never
    exited; its HTTP connection cannot be closed from here, without its loop): observers
    get the end event now, as for a closed stream (an OpenTelemetry span would otherwise
    stay open for ever: 500 such streams held 500 spans). A blocking stream closes."""
    state = getattr(stream, "_state", None)  # None: __init__ did not finish
    if state is not None and state.watch is not None and not stream._closed:
        stream._closed = True
        state.abort(None, "closed")


def _close(items: object) -> None:
    close = getattr(items, "close", None)
    if close is not None:
        close()


async def _aclose(items: object) -> None:
    aclose: Any = getattr(items, "aclose", None)
    if aclose is not None:
        await aclose()


class CompletionStream:
    """A completion streamed from a plugin: ``for chunk in stream``, then ``stream.result``."""

    def __init__(self, call: Call, make: Callable[[], Iterator[object]] | None = None) -> None:
        self._state = _StreamState(call, delivered=True)
        self._make = make or (lambda: iter(call.loaded.sdk.stream(call.request)))
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
                    self._items = self._make()
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
                self._closed = True
                self._items = None
                state.finish()
                state.result = state.done(finished(state.call, state.final()))
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
        _close(items)

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

    def __init__(self, call: Call, make: Callable[[], AsyncIterator[object]] | None = None) -> None:
        self._state = _StreamState(call, delivered=True, asynchronous=True)
        self._make = make or (lambda: aiter(call.loaded.sdk.astream(call.request)))
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
        import asyncio  # noqa: PLC0415 - loaded on first async use, not at import

        state = self._state
        while not self._closed:
            # The plugin's readers check the attempt's deadline as bytes arrive.
            timing = current_attempt.set(state.clock)
            failure: Exception | None = None
            try:
                if self._items is None:
                    state.begin()
                    self._items = self._make()
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
                self._closed = True
                self._items = None
                result = state.finish()
                if state.call.repair_json or state.call.schema is not None:  # off the loop
                    result = state.result = await asyncio.to_thread(finished, state.call, result)
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
        await _aclose(items)

    async def aclose(self) -> None:
        """Stop the stream and release its HTTP connection."""
        if not self._closed:
            self._state.abort(None, "closed")
        self._closed = True
        await self._close_items()

    def __del__(self) -> None:
        _abandoned(self)

    async def __aenter__(self) -> AsyncCompletionStream:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
