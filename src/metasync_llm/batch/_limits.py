"""Rate limits of a batch job, per model: requests and tokens per minute, calls in flight.

One :class:`Limiter` per job holds a :class:`ModelLimiter` per model document with a
``rateLimit`` block; every worker of the job goes through it, so the limits hold for the
whole job (on a Ray cluster, the limiter lives in one actor that every worker calls). A
rate limit answered by the provider (429) pauses the model for everyone, for its
``Retry-After`` or, without one, for a delay that doubles while 429s keep coming.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping

from metasync_llm.model import RateLimit

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

    def __init__(self, limit: RateLimit, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self._clock = clock
        self._slots = asyncio.Semaphore(limit.concurrency) if limit.concurrency else None
        self._turn = asyncio.Lock()  # one waiter decides at a time: first come, first served
        self._next_request = 0.0
        self._tokens = float(limit.tokens_per_minute or 0)
        self._tokens_at = clock()
        self._paused_until = 0.0
        self._pause = 0.0  # the last pause without Retry-After, doubled on the next 429

    async def acquire(self, tokens: int) -> None:
        """Wait until a call estimated at ``tokens`` tokens may start, then start it."""
        if self._slots is not None:
            await self._slots.acquire()
        try:
            async with self._turn:
                while (wait := self._wait(tokens)) > 0:
                    await asyncio.sleep(wait)
                self._take(tokens)
        except BaseException:
            if self._slots is not None:
                self._slots.release()
            raise

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

    def rate_limited(self, retry_after: float | None) -> float:
        """The provider said 429: pause the model for everyone; returns the pause."""
        if retry_after is None:
            self._pause = min(MAX_PAUSE, self._pause * 2 or FIRST_PAUSE)
            pause = self._pause
        else:
            pause = min(retry_after, 3600.0)
        self._paused_until = max(self._paused_until, self._clock() + pause)
        return pause

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

    def __init__(self, limits: Mapping[str, RateLimit | None]) -> None:
        self._models = {name: ModelLimiter(limit) for name, limit in limits.items() if limit}

    async def acquire(self, model: str, tokens: int) -> None:
        """Wait for ``model``'s turn for a call estimated at ``tokens`` tokens."""
        limiter = self._models.get(model)
        if limiter is not None:
            await limiter.acquire(tokens)

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

    async def rate_limited(self, model: str, retry_after: float | None) -> float:
        """Pause ``model`` after a 429 (a model without limits gets a limiter now)."""
        limiter = self._models.get(model)
        if limiter is None:
            limiter = self._models[model] = ModelLimiter(RateLimit())
        return limiter.rate_limited(retry_after)
