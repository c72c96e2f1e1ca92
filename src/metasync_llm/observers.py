"""Observers of calls: registering them, and the per-call emitter that keeps them isolated.

An observer is any object (or module) with some of the ``metasync_llm_call_*`` hooks of
:mod:`metasync_llm.hookspecs`, marked with ``@hookimpl`` or not. Installed distributions
register theirs under the ``metasync_llm.observers`` entry-point group; code calls
:func:`register_observer`. An observer that raises is logged once (per observer and hook)
and never changes a call's outcome.
"""

from __future__ import annotations

import itertools
import time
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from metasync_llm.events import (
    CallContent,
    CallEnded,
    CallRetry,
    CallStarted,
    FirstChunk,
    RouteEnded,
    RouteStarted,
)

if TYPE_CHECKING:
    from metasync_llm._pipeline._prepare import Call
    from metasync_llm.errors import MetasyncLLMError
    from metasync_llm.registry import PluginRegistry
    from metasync_llm.result import CompletionResult, RouteAttempt

_ids = itertools.count(1)
_reported: set[tuple[str, str]] = set()
#: The routed call a try belongs to (``route_id``, route name), set by the router around
#: each try: the try's ``CallStarted`` carries it.
current_route: ContextVar[tuple[int, str] | None] = ContextVar("metasync_llm_route", default=None)


def register_observer(
    observer: object, *, name: str | None = None, registry: PluginRegistry | None = None
) -> str:
    """Register ``observer`` (its hooks receive every call's events); returns its name.

    It stays registered when the registry discovers again (``refresh``). Raises
    ``ValueError`` when it has no observer hook or a hook's arguments are not the spec's.
    """
    from metasync_llm.registry import SDKRegistry  # noqa: PLC0415

    return (registry or SDKRegistry).register_observer(observer, name=name)


def unregister_observer(name: str, *, registry: PluginRegistry | None = None) -> None:
    """Stop sending events to the observer registered as ``name``."""
    from metasync_llm.registry import SDKRegistry  # noqa: PLC0415

    (registry or SDKRegistry).unregister_observer(name)


