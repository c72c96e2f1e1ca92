"""Retries: which failures are retried, how long to wait between attempts, when to give up."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import ClassVar

from metasync_llm._record import Record
from metasync_llm._record import set_field as _set
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


class RetryPolicy(Record):
    """How the connector retries a failed call.

    ``attempts`` counts every try, the first included (1 = never retry). The wait before
    retry *n* is ``initial_delay * 2**(n-1)``, capped at ``max_delay``, with jitter (a
    random value between half and all of it), unless the provider's ``Retry-After`` says
    how long. No retry starts when it would end past ``deadline`` seconds from the first
    attempt. Only rate limits, server errors (but 501), connection failures and timeouts
    are retried; a stream is retried only before its first chunk.
    """

    __slots__ = ("attempts", "initial_delay", "max_delay", "deadline", "jitter")
    attempts: int
    initial_delay: float
    max_delay: float
    deadline: float
    jitter: bool

    #: Model-document keys of the ``retry`` block, by attribute.
    FIELDS: ClassVar[dict[str, str]] = {
        "attempts": "attempts",
        "initialDelay": "initial_delay",
        "maxDelay": "max_delay",
        "deadline": "deadline",
        "jitter": "jitter",
    }

    def __init__(
        self,
        attempts: int = 3,
        initial_delay: float = 0.5,
        max_delay: float = 8.0,
        deadline: float = 60.0,
        jitter: bool = True,
    ) -> None:
        _set(self, "attempts", attempts)
        _set(self, "initial_delay", initial_delay)
        _set(self, "max_delay", max_delay)
        _set(self, "deadline", deadline)
        _set(self, "jitter", jitter)

    def wait(self, error: MetasyncLLMError, failures: int, elapsed: float) -> float | None:
        """Seconds to wait before the next attempt, or ``None`` to give up.

        ``failures`` is how many attempts have failed, ``elapsed`` the seconds since the
        first one started.
        """
        if not isinstance(error, RETRYABLE) or failures >= self.attempts:
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


def parse_retry(block: object, problems: list[tuple[str, str]]) -> RetryPolicy:
    """The policy in a model document's ``retry`` block (defaults for what it leaves out)."""
    if block is None:
        return DEFAULT_POLICY
    if not isinstance(block, Mapping):
        problems.append(("retry", f"'retry' must be an object, got {block!r}"))
        return DEFAULT_POLICY
    values: dict[str, object] = {}
    for key, attr in RetryPolicy.FIELDS.items():
        if key not in block:
            continue
        value = block[key]
        field = f"retry.{key}"
        if attr == "jitter":
            ok = isinstance(value, bool)
            need = "true or false"
        elif attr == "attempts":
            ok = isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 20
            need = "an integer from 1 to 20"
        else:
            ok = (
                isinstance(value, (int, float))
                and not isinstance(value, bool)
                and 0 <= value <= 3600  # also rules out NaN and infinity
            )
            need = "seconds from 0 to 3600"
        if ok:
            values[attr] = value
        else:
            problems.append((field, f"'{field}' must be {need}, got {value!r}"))
    unknown = sorted(set(block) - set(RetryPolicy.FIELDS))
    if unknown:
        problems.append(
            ("retry", f"'retry' has unknown keys {unknown}; known: {', '.join(RetryPolicy.FIELDS)}")
        )
    return RetryPolicy(**values)  # type: ignore[arg-type]


DEFAULT_POLICY = RetryPolicy()
NO_RETRY = RetryPolicy(attempts=1)


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
