"""Routing across model documents: :class:`Router` (fallback, load balancing, cooldowns).

A router holds several documents for one job (the same model in two regions, a provider
and its backup) and the health of each. A call goes to one; when that one fails in a way
another may not (rate limits, server errors, timeouts, connection failures once its own
retries are spent; by default also a context window too small and a wrong key), the call
moves on to the next. A document that keeps failing cools down for a while; then one call
probes it. The caller sees one call: ``result.model`` says who answered and
``result.route_attempts`` who was tried.

Each try is an ordinary call through the connector (its retries, observers, ledger). The
decisions are :class:`~metasync_llm._routing._health.Health`'s and :class:`_Plan`'s, free
of I/O; the four entry points below only loop over them.
"""

from __future__ import annotations

import math
import threading
import time
import weakref
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from types import TracebackType
from typing import TYPE_CHECKING, Any

from metasync_llm._pipeline._prepare import DEFAULT_MAX_TOKENS, PreparedModel, prepare_model
from metasync_llm._pipeline._run import AsyncCompletionStream, CompletionStream
from metasync_llm._routing._documents import (
    ROUTE_SETTINGS,
    check_routes,
    is_route,
    resolve_route,
)
from metasync_llm._routing._health import Deployment, Health
from metasync_llm.connector import (
    acomplete_with_model,
    astream_with_model,
    complete_with_model,
    stream_with_model,
)
from metasync_llm.errors import (
    AllModelsFailedError,
    AuthenticationError,
    ConfigurationError,
    ContextWindowExceededError,
    MetasyncLLMError,
    RateLimitError,
)
from metasync_llm.observers import RouteWatch, current_route
from metasync_llm.registry import PluginRegistry
from metasync_llm.result import CompletionResult, RouteAttempt
from metasync_llm.retry import RETRYABLE

if TYPE_CHECKING:
    from metasync_llm.batch._limits import Limiter

__all__ = ["AsyncRouterStream", "Router", "RouterStream", "check_routes", "is_route"]

STRATEGIES = ("fallback", "balance")
#: Failures that say a document is unhealthy: they count towards its cooldown.
HEALTH_ERRORS: tuple[type[MetasyncLLMError], ...] = (*RETRYABLE, AuthenticationError)
#: What moves a call to the next document by default.
DEFAULT_FALLBACK_ON: tuple[type[MetasyncLLMError], ...] = (
    *HEALTH_ERRORS,
    ContextWindowExceededError,
)


class Router:
    """Calls across ``models`` (model documents or prepared models), as one.

    ``strategy``: ``"fallback"`` (in order; the next only when one fails) or
    ``"balance"`` (by each document's optional ``weight``, the one with the fewest calls
    in flight first). ``fallback_on``: the error types that move a call on (default: rate
    limits, server errors, timeouts, connection failures, ``ContextWindowExceededError``,
    ``AuthenticationError``); a ``ConfigurationError`` of the call's own arguments never
    does. ``failures`` within ``window`` seconds cool a document for ``cooldown`` seconds.
    ``deadline``: seconds for a whole call, across documents and their retries.

    Safe to share across threads and event loops. ``complete``, ``stream``, ``acomplete``
    and ``astream`` take what ``complete_with_model`` and its siblings take after the
    document.
    """

    def __init__(
        self,
        models: Sequence[Mapping[str, Any] | PreparedModel],
        *,
        strategy: str = "fallback",
        fallback_on: Sequence[type[MetasyncLLMError]] | None = None,
        failures: int = 3,
        window: float = 60.0,
        cooldown: float = 30.0,
        deadline: float | None = None,
        registry: PluginRegistry | None = None,
        name: str | None = None,
    ) -> None:
        if strategy not in STRATEGIES:
            raise _error(f"strategy must be 'fallback' or 'balance', got {strategy!r}", "strategy")
        if isinstance(models, Mapping | str) or not isinstance(models, Sequence) or not models:
            raise _error("models must be a non-empty list of model documents", "models")
        for label, value, least in (
            ("failures", failures, 1),
            ("window", window, 0),
            ("cooldown", cooldown, 0),
        ):
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not value >= least
                or math.isinf(value)
            ):
                raise _error(f"{label} must be a finite number >= {least}, got {value!r}", label)
        if deadline is not None and (
            isinstance(deadline, bool) or not isinstance(deadline, int | float) or not deadline > 0
        ):
            raise _error(f"deadline must be a number of seconds > 0, got {deadline!r}", "deadline")
        self.models = [prepare_model(m, registry=registry) for m in models]
        names = [m.name for m in self.models]
        if len(set(names)) != len(names):
            raise _error(
                f"the documents' names must differ (they name the tries): {names}", "models"
            )
        deployments = [Deployment(m.name, _weight(m)) for m in self.models]
        self.strategy = strategy
        self.fallback_on = tuple(fallback_on) if fallback_on is not None else DEFAULT_FALLBACK_ON
        if not all(
            isinstance(t, type) and issubclass(t, MetasyncLLMError) for t in self.fallback_on
        ):
            raise _error("fallback_on must hold metasync_llm error types", "fallback_on")
        self.deadline = deadline
        self.name = name or "+".join(names)
        self._limits = {m.name: m.settings.rate_limit for m in self.models if m.settings.rate_limit}
        self._limiters: weakref.WeakKeyDictionary[Any, Limiter] = weakref.WeakKeyDictionary()
        self._limiters_lock = threading.Lock()
        self.health = Health(
            deployments,
            balance=strategy == "balance",
            failures=int(failures),
            window=window,
            cooldown=cooldown,
        )

    def __repr__(self) -> str:
        return f"<Router {self.name!r} {self.strategy} over {[m.name for m in self.models]}>"

    def limiter(self) -> Limiter | None:
        """The ``rateLimit`` of the documents that have one, for the running event loop (its
        waits are the loop's); ``None`` when none has limits. Sync calls are not paced."""
        if not self._limits:
            return None
        import asyncio  # noqa: PLC0415 - async calls only

        loop = asyncio.get_running_loop()
        with self._limiters_lock:
            found = self._limiters.get(loop)
            if found is None:
                from metasync_llm.batch._limits import Limiter  # noqa: PLC0415

                found = self._limiters[loop] = Limiter(self._limits)
        return found

    # -- the four entry points ------------------------------------------------------------

    def complete(self, *args: Any, **kwargs: Any) -> CompletionResult:
        """:func:`~metasync_llm.complete_with_model` through the route."""
        plan = _Plan(self, kwargs)
        while True:
            index = plan.next_or_wait()
            if index is None:
                time.sleep(plan.wait)
                continue
            try:
                with plan.trying():
                    result = complete_with_model(self.models[index], *args, **plan.options(index))
            except MetasyncLLMError as exc:
                plan.failed(index, exc)
                continue
            return plan.answered(index, result)

    async def acomplete(self, *args: Any, **kwargs: Any) -> CompletionResult:
        """:func:`~metasync_llm.acomplete_with_model` through the route."""
        import asyncio  # noqa: PLC0415 - not for sync-only processes: its import costs ~40 ms

        plan = _Plan(self, kwargs, args)
        while True:
            index = plan.next_or_wait()
            if index is None:
                await asyncio.sleep(plan.wait)
                continue
            try:
                await plan.paced(index)
                with plan.trying():
                    result = await acomplete_with_model(
                        self.models[index], *args, **plan.options(index)
                    )
            except MetasyncLLMError as exc:
                await plan.unpaced(index, exc)
                plan.failed(index, exc)
                continue
            except BaseException:  # cancelled: nothing learnt of the document
                await asyncio.shield(plan.unpaced(index, None))
                self.health.released(index)
                raise
            await plan.unpaced(index, result)
            return plan.answered(index, result)

    def stream(self, *args: Any, **kwargs: Any) -> RouterStream:
        """:func:`~metasync_llm.stream_with_model` through the route: a call moves on only
        before its first chunk reaches the caller."""
        return RouterStream(self, args, kwargs)

    def astream(self, *args: Any, **kwargs: Any) -> AsyncRouterStream:
        """:func:`~metasync_llm.astream_with_model` through the route (``async with``)."""
        return AsyncRouterStream(self, args, kwargs)


