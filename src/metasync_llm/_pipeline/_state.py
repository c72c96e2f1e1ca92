"""One call's progress, free of I/O: the object both loops in ``_run`` drive.

It takes the plugin's items one at a time (:meth:`CallState.accept`), says whether and
when a failed attempt is tried again (:meth:`CallState.wait_or_raise`), builds the result
(:meth:`CallState.finish`) and sends the observers' events. It never reads, sleeps or
awaits: the sync loop and the async loop do, over the same state, so the two cannot
drift apart.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from metasync_llm._pipeline import _native_schema
from metasync_llm._pipeline._attempt import AttemptClock
from metasync_llm._pipeline._outcome import call_error, result_of
from metasync_llm._pipeline._prepare import Call
from metasync_llm._plugin_fields import timeout_of
from metasync_llm.errors import IncompleteResponseError, MetasyncLLMError, PluginError
from metasync_llm.result import CompletionResult, StreamEnd

if TYPE_CHECKING:
    from metasync_llm.observers import CallWatch


class CallState:
    """One call's chunks, end marker, attempts and result, and how its failures are mapped.

    ``delivered``: the chunks go to a caller as they arrive (a stream), so an attempt that
    produced text cannot be retried; a blocking call keeps them, and may retry.
    """

    __slots__ = (
        "attempts",
        "call",
        "chunks",
        "clock",
        "delivered",
        "end",
        "first_chunk",
        "result",
        "start",
        "watch",
    )

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
        self.clock = AttemptClock(timeout_of(call.request.config), rolling=delivered)

    @property
    def text(self) -> str:
        return "".join(self.chunks)

    @property
    def finishes_off_the_loop(self) -> bool:
        """Whether :func:`~._outcome.finished` may be slow (a schema check, a JSON repair
        of a long answer): the async loop runs it in a worker thread."""
        return self.call.repair_json or self.call.schema is not None

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
        try:
            self.result = result_of(
                self.call,
                "".join(self.chunks),
                self.end or StreamEnd(),
                time.perf_counter() - self.start,
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
        handed chunks to its caller is not retried; a blocking call starts afresh. A
        server refusing a native schema is not asked again as it stands (``_run`` asks
        once more with the schema in the prompt).
        """
        call = self.call
        error = call_error(exc, call)
        error.partial_text = "".join(self.chunks)
        refused = call.native_schema and _native_schema.is_refusal(error)
        if refused:
            _native_schema.remember(call.settings.sdk, call.settings.name, call.request.config)
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

    def done(self, result: CompletionResult) -> CompletionResult:
        """The call succeeded: keep the result and tell the observers."""
        self.result = result
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
