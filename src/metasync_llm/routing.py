"""Routing across model documents: :class:`Router` (fallback, load balancing, cooldowns).

A router holds several documents for one job (the same model in two regions, a provider
and its backup) and the health of each. A call goes to one; when that one fails in a way
another may not (rate limits, server errors, timeouts, connection failures once its own
retries are spent; by default also a context window too small and a wrong key), the call
moves on to the next. A document that keeps failing cools down for a while; then one call
probes it. The caller sees one call: ``result.model`` says who answered and
``result.route_attempts`` who was tried.

Each try is an ordinary call through the connector (its retries, observers, ledger). The
decisions are :class:`~metasync_llm._routing._health.Health`'s and
:class:`~metasync_llm._routing._plan.Plan`'s; the entry points below and the routed streams
(``_routing._streams``) only loop over them.
"""

from __future__ import annotations

import math
import threading
import time
import weakref
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from metasync_llm._pipeline._prepare import PreparedModel, prepare_model
from metasync_llm._routing._documents import (
    ROUTE_SETTINGS,
    check_routes,
    is_route,
    resolve_route,
)
from metasync_llm._routing._health import HEALTH_ERRORS, Deployment, Health
from metasync_llm._routing._plan import Plan
from metasync_llm._routing._streams import AsyncRouterStream, RouterStream
from metasync_llm.connector import (
    acomplete_with_model,
    complete_with_model,
)
from metasync_llm.errors import (
    ConfigurationError,
    ContextWindowExceededError,
    MetasyncLLMError,
)
from metasync_llm.registry import PluginRegistry
from metasync_llm.result import CompletionResult

if TYPE_CHECKING:
    from metasync_llm.batch._limits import Limiter

__all__ = ["AsyncRouterStream", "Router", "RouterStream", "check_routes", "is_route"]

STRATEGIES = ("fallback", "balance")
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
        plan = Plan(self, args, kwargs)
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

        plan = Plan(self, args, kwargs)
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
