"""Streams of a completion: text chunks as they arrive, then the same result as a blocking call.

``CompletionStream`` (sync) and ``AsyncCompletionStream`` (asyncio) have one shape: iterate
for ``str`` chunks; when the iteration ends, ``result`` holds the
:class:`~metasync_llm.CompletionResult` (usage, cost, timing with time to first chunk).
Closing a stream early (``close``/``aclose``, leaving its ``with`` block, breaking out of a
``for`` loop and dropping it, a cancelled task) closes the plugin's HTTP stream.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from types import TracebackType
from typing import Any

from metasync_llm._call import Call, call_error, checked_answer, repaired, result_of
from metasync_llm.errors import MetasyncLLMError, PluginError
from metasync_llm.result import Completion, CompletionResult, StreamEnd


class _StreamState:
    """What sync and async streams share: chunk bookkeeping, the result, error mapping."""

    def __init__(self, call: Call) -> None:
        self.call = call
        self.chunks: list[str] = []
        self.end: StreamEnd | None = None
        self.start = time.perf_counter()
        self.first_chunk: float | None = None
        self.result: CompletionResult | None = None

    def accept(self, item: object) -> str | None:
        """The text chunk in ``item`` (``None`` for the end marker or an empty chunk)."""
        if isinstance(item, str):
            if not item:
                return None
            if self.first_chunk is None:
                self.first_chunk = time.perf_counter() - self.start
            self.chunks.append(item)
            return item
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

    def answer(self) -> tuple[Completion, float]:
        """The whole answer, checked like a blocking call's, and the elapsed seconds."""
        end = self.end or StreamEnd()
        raw = Completion(
            "".join(self.chunks),
            end.prompt_tokens,
            end.completion_tokens,
            end.total_tokens,
            end.finish_reason,
            end.request_id,
        )
        return checked_answer(raw, self.call.loaded, self.call.settings), (
            time.perf_counter() - self.start
        )

    def failed(self, exc: Exception) -> MetasyncLLMError:
        """The core error for a failure mid-stream, with the text received so far."""
        call = self.call
        error = call_error(exc, call.loaded, call.settings, call.api_key)
        error.partial_text = "".join(self.chunks)
        return error

    @property
    def text(self) -> str:
        return "".join(self.chunks)


class CompletionStream:
    """A completion streamed from a plugin: ``for chunk in stream``, then ``stream.result``."""

    def __init__(self, call: Call, items: Iterator[object]) -> None:
        self._state = _StreamState(call)
        self._items = items
        self._closed = False

    def __iter__(self) -> CompletionStream:
        return self

    def __next__(self) -> str:
        state = self._state
        while not self._closed:
            try:
                item = next(self._items)
            except StopIteration:
                self._finish()
                raise
            except Exception as exc:
                self.close()
                raise state.failed(exc) from exc
            try:
                chunk = state.accept(item)
            except PluginError:
                self.close()
                raise
            if chunk is not None:
                return chunk
        raise StopIteration

    def _finish(self) -> None:
        self._closed = True
        answer, elapsed = self._state.answer()
        result = result_of(self._state.call, answer, elapsed, self._state.first_chunk)
        self._state.result = result
        self._state.result = repaired(self._state.call, result)

    @property
    def text(self) -> str:
        """The text received so far."""
        return self._state.text

    @property
    def result(self) -> CompletionResult:
        """The result, once the stream is exhausted."""
        if self._state.result is None:
            raise RuntimeError("the stream has not ended yet: iterate it to the end first")
        return self._state.result

    def until_done(self) -> CompletionResult:
        """Read the rest of the stream and return the result."""
        for _ in self:
            pass
        return self.result

    def close(self) -> None:
        """Stop the stream and release its HTTP connection."""
        if not self._closed:
            self._closed = True
            close = getattr(self._items, "close", None)
            if close is not None:
                close()

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
        self.close()


class AsyncCompletionStream:
    """A completion streamed with asyncio: ``async for chunk in stream``, then ``stream.result``."""

    def __init__(self, call: Call, items: AsyncIterator[object]) -> None:
        self._state = _StreamState(call)
        self._items = items
        self._closed = False

    def __aiter__(self) -> AsyncCompletionStream:
        return self

    async def __anext__(self) -> str:
        state = self._state
        while not self._closed:
            try:
                item = await self._items.__anext__()
            except StopAsyncIteration:
                await self._finish()
                raise
            except asyncio.CancelledError:
                await self.aclose()
                raise
            except Exception as exc:
                await self.aclose()
                raise state.failed(exc) from exc
            try:
                chunk = state.accept(item)
            except PluginError:
                await self.aclose()
                raise
            if chunk is not None:
                return chunk
        raise StopAsyncIteration

    async def _finish(self) -> None:
        self._closed = True
        call = self._state.call
        answer, elapsed = self._state.answer()
        result = result_of(call, answer, elapsed, self._state.first_chunk)
        self._state.result = result
        if call.repair_json:  # JSON repair can be slow on long answers: off the event loop
            self._state.result = await asyncio.to_thread(repaired, call, result)

    @property
    def text(self) -> str:
        """The text received so far."""
        return self._state.text

    @property
    def result(self) -> CompletionResult:
        """The result, once the stream is exhausted."""
        if self._state.result is None:
            raise RuntimeError("the stream has not ended yet: iterate it to the end first")
        return self._state.result

    async def until_done(self) -> CompletionResult:
        """Read the rest of the stream and return the result."""
        async for _ in self:
            pass
        return self.result

    async def aclose(self) -> None:
        """Stop the stream and release its HTTP connection."""
        if not self._closed:
            self._closed = True
            aclose: Any = getattr(self._items, "aclose", None)
            if aclose is not None:
                await aclose()

    async def __aenter__(self) -> AsyncCompletionStream:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
