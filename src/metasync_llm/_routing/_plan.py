"""One routed call's way through a router, free of I/O but for the limiter's waits.

``metasync_llm.routing.Router`` and the routed streams (``_streams``) make a :class:`Plan`
per call and ask it for the next document, the options of each try (the route's deadline
bounds its retries), and what a try's end means: move on, raise, or answer.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from metasync_llm._pipeline._arguments import DEFAULT_MAX_TOKENS
from metasync_llm._routing._health import HEALTH_ERRORS
from metasync_llm.errors import (
    AllModelsFailedError,
    ConfigurationError,
    MetasyncLLMError,
    RateLimitError,
)
from metasync_llm.observers import RouteWatch, current_route
from metasync_llm.result import CompletionResult, RouteAttempt

if TYPE_CHECKING:
    from metasync_llm.routing import Router


class Plan:
    """One call's way through a router, free of I/O: the next document, the options of
    each try (the route's deadline bounds its retries), the outcome of each try."""

    def __init__(self, router: Router, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        self.router = router
        #: The call's arguments after the document, as the caller gave them.
        self.args = args
        self.kwargs = kwargs
        self.tried: set[int] = set()
        self.attempts: list[RouteAttempt] = []
        self.started = time.monotonic()
        self.wait = 0.0
        self.epoch = 0  # the limiter's pause count when this try was let through
        #: The route's events, when observers are registered (else no cost).
        self.watch: RouteWatch | None = None
        found = router.models[0].discovery
        if found.observed:
            models = tuple(m.name for m in router.models)
            self.watch = RouteWatch(found.plugin_manager.hook, router.name, router.strategy, models)

    @contextmanager
    def trying(self) -> Iterator[None]:
        """Around a try: its ``CallStarted`` names this routed call."""
        if self.watch is None:
            yield
            return
        token = current_route.set((self.watch.started.route_id, self.router.name))
        try:
            yield
        finally:
            current_route.reset(token)

    async def paced(self, index: int) -> None:
        """Async calls: wait for the document's turn under its ``rateLimit`` (the batch
        job's limiter, one per event loop), if it has one."""
        limiter = self.router.limiter()
        if limiter is not None:
            self.epoch = await limiter.acquire(self.router.models[index].name, self.estimate())

    async def unpaced(self, index: int, outcome: CompletionResult | BaseException | None) -> None:
        """The try's end, for the document's limits: its tokens, or the 429 that pauses it."""
        limiter = self.router.limiter()
        if limiter is None:
            return
        name = self.router.models[index].name
        used = outcome.total_tokens if isinstance(outcome, CompletionResult) else 0
        await limiter.release(name, self.estimate(), used)
        if isinstance(outcome, RateLimitError):
            await limiter.rate_limited(name, outcome.retry_after, self.epoch)
        elif isinstance(outcome, CompletionResult):
            await limiter.succeeded(name)

    def estimate(self) -> int:
        """The call's tokens before it is made, as the batch job estimates them."""
        from metasync_llm.batch._limits import estimate_tokens  # noqa: PLC0415

        args, kwargs = self.args, self.kwargs
        texts = [a for a in args[:2] if isinstance(a, str)]
        texts += [str(kwargs.get(k) or "") for k in ("system_prompt", "user_content", "messages")]
        limit = kwargs.get("max_tokens", args[3] if len(args) > 3 else None)
        return estimate_tokens(sum(map(len, texts)), limit or DEFAULT_MAX_TOKENS)

    def _end(
        self,
        model: str | None = None,
        error: BaseException | None = None,
        outcome: str | None = None,
    ) -> None:
        """Tell the observers the routed call ended (once)."""
        watch, self.watch = self.watch, None
        if watch is not None:
            watch.ended(tuple(self.attempts), model, error, outcome)

    def left(self) -> float | None:
        deadline = self.router.deadline
        return None if deadline is None else deadline - (time.monotonic() - self.started)

    def next_or_wait(self) -> int | None:
        """The document to try, or ``None`` with :attr:`wait` set: every untried one is
        cooling and the first comes back within the deadline. Raises
        :class:`AllModelsFailedError` when none is left."""
        left = self.left()
        if left is not None and left <= 0:
            raise self._all_failed("the route's deadline passed")
        index, wait = self.router.health.pick(self.tried)
        if index is not None:
            return index
        if math.isinf(wait):
            raise self._all_failed("every document failed")
        if left is not None and wait > left:
            raise self._all_failed(
                f"every document left is cooling for {wait:.1f}s or more, past the deadline"
            )
        self.wait = wait
        return None

    def options(self, index: int) -> dict[str, Any]:
        """The keywords of a try: the caller's, the document's registry, and a retry
        policy whose deadline is what is left of the route's."""
        model = self.router.models[index]
        options = {**self.kwargs, "registry": model.registry}
        left = self.left()
        if left is not None:
            policy = self.kwargs.get("retry") or model.settings.retry
            options["retry"] = replace(policy, deadline=min(policy.deadline, left))
        return options

    def failed(self, index: int, error: MetasyncLLMError) -> None:
        """A try failed: move on (return) if the router falls back on it, else raise it
        (an error of the request itself, which says nothing of the document's health)."""
        if isinstance(error, ConfigurationError) or not isinstance(error, self.router.fallback_on):
            self.router.health.released(index, error)
            self._attempt(index, error)
            self._end(error=error)
            raise error
        self._count(index, error)
        self.tried.add(index)

    def stopped(self, index: int, error: MetasyncLLMError | None) -> None:
        """A stream that answered ends unanswered: it failed after its first chunk (no
        moving on), or ``None``, it was closed early."""
        if error is None:
            self.router.health.released(index)
            self._end(outcome="closed")
        else:
            self._count(index, error)
            self._end(error=error)

    def _count(self, index: int, error: MetasyncLLMError) -> None:
        """The try's error: against the document's health when it says the document is
        unwell (not a context too long, the request's own matter), and in the attempts."""
        if isinstance(error, HEALTH_ERRORS):
            self.router.health.failed(index, error)
        else:
            self.router.health.released(index, error)
        self._attempt(index, error)

    def _attempt(self, index: int, error: MetasyncLLMError) -> None:
        self.attempts.append(RouteAttempt(self.router.models[index].name, type(error).__name__))

    def answered(self, index: int, result: CompletionResult) -> CompletionResult:
        self.router.health.succeeded(index)
        self.attempts.append(RouteAttempt(result.model, None))
        self._end(model=result.model)
        return replace(result, route_attempts=tuple(self.attempts))

    def _all_failed(self, why: str) -> AllModelsFailedError:
        deployments = self.router.health.deployments
        errors = {d.name: d.last_error for d in deployments}
        listed = "; ".join(
            f"{name}: {type(e).__name__ if e else 'not tried'}" for name, e in errors.items()
        )
        error = AllModelsFailedError(
            f"router {self.router.name!r}: {why} ({listed})",
            errors=errors,
            route_attempts=self.attempts,
            model=self.router.name,
        )
        self._end(error=error)
        return error
