"""Routed streams: a call moves on to the next document only before its first chunk.

``Router.stream``/``astream`` return them. The state (the plan, the stream that answers,
the chunk read ahead, the end) is one class; the sync and the async class only loop.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from types import TracebackType
from typing import TYPE_CHECKING, Any

from metasync_llm._pipeline._run import AsyncCompletionStream, CompletionStream
from metasync_llm._routing._plan import Plan
from metasync_llm.connector import astream_with_model, stream_with_model
from metasync_llm.errors import MetasyncLLMError
from metasync_llm.result import CompletionResult

if TYPE_CHECKING:
    from metasync_llm.routing import Router


class _RoutedStream:
    """What a routed stream knows, sync or async: its plan, the stream that answers, the
    chunk read ahead (to know the call need not move on), and the end."""

    def __init__(self, router: Router, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        self._plan = Plan(router, args, kwargs)
        self._stream: CompletionStream | AsyncCompletionStream | None = None
        self._index: int | None = None
        self._first: str | None = None
        self._result: CompletionResult | None = None

    def _finish(self) -> None:
        if self._result is None and self._stream is not None and self._index is not None:
            self._result = self._plan.answered(self._index, self._stream.result)

    def _ended(self, error: MetasyncLLMError | None) -> None:
        """The answering stream failed after its first chunk, or was closed early."""
        index, self._index = self._index, None
        if index is not None and self._result is None:
            self._plan.stopped(index, error)

    @property
    def text(self) -> str:
        """The text received so far."""
        return self._stream.text if self._stream is not None else ""

    @property
    def result(self) -> CompletionResult:
        """The result (``route_attempts`` included), once the stream is exhausted."""
        if self._result is None:
            if self._stream is None or self._first is not None:
                raise RuntimeError("the stream has not ended yet: iterate it to the end first")
            self._stream.result  # noqa: B018 - raises when the stream has not ended
            self._finish()
        assert self._result is not None
        return self._result


class RouterStream(_RoutedStream):
    """A routed stream: ``for chunk in stream``, then ``stream.result``; a context manager."""

    _stream: CompletionStream | None

    def __iter__(self) -> RouterStream:
        return self

    def __next__(self) -> str:
        if self._stream is None:
            self._open()
        if self._first is not None:
            chunk, self._first = self._first, None
            return chunk
        assert self._stream is not None
        try:
            return next(self._stream)
        except StopIteration:
            self._finish()
            raise
        except MetasyncLLMError as exc:  # after chunks went out: no moving on
            self._ended(exc)
            raise

    def _open(self) -> None:
        plan = self._plan
        while self._stream is None:
            index = plan.next_or_wait()
            if index is None:
                time.sleep(plan.wait)
                continue
            stream = None
            try:
                with plan.trying():
                    stream = stream_with_model(
                        plan.router.models[index], *plan.args, **plan.options(index)
                    )
                self._first = next(stream, None)  # None: an answer without chunks
            except MetasyncLLMError as exc:
                if stream is not None:
                    stream.close()
                plan.failed(index, exc)
                continue
            self._stream, self._index = stream, index

    def close(self) -> None:
        if self._stream is not None:
            self._stream.close()
        if self._result is None:
            self._ended(None)

    def __enter__(self) -> RouterStream:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class AsyncRouterStream(_RoutedStream):
    """A routed async stream: ``async with router.astream(...) as stream``."""

    _stream: AsyncCompletionStream | None

    async def __aenter__(self) -> AsyncRouterStream:
        await self._open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __aiter__(self) -> AsyncIterator[str]:
        return self._chunks()

    async def _chunks(self) -> AsyncIterator[str]:
        if self._stream is None:
            await self._open()
        if self._first is not None:
            chunk, self._first = self._first, None
            yield chunk
        assert self._stream is not None
        index = self._index
        try:
            async for chunk in self._stream:
                yield chunk
        except MetasyncLLMError as exc:
            if index is not None:
                await self._plan.unpaced(index, exc)
            self._ended(exc)
            raise
        if self._result is None and index is not None:
            self._finish()
            await self._plan.unpaced(index, self._result)

    async def _open(self) -> None:
        import asyncio  # noqa: PLC0415 - loaded with the event loop running this

        plan = self._plan
        while self._stream is None:
            index = plan.next_or_wait()
            if index is None:
                await asyncio.sleep(plan.wait)
                continue
            stream = None
            try:
                await plan.paced(index)
                with plan.trying():
                    stream = await astream_with_model(
                        plan.router.models[index], *plan.args, **plan.options(index)
                    )
                self._first = await anext(stream, None)  # None: an answer without chunks
            except MetasyncLLMError as exc:
                if stream is not None:
                    await stream.aclose()
                await plan.unpaced(index, exc)
                plan.failed(index, exc)
                continue
            except BaseException:
                if stream is not None:
                    await stream.aclose()
                await asyncio.shield(plan.unpaced(index, None))
                plan.router.health.released(index)
                raise
            self._stream, self._index = stream, index

    async def aclose(self) -> None:
        if self._stream is not None:
            await self._stream.aclose()
        if self._result is None and self._index is not None:
            await self._plan.unpaced(self._index, None)
            self._ended(None)