class _Plan:
    """One call's way through a router, free of I/O: the next document, the options of
    each try (the route's deadline bounds its retries), the outcome of each try."""

    def __init__(self, router: Router, kwargs: dict[str, Any], args: tuple[Any, ...] = ()) -> None:
        self.router = router
        self.kwargs = kwargs
        self.args = args
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

    def _end(self, model: str | None = None, error: BaseException | None = None) -> None:
        watch, self.watch = self.watch, None
        if watch is not None:
            watch.ended(tuple(self.attempts), model, error)

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
        """A try failed: move on (return) if the router falls back on it, else raise it."""
        health = self.router.health
        if isinstance(error, ConfigurationError) or not isinstance(error, self.router.fallback_on):
            health.released(index, error)
            self.attempts.append(RouteAttempt(self.router.models[index].name, type(error).__name__))
            self._end(error=error)
            raise error
        if isinstance(error, HEALTH_ERRORS):
            health.failed(index, error)
        else:  # the request's own matter (a context too long): the document is fine
            health.released(index, error)
        self.tried.add(index)
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


class _RoutedStream:
    """What a routed stream knows, sync or async: its plan, the stream that answers, the
    chunk read ahead (to know the call need not move on), and the end."""

    def __init__(self, router: Router, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        self._plan = _Plan(router, kwargs)
        self._args = args
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
            health = self._plan.router.health
            if isinstance(error, HEALTH_ERRORS):
                health.failed(index, error)
            else:
                health.released(index, error)

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
                        plan.router.models[index], *self._args, **plan.options(index)
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
                        plan.router.models[index], *self._args, **plan.options(index)
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


def _weight(model: PreparedModel) -> float:
    weight = model.document.get("weight", 1)
    if isinstance(weight, bool) or not isinstance(weight, int | float) or not 0 < weight < math.inf:
        raise ConfigurationError(
            f"model {model.name!r}: 'weight' must be a positive number, got {weight!r}",
            fields=("weight",),
            model=model.name,
        )
    return float(weight)


def _error(message: str, field: str) -> ConfigurationError:
    return ConfigurationError(f"Router: {message}", fields=(field,))


def from_catalog(
    catalog: Sequence[Mapping[str, Any]], name: str, *, registry: PluginRegistry | None = None
) -> Router:
    """The :class:`Router` of the route document ``name`` in ``catalog`` (its names resolved
    against the catalog's documents)."""
    route, documents = resolve_route(catalog, name)
    settings = {key: route[key] for key in ROUTE_SETTINGS if key in route}
    return Router(
        documents,
        strategy=str(route.get("strategy", "fallback")),
        registry=registry,
        name=name,
        **settings,
    )