class CallWatch:
    """The events of one call, sent to the observers of its plugin manager.

    The connector makes one per call only when observers are registered; every hook of
    every observer is called inside its own ``try``.
    """

    __slots__ = ("_call", "_ended", "_hook", "_start_clock", "started")

    def __init__(self, hook: Any, call: Call, *, stream: bool, asynchronous: bool) -> None:
        self._hook = hook
        self._call = call
        self._ended = False
        settings, request = call.settings, call.request
        endpoint = request.config.get("endpoint")
        deployment = request.config.get("deployment")
        route = current_route.get()  # set by a router around its tries
        self.started = CallStarted(
            call_id=next(_ids),
            model=settings.name,
            sdk=settings.sdk,
            deployment=deployment if isinstance(deployment, str) else None,
            endpoint=endpoint if isinstance(endpoint, str) else None,
            stream=stream,
            asynchronous=asynchronous,
            temperature=request.temperature,
            max_tokens=request.max_tokens,
            schema=call.schema is not None,
            stop=len(request.stop),
            turns=len(request.messages) or 1,
            started=time.time(),
            route_id=route[0] if route is not None else None,
            route=route[1] if route is not None else None,
        )
        self._start_clock = time.perf_counter()
        _emit(hook.metasync_llm_call_started, self.started)

    def first_chunk(self, seconds: float) -> None:
        start = self.started
        _emit(
            self._hook.metasync_llm_call_first_chunk,
            FirstChunk(call_id=start.call_id, model=start.model, sdk=start.sdk, seconds=seconds),
        )

    def retry(self, attempt: int, error: MetasyncLLMError, delay: float) -> None:
        start = self.started
        event = CallRetry(
            call_id=start.call_id,
            model=start.model,
            sdk=start.sdk,
            attempt=attempt,
            error_type=type(error).__name__,
            status=error.status,
            delay=delay,
        )
        _emit(self._hook.metasync_llm_call_retry, event)

    def ended(
        self,
        *,
        result: CompletionResult | None = None,
        error: BaseException | None = None,
        outcome: str | None = None,
        attempts: int = 1,
        answer: str = "",
        first_chunk: float | None = None,
    ) -> None:
        """The call ended (only the first report counts)."""
        if self._ended:
            return
        self._ended = True
        start = self.started
        if self._hook.metasync_llm_call_content.get_hookimpls():
            request = self._call.request
            turns = tuple((m.role, m.content) for m in request.turns()) or (("user", ""),)
            content = CallContent(
                call_id=start.call_id,
                model=start.model,
                sdk=start.sdk,
                system_prompt=request.system_prompt,
                messages=turns,
                answer=result.text if result is not None else answer,
                tool_calls=result.tool_calls if result is not None else (),
            )
            _emit(self._hook.metasync_llm_call_content, content)
        elapsed = time.perf_counter() - self._start_clock
        if result is not None:
            cost = result.cost
            event = CallEnded(
                start=start,
                outcome="ok",
                elapsed=result.elapsed,
                attempts=result.attempts,
                prompt_tokens=result.prompt_tokens,
                completion_tokens=result.completion_tokens,
                total_tokens=result.total_tokens,
                cost=cost.total if cost is not None else None,
                currency=cost.currency if cost is not None else None,
                time_to_first_chunk=result.time_to_first_chunk,
                finish_reason=result.finish_reason,
                request_id=result.request_id,
                tool_calls=tuple(call.name for call in result.tool_calls),
            )
        else:
            status = getattr(error, "status", None)
            event = CallEnded(
                start=start,
                outcome=outcome or "error",
                elapsed=elapsed,
                attempts=getattr(error, "attempts", None) or attempts,
                time_to_first_chunk=first_chunk,
                request_id=getattr(error, "request_id", None),
                error_type=type(error).__name__ if error is not None else None,
                status=status if isinstance(status, int) else None,
            )
        _emit(self._hook.metasync_llm_call_ended, event)


class RouteWatch:
    """The start and end events of one routed call (made only when observers exist)."""

    __slots__ = ("_clock", "_hook", "started")

    def __init__(self, hook: Any, name: str, strategy: str, models: tuple[str, ...]) -> None:
        self._hook = hook
        self.started = RouteStarted(
            route_id=next(_ids), name=name, strategy=strategy, models=models, started=time.time()
        )
        self._clock = time.perf_counter()
        _emit(hook.metasync_llm_route_started, self.started)

    def ended(
        self,
        attempts: tuple[RouteAttempt, ...],
        model: str | None = None,
        error: BaseException | None = None,
        outcome: str | None = None,
    ) -> None:
        event = RouteEnded(
            start=self.started,
            outcome=outcome or ("ok" if error is None else "error"),
            elapsed=time.perf_counter() - self._clock,
            attempts=attempts,
            model=model,
            error_type=type(error).__name__ if error is not None else None,
        )
        _emit(self._hook.metasync_llm_route_ended, event)


def _emit(caller: Any, event: object) -> None:
    for impl in reversed(caller.get_hookimpls()):  # pluggy's order: the last registered first
        try:
            impl.function(*((event,) if impl.argnames else ()))
        except BaseException as exc:  # SystemExit, CancelledError too: a paid result stays
            if isinstance(exc, KeyboardInterrupt):
                raise  # the user's Ctrl-C, not the observer's doing
            key = (impl.plugin_name, caller.name)
            if key not in _reported:
                _reported.add(key)
                from metasync_llm._log import get_logger  # noqa: PLC0415 - rare path

                get_logger(__name__).warning(
                    "observer %r raised %s in %s (reported once; calls are not affected): %s",
                    impl.plugin_name,
                    type(exc).__name__,
                    caller.name,
                    exc,
                )


__all__ = ["CallWatch", "register_observer", "unregister_observer"]
