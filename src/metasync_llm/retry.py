"""Retries: which failures are retried, how long to wait between attempts, when to give up."""

from __future__ import annotations

import time
from dataclasses import dataclass

from metasync_llm.errors import (
    APIConnectionError,
    APITimeoutError,
    MetasyncLLMError,
    RateLimitError,
    ServerError,
)

#: Failures worth another attempt: the same request may well succeed a moment later.
RETRYABLE: tuple[type[MetasyncLLMError], ...] = (
    RateLimitError,
    ServerError,
    APIConnectionError,
    APITimeoutError,
)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How the connector retries a failed call.

    ``attempts`` counts every try, the first included (1 = never retry). The wait before
    retry *n* is ``initial_delay * 2**(n-1)``, capped at ``max_delay``, with jitter (a
    random value between half and all of it), unless the provider's ``Retry-After`` says
    how long. No retry starts when it would end past ``deadline`` seconds from the first
    attempt. Only rate limits, server errors (but 501), connection failures and timeouts
    are retried; a stream is retried only before its first chunk. With
    ``retry_rate_limits=False`` a rate limit ends the call at once, for a caller that paces
    many calls itself (a batch job slows the whole model down instead).
    """

    attempts: int = 3
    initial_delay: float = 0.5
    max_delay: float = 8.0
    deadline: float = 60.0
    jitter: bool = True
    retry_rate_limits: bool = True

    def wait(self, error: MetasyncLLMError, failures: int, elapsed: float) -> float | None:
        """Seconds to wait before the next attempt, or ``None`` to give up.

        ``failures`` is how many attempts have failed, ``elapsed`` the seconds since the
        first one started.
        """
        if not isinstance(error, RETRYABLE) or failures >= self.attempts:
            return None
        if isinstance(error, RateLimitError) and not self.retry_rate_limits:
            return None
        if isinstance(error, ServerError) and error.status == 501:
            return None  # "not implemented" will not change
        retry_after = error.retry_after if isinstance(error, RateLimitError) else None
        if retry_after is not None:
            delay = retry_after
        else:
            delay = min(self.max_delay, self.initial_delay * 2 ** (failures - 1))
            if self.jitter:
                import random  # noqa: PLC0415 - only needed once a call is retried

                delay = random.uniform(delay / 2, delay)
        if elapsed + delay >= self.deadline:
            return None
        return delay


DEFAULT_POLICY = RetryPolicy()


class Attempts:
    """Counts the attempts of one call and decides, after each failure, whether to go on."""

    def __init__(self, policy: RetryPolicy, sdk: str, model: str) -> None:
        self.policy = policy
        self.count = 0
        self.start = time.monotonic()
        self._sdk, self._model = sdk, model

    def begin(self) -> None:
        """An attempt starts."""
        self.count += 1

    def after_failure(self, error: MetasyncLLMError) -> float | None:
        """Seconds to wait before retrying ``error``, or ``None``: then it is final."""
        delay = self.policy.wait(error, self.count, time.monotonic() - self.start)
        error.attempts = self.count
        if delay is not None:
            from metasync_llm._log import get_logger  # noqa: PLC0415 - only when retrying

            get_logger("metasync_llm.retry").info(
                "%s model %r: attempt %d/%d failed (%s); retrying in %.2fs",
                self._sdk,
                self._model,
                self.count,
                self.policy.attempts,
                type(error).__name__,
                delay,
            )
        return delay
