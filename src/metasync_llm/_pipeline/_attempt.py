"""The attempt a call is making: its deadline, and the time spent creating clients.

The connector starts one :class:`AttemptClock` per attempt and makes it current (a
context variable, so threads and asyncio tasks each see their own). The core's response
readers (:mod:`metasync_llm._wire._sse`) check its deadline at every chunk of bytes they
read, so a server that trickles bytes, or sends only keep-alive comments, cannot hold a
call past its ``timeout``: a server that sends nothing is stopped by the read timeout of
the client library, one that sends slowly by this deadline.
"""

from __future__ import annotations

import time
from contextvars import ContextVar


class DeadlineExceeded(TimeoutError):
    """The attempt ran past its deadline while the server was still sending."""


class AttemptClock:
    """One attempt's deadline (``timeout`` seconds) and client set-up time.

    ``rolling``: the deadline is renewed at every text chunk (a stream: time to the first
    chunk and between chunks); otherwise it bounds the whole answer.
    """

    __slots__ = ("deadline", "rolling", "setup", "timeout")

    def __init__(self, timeout: float, *, rolling: bool) -> None:
        self.timeout = timeout
        self.rolling = rolling
        self.setup = 0.0
        self.deadline = time.monotonic() + timeout

    def restart(self) -> None:
        """A new attempt begins."""
        self.deadline = time.monotonic() + self.timeout

    def chunk(self) -> None:
        """A text chunk arrived: for a stream, the next one has ``timeout`` seconds."""
        if self.rolling:
            self.deadline = time.monotonic() + self.timeout

    def check(self) -> None:
        """Raise :class:`DeadlineExceeded` once the deadline has passed."""
        if time.monotonic() > self.deadline:
            raise self.exceeded()

    def exceeded(self) -> DeadlineExceeded:
        """The error of an attempt past its deadline."""
        what = "between two chunks" if self.rolling else "for the whole answer"
        return DeadlineExceeded(
            f"the server was still sending after timeout={self.timeout:g}s {what}"
        )


#: The attempt running in this context, if any.
current: ContextVar[AttemptClock | None] = ContextVar("metasync_llm_attempt", default=None)


def check_deadline() -> None:
    """Raise :class:`DeadlineExceeded` if the current attempt is past its deadline."""
    clock = current.get()
    if clock is not None:
        clock.check()


def add_setup(seconds: float) -> None:
    """Count ``seconds`` spent creating a client towards the current attempt's set-up time.

    The deadline moves by as much: ``timeout`` bounds the server's answer, not the import
    of a client library on a process's first call.
    """
    clock = current.get()
    if clock is not None:
        clock.setup += seconds
        clock.deadline += seconds
