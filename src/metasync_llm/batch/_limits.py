"""Rate limits of a batch job, per model: requests and tokens per minute, calls in flight.

One :class:`Limiter` per job holds a :class:`ModelLimiter` per model document with a
``rateLimit`` block; every worker of the job goes through it, so the limits hold for the
whole job (on a Ray cluster, the limiter lives in one actor that every worker calls). A
rate limit answered by the provider (429) pauses the model for everyone, for its
``Retry-After`` or, without one, for a delay that doubles while 429s keep coming.

A burst of 429s (every call in flight refused at once) is one pause, not one per refused
call: ``acquire`` hands each call the number of pauses so far (its epoch), and a 429 of a
call sent before the latest pause began belongs to that pause. Before this, 64 refusals
of one burst doubled the pause 64 times, straight to the cap.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping

from metasync_llm._model import RateLimit

#: A wait for a limit this long (seconds) or longer is announced (``on_wait``).
ANNOUNCED_WAIT = 5.0

#: ``on_wait(model, seconds, why)``: a call of ``model`` waits ``seconds`` for ``why``.
WaitCallback = Callable[[str, float, str], object]

#: Pause after a 429 without ``Retry-After``: doubles per 429 in a row, up to the cap.
FIRST_PAUSE, MAX_PAUSE = 0.5, 30.0


def estimate_tokens(text_chars: int, max_tokens: int) -> int:
    """Tokens a call may use, before it is made: its prompt (~4 characters a token) plus
    all of ``max_tokens``, as providers count a request against a tokens-per-minute limit."""
    return text_chars // 4 + 1 + max_tokens


class ModelLimiter:
    """The limits of one model. ``acquire`` waits for a turn; ``release`` ends a call.

    Requests are spaced ``60 / requestsPerMinute`` seconds apart (no bursts: any window of
    the server's sees at most the rate, plus one). Tokens come from a bucket refilled at
    ``tokensPerMinute / 60`` a second, holding at most a minute's worth; a call takes its
    estimate and gets back, or pays, the difference once its usage is known.
    """

    def __init__(
        self,
        limit: RateLimit,
        clock: Callable[[], float] = time.monotonic,
        on_wait: Callable[[float, str], object] | None = None,
    ) -> None:
        self.limit = limit
        self._on_wait = on_wait
        self._clock = clock
        self._slots = asyncio.Semaphore(limit.concurrency) if limit.concurrency else None
        self._turn = asyncio.Lock()  # one waiter decides at a time: first come, first served
        self._next_request = 0.0
        self._tokens = float(limit.tokens_per_minute or 0)
        self._tokens_at = clock()
        self._paused_until = 0.0
        self._pause = 0.0  # the last pause without Retry-After, doubled on the next 429
        self._announced = 0.0  # the end of the last pause announced
        self.pauses = 0  # pauses begun: a call's epoch (see the module docstring)

    async def acquire(self, tokens: int) -> int:
        """Wait until a call estimated at ``tokens`` tokens may start, then start it;
        returns the call's epoch, for :meth:`rate_limited`."""
        if self._slots is not None:
            await self._slots.acquire()
        try:
            # A 429 pause is waited out by every call on its own, not in turn: when it
            # ends they all go out together, so the server's answer to them is one burst
            # (one pause). Waiting in turn, a few calls trickled out, were refused, and
            # began a new, doubled pause each time (400 refusals took 80 pauses).
            while (pause := self._paused_until - self._clock()) > 0:
                if pause >= ANNOUNCED_WAIT and self._announced != self._paused_until:
                    self._announced = self._paused_until  # once a pause, not once a call
                    if self._on_wait is not None:
                        self._on_wait(pause, "a 429 pause")
                await asyncio.sleep(pause)
            async with self._turn:
                while (wait := self._wait(tokens)) > 0:
                    if wait >= ANNOUNCED_WAIT and self._on_wait is not None:
                        self._on_wait(wait, self._why())
                    await asyncio.sleep(wait)
                self._take(tokens)
        except BaseException:
            if self._slots is not None:
                self._slots.release()
            raise
        return self.pauses

    def release(self, estimated: int, used: int | None) -> None:
        """A call ended: free its slot; settle its tokens (``used`` ``None``: unknown)."""
        if self._slots is not None:
            self._slots.release()
        if self.limit.tokens_per_minute and used is not None:
            self._refill()
            self._tokens += estimated - used

    def succeeded(self) -> None:
        """A call got through: the next 429 pauses for the first delay again."""
        self._pause = 0.0

    def rate_limited(self, retry_after: float | None, epoch: int | None = None) -> float:
        """The provider said 429 to a call of ``epoch`` (``None``: unknown): pause the model
        for everyone; returns the pause from now.

        A call sent before the latest pause began (or, epoch unknown, a 429 while paused)
        is part of the burst that pause answers: it extends the pause to its
        ``Retry-After``, if any, and does not grow it.
        """
        now = self._clock()
        same_burst = epoch < self.pauses if epoch is not None else now < self._paused_until
        if same_burst:
            if retry_after is not None:
                self._paused_until = max(self._paused_until, now + min(retry_after, 3600.0))
            return max(0.0, self._paused_until - now)
        if retry_after is None:
            self._pause = min(MAX_PAUSE, self._pause * 2 or FIRST_PAUSE)
            pause = self._pause
        else:
            pause = min(retry_after, 3600.0)
        self.pauses += 1
        self._paused_until = max(self._paused_until, now + pause)
        return self._paused_until - now

    def _why(self) -> str:
        if self._paused_until > self._clock():
            return "a 429 pause"
        return "its rateLimit"

    def _wait(self, tokens: int) -> float:
        now = self._clock()
        wait = self._paused_until - now
        if self.limit.requests_per_minute:
            wait = max(wait, self._next_request - now)
        per_minute = self.limit.tokens_per_minute
        if per_minute:
            self._refill()
            # A call larger than a minute's worth waits for a full bucket, then goes.
            need = min(float(tokens), per_minute)
            if self._tokens < need:
                wait = max(wait, (need - self._tokens) * 60 / per_minute)
        return wait

    def _take(self, tokens: int) -> None:
        now = self._clock()
        if self.limit.requests_per_minute:
            interval = 60 / self.limit.requests_per_minute
            self._next_request = max(self._next_request, now) + interval
        if self.limit.tokens_per_minute:
            self._tokens -= tokens

    def _refill(self) -> None:
        per_minute = self.limit.tokens_per_minute or 0
        now = self._clock()
        self._tokens = min(per_minute, self._tokens + (now - self._tokens_at) * per_minute / 60)
        self._tokens_at = now


class Limiter:
    """A job's limiters, one per model with limits (models without any are not limited).

    Its methods are coroutines, as are those of the Ray actor that shares one limiter
    among a cluster's workers: the job awaits either alike.
    """

    def __init__(
        self, limits: Mapping[str, RateLimit | None], on_wait: WaitCallback | None = None
    ) -> None:
        self._on_wait = on_wait
        self._models = {name: self._new(name, limit) for name, limit in limits.items() if limit}

    def _new(self, model: str, limit: RateLimit) -> ModelLimiter:
        on_wait = self._on_wait
        if on_wait is None:
            return ModelLimiter(limit)
        return ModelLimiter(limit, on_wait=lambda seconds, why: on_wait(model, seconds, why))

    async def acquire(self, model: str, tokens: int) -> int:
        """Wait for ``model``'s turn for a call estimated at ``tokens`` tokens; the call's
        epoch (for :meth:`rate_limited`)."""
        limiter = self._models.get(model)
        return 0 if limiter is None else await limiter.acquire(tokens)

    async def release(self, model: str, estimated: int, used: int | None) -> None:
        """A call of ``model`` ended, having used ``used`` tokens (``None``: unknown)."""
        limiter = self._models.get(model)
        if limiter is not None:
            limiter.release(estimated, used)

    async def succeeded(self, model: str) -> None:
        """A call of ``model`` got through."""
        limiter = self._models.get(model)
        if limiter is not None:
            limiter.succeeded()

    async def rate_limited(
        self, model: str, retry_after: float | None, epoch: int | None = None
    ) -> float:
        """Pause ``model`` after a 429 to a call of ``epoch`` (a model without limits gets
        a limiter now)."""
        limiter = self._models.get(model)
        if limiter is None:
            limiter = self._models[model] = self._new(model, RateLimit())
        return limiter.rate_limited(retry_after, epoch)
