"""One batch row's call, and the output rows: an answer, an error, a line never called.

The job's workers (``_runner``) and the Ray engine's actors (``_ray``) call :func:`call`
for each request: within its model's limits (the limiter), retrying a 429 as the job's
``rate_limit_retries`` says, through a router when the row names a route.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import (
    Mapping,
)
from typing import Any

from metasync_llm._log import get_logger
from metasync_llm._pipeline._arguments import DEFAULT_MAX_TOKENS
from metasync_llm._pipeline._prepare import PreparedModel
from metasync_llm.attachments import Attachment
from metasync_llm.batch._limits import estimate_tokens
from metasync_llm.batch._requests import BatchRequest, Catalog, InputProblem
from metasync_llm.connector import acomplete_with_model
from metasync_llm.errors import MetasyncLLMError, RateLimitError
from metasync_llm.result import CompletionResult
from metasync_llm.retry import RETRYABLE
from metasync_llm.routing import Router

_log = get_logger(__name__)

#: Input lines read per trip to the reading thread (a pipe must not block the loop).


def problem_row(problem: InputProblem) -> dict[str, Any]:
    """The output row of a request that was not called."""
    where = f"line {problem.line}: " if problem.line is not None else ""
    return {
        "id": problem.id,
        "line": problem.line,
        "model": None,
        **_EMPTY,
        "elapsed": 0.0,
        "attempts": 0,
        "error": {
            "type": problem.type,
            "message": where + problem.message,
            "status": None,
            "retryable": False,
        },
    }


def unexpected_row(request: BatchRequest, error: Exception) -> dict[str, Any]:
    """The output row of a request whose call raised something no call should (a bug, a
    resource limit): its type and message, not retryable; the traceback is logged."""
    message = " ".join(str(error).split())[:500] or "(no message)"
    row = problem_row(InputProblem(request.line, message, request.id, type(error).__name__))
    row["model"] = request.model
    row["error"]["message"] = f"unexpected {type(error).__name__}: {message}"
    if request.metadata is not None:
        row["metadata"] = request.metadata
    return row


_EMPTY = {"text": None, "data": None, "usage": None, "cost": None, "finish_reason": None}


async def call(
    request: BatchRequest,
    catalog: Catalog,
    limiter: Any,
    policies: Mapping[str, Any],
    rate_limit_retries: int,
    warm: dict[str, asyncio.Future[None]] | None = None,
) -> dict[str, Any]:
    """One request, within its model's limits: its output row (errors included).

    ``limiter`` is a :class:`~metasync_llm.batch._limits.Limiter`, or anything with its
    coroutine methods (on Ray, a stand-in for the actor that holds the cluster's limits).
    ``warm`` holds, per model with limits, the creation of its client on this loop.
    """
    try:  # read once, off the loop; an unreadable file is this row's error, not the job's
        attached = [await asyncio.to_thread(Attachment.from_path, a) for a in request.attachments]
    except MetasyncLLMError as exc:
        return _error_row(request, exc, 0, 0.0)
    router = catalog.routes.get(request.model)
    if router is not None:
        return await _routed(request, router, attached)
    model = catalog.models[request.model]
    max_tokens = request.max_tokens or min(
        DEFAULT_MAX_TOKENS, model.settings.max_token or DEFAULT_MAX_TOKENS
    )
    chars = len(request.system) + len(request.user)
    chars += sum(len(str(m.get("content", ""))) for m in request.messages or ())
    estimate = estimate_tokens(chars, max_tokens)
    attempts, seconds, limited = 0, 0.0, 0
    if model.settings.rate_limit is not None and warm is not None:
        # The client first: a paced call must not wait for it after its turn came (calls
        # granted while the first one imports the library would then all go out at once).
        ready = warm.get(request.model)
        if ready is None:
            ready = warm[request.model] = asyncio.ensure_future(_warm(model))
        await asyncio.shield(ready)
    while True:
        epoch = await limiter.acquire(request.model, estimate)
        used: int | None = None
        started = time.perf_counter()
        try:
            result = await acomplete_with_model(
                model,
                **_arguments(request, attached),
                retry=policies[request.model],
                registry=model.registry,
            )
        except RateLimitError as exc:
            used = 0  # refused: nothing was spent
            attempts += exc.attempts or 1
            seconds += time.perf_counter() - started
            limited += 1
            await limiter.rate_limited(request.model, exc.retry_after, epoch)
            if limited <= rate_limit_retries:
                continue
            return _error_row(request, exc, attempts, seconds)
        except MetasyncLLMError as exc:
            attempts += exc.attempts or 1
            return _error_row(request, exc, attempts, seconds + time.perf_counter() - started)
        else:
            used = result.total_tokens
            await limiter.succeeded(request.model)
            return _row(request, result, attempts + result.attempts, seconds + result.elapsed)
        finally:
            await limiter.release(request.model, estimate, used)


async def _warm(model: PreparedModel) -> None:
    """Create ``model``'s async client on this loop now (nothing if it cannot: the call
    reports why)."""
    from metasync_llm._keys import resolve_api_key  # noqa: PLC0415
    from metasync_llm.request import Request  # noqa: PLC0415

    sdk = model.loaded.sdk
    try:
        key = resolve_api_key(model.settings, model.document, required=sdk.requires_api_key)
        probe = Request(
            config=model.document,
            system_prompt="",
            user_content="",
            temperature=1.0,
            max_tokens=1,
            api_key=key,
        )
        await sdk.async_client_for(probe)
    except (MetasyncLLMError, NotImplementedError):
        pass  # no key (the call says so), or a plugin that makes no clients


def _row(
    request: BatchRequest, result: CompletionResult, attempts: int, seconds: float
) -> dict[str, Any]:
    cost = result.cost
    row: dict[str, Any] = {
        "id": request.id,
        "line": request.line,
        "model": request.model,
        "text": result.text,
        "data": result.data,
        "usage": {
            "prompt": result.prompt_tokens,
            "completion": result.completion_tokens,
            "total": result.total_tokens,
        },
        "cost": None
        if cost is None
        else {
            "input": cost.input,
            "output": cost.output,
            "total": cost.total,
            "currency": cost.currency,
        },
        "finish_reason": result.finish_reason,
        "elapsed": round(seconds, 6),
        "attempts": attempts,
        "error": None,
    }
    if result.route_attempts:  # a route: who answered, and who was tried first
        row["answered_by"] = result.model
        row["route_attempts"] = [
            {"model": a.model, "error": a.error} for a in result.route_attempts
        ]
    if request.metadata is not None:
        row["metadata"] = request.metadata
    return row


def _arguments(request: BatchRequest, attached: list[Attachment]) -> dict[str, Any]:
    """The connector's arguments of a row (after the document)."""
    return {
        "system_prompt": request.system,
        "user_content": request.user,
        "temperature": request.temperature if request.temperature is not None else 1,
        "max_tokens": request.max_tokens,
        "messages": request.messages,
        "schema": request.schema,
        "stop": request.stop or None,
        "attachments": attached or None,
        "reasoning": request.reasoning,
    }


async def _routed(
    request: BatchRequest, router: Router, attached: list[Attachment]
) -> dict[str, Any]:
    """A row whose model is a route: the router moves it on past a failing document (a
    429 cools that document; the job does not pause)."""
    started = time.perf_counter()
    try:
        result = await router.acomplete(**_arguments(request, attached))
    except MetasyncLLMError as exc:
        tries = len(getattr(exc, "route_attempts", ())) or exc.attempts or 1
        return _error_row(request, exc, tries, time.perf_counter() - started)
    return _row(request, result, result.attempts, result.elapsed)


def _error_row(
    request: BatchRequest, error: MetasyncLLMError, attempts: int, seconds: float
) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": request.id,
        "line": request.line,
        "model": request.model,
        **_EMPTY,
        "elapsed": round(seconds, 6),
        "attempts": attempts,
        "error": {
            "type": type(error).__name__,
            "message": str(error),
            "status": error.status,
            "retryable": isinstance(error, RETRYABLE),
        },
    }
    if request.metadata is not None:
        row["metadata"] = request.metadata
    return row
