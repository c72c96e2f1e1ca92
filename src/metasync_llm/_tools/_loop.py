"""The tool loop: :func:`run_tools` and :func:`arun_tools`, exported by ``metasync_llm.tools``.

Each round is one ordinary call (``complete_with_model``, so retries, observers, the
ledger and the schema all apply) with the transcript as ``messages=``; the calls the model
asks for run, their results are appended as ``role: tool`` turns, and the next round
sends them. The loop ends when an answer has no tool calls. What differs between the two
forms is only how a round's calls run: :func:`_outcomes` (threads) and
:func:`_aoutcomes` (tasks); the rest is shared.
"""

from __future__ import annotations

import functools
import inspect
import json
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from metasync_llm._pipeline._outcome import plus_cost
from metasync_llm._tools._define import PreparedTool, prepare_tools
from metasync_llm.errors import ConfigurationError, ToolLoopError
from metasync_llm.result import CompletionResult
from metasync_llm.tools import ToolCall, ToolRun

if TYPE_CHECKING:
    from metasync_llm.connector import Model, ToolLike

__all__ = ["arun_tools", "run_tools"]


def run_tools(
    model: Model,
    system_prompt: str | None,
    user_content: str | None = None,
    *,
    tools: Sequence[ToolLike],
    messages: Sequence[Mapping[str, Any]] | None = None,
    max_rounds: int = 8,
    tool_timeout: float | None = None,
    tool_choice: str | None = None,
    **options: Any,
) -> ToolRun:
    """Call the model with ``tools``, run the functions it asks for, send their results
    back, and go on until it answers without tool calls.

    Takes ``complete_with_model``'s keywords (``temperature``, ``max_tokens``, ``api_key``,
    ``schema``, ...) for every round. ``tool_choice`` applies to the first round only (a
    forced call would otherwise never end). The calls of one round run at once: sync
    functions in threads, async ones on an event loop of their own. A function that raises,
    runs past ``tool_timeout`` seconds, or is called with invalid arguments is never
    retried: its error text goes back to the model as the result. More than ``max_rounds``
    rounds raises :class:`~metasync_llm.ToolLoopError` with the transcript.
    """
    from metasync_llm.connector import complete_with_model  # noqa: PLC0415 - loaded with it

    loop = _Loop(tools, user_content, messages, max_rounds, tool_timeout)
    choice = tool_choice
    while True:
        result = complete_with_model(
            model,
            system_prompt,
            messages=loop.messages,
            tools=loop.offered,
            tool_choice=choice,
            **options,
        )
        choice = None
        if loop.answered(result):
            return loop.run(result)
        loop.add_results(result, _outcomes(result.tool_calls, loop.tools, tool_timeout))
        loop.check_rounds(result)


async def arun_tools(
    model: Model,
    system_prompt: str | None,
    user_content: str | None = None,
    *,
    tools: Sequence[ToolLike],
    messages: Sequence[Mapping[str, Any]] | None = None,
    max_rounds: int = 8,
    tool_timeout: float | None = None,
    tool_choice: str | None = None,
    **options: Any,
) -> ToolRun:
    """The asyncio form of :func:`run_tools`: async functions run as tasks of the caller's
    loop, sync ones in worker threads; cancelling the call cancels the running tools."""
    from metasync_llm.connector import acomplete_with_model  # noqa: PLC0415

    loop = _Loop(tools, user_content, messages, max_rounds, tool_timeout)
    choice = tool_choice
    while True:
        result = await acomplete_with_model(
            model,
            system_prompt,
            messages=loop.messages,
            tools=loop.offered,
            tool_choice=choice,
            **options,
        )
        choice = None
        if loop.answered(result):
            return loop.run(result)
        loop.add_results(result, await _aoutcomes(result.tool_calls, loop.tools, tool_timeout))
        loop.check_rounds(result)


class _Loop:
    """The transcript, the rounds and the totals of one tool loop; no I/O."""

    def __init__(
        self,
        tools: Sequence[ToolLike],
        user: str | None,
        messages: Sequence[Mapping[str, Any]] | None,
        max_rounds: int,
        tool_timeout: float | None,
    ) -> None:
        if isinstance(max_rounds, bool) or not isinstance(max_rounds, int) or max_rounds < 1:
            raise ConfigurationError(
                f"max_rounds must be a positive integer, got {max_rounds!r}", fields=("max_rounds",)
            )
        if tool_timeout is not None and (
            isinstance(tool_timeout, bool)
            or not isinstance(tool_timeout, int | float)
            or not tool_timeout > 0
        ):
            raise ConfigurationError(
                f"tool_timeout must be a number of seconds > 0, got {tool_timeout!r}",
                fields=("tool_timeout",),
            )
        self.tools = prepare_tools(tools)
        idle = [name for name, tool in self.tools.items() if not tool.runnable]
        if idle:
            raise ConfigurationError(
                f"run_tools runs the tools the model calls; {', '.join(map(repr, idle))} has no"
                " function (pass the function, or a Tool with function=)",
                fields=("tools",),
            )
        # The checked tools go to every round: nothing is built from a function twice.
        self.offered = [tool.tool for tool in self.tools.values()]
        if messages is None and not user:
            raise ConfigurationError(
                "run_tools needs user_content or messages", fields=("user_content", "messages")
            )
        self.messages: list[dict[str, Any]] = [dict(m) for m in messages or ()]
        if user:
            self.messages.append({"role": "user", "content": user})
        self.max_rounds = max_rounds
        self.rounds = 0
        self.spent: list[CompletionResult] = []

    def answered(self, result: CompletionResult) -> bool:
        self.rounds += 1
        self.spent.append(result)
        self.messages.append(result.message)
        return not result.tool_calls

    def add_results(self, result: CompletionResult, outcomes: list[str]) -> None:
        for call, content in zip(result.tool_calls, outcomes, strict=True):
            self.messages.append({"role": "tool", "tool_call_id": call.id, "content": content})

    def check_rounds(self, result: CompletionResult) -> None:
        if self.rounds >= self.max_rounds:
            raise ToolLoopError(
                f"{result.sdk} model {result.model!r} still called tools after"
                f" max_rounds={self.max_rounds} rounds (the transcript is in .messages; pass it"
                " as messages= to go on)",
                messages=self.messages,
                rounds=self.rounds,
                result=result,
                sdk=result.sdk,
                model=result.model,
            )

    def run(self, result: CompletionResult) -> ToolRun:
        def total(field: str) -> int | None:
            counts = [getattr(r, field) for r in self.spent]
            return None if None in counts else sum(counts)

        costs = [r.cost for r in self.spent if r.cost is not None]
        # A round without a cost makes the total unknown.
        cost = functools.reduce(plus_cost, costs) if len(costs) == len(self.spent) else None
        return ToolRun(
            result=result,
            messages=self.messages,
            rounds=self.rounds,
            prompt_tokens=total("prompt_tokens"),
            completion_tokens=total("completion_tokens"),
            total_tokens=total("total_tokens"),
            cost=cost,
        )


# -- running one round's calls ---------------------------------------------------------


def _outcomes(
    calls: tuple[ToolCall, ...], tools: Mapping[str, PreparedTool], timeout: float | None
) -> list[str]:
    """The result text of each call, run at once in threads (an async function on an event
    loop of its own in its thread)."""
    import asyncio  # noqa: PLC0415 - for async tool functions
    from concurrent.futures import ThreadPoolExecutor  # noqa: PLC0415
    from concurrent.futures import TimeoutError as FutureTimeout  # noqa: PLC0415

    def run(call: ToolCall) -> str:
        value = _invoke(tools[call.name], call)
        if inspect.isawaitable(value):
            value = asyncio.run(_awaited(value))
        return _text(value)

    outcomes: list[str] = [_refused(call) or "" for call in calls]
    todo = [n for n, call in enumerate(calls) if call.error is None]
    if not todo:
        return outcomes
    pool = ThreadPoolExecutor(max_workers=len(todo), thread_name_prefix="metasync-tool")
    try:
        futures = {n: pool.submit(run, calls[n]) for n in todo}
        deadline = None if timeout is None else time.monotonic() + timeout  # they run at once
        for n, future in futures.items():
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                outcomes[n] = future.result(timeout=left)
            except FutureTimeout:
                outcomes[n] = _timed_out(calls[n], timeout)
            except Exception as exc:
                outcomes[n] = _failed(exc)
    finally:
        pool.shutdown(wait=False, cancel_futures=True)  # a stuck function is not waited for
    return outcomes


async def _aoutcomes(
    calls: tuple[ToolCall, ...], tools: Mapping[str, PreparedTool], timeout: float | None
) -> list[str]:
    """:func:`_outcomes` on the caller's event loop: async functions as tasks, sync ones in
    worker threads; a cancelled caller cancels them all."""
    import asyncio  # noqa: PLC0415

    async def run(call: ToolCall) -> str:
        refused = _refused(call)
        if refused is not None:
            return refused
        tool = tools[call.name]
        try:
            if inspect.iscoroutinefunction(tool.tool.function):
                value = await asyncio.wait_for(_awaited(_invoke(tool, call)), timeout)
            else:
                value = await asyncio.wait_for(asyncio.to_thread(_invoke, tool, call), timeout)
                if inspect.isawaitable(value):
                    value = await asyncio.wait_for(_awaited(value), timeout)
        except TimeoutError:
            return _timed_out(call, timeout)
        except Exception as exc:
            return _failed(exc)
        return _text(value)

    return list(await asyncio.gather(*(run(call) for call in calls)))


def _invoke(tool: PreparedTool, call: ToolCall) -> Any:
    """Call the tool's function with the call's arguments (converted by pydantic for a
    function tool: a parameter typed as a model gets an instance)."""
    if tool.adapter is not None:
        from pydantic_core import ArgsKwargs  # noqa: PLC0415 - pydantic made the adapter

        return tool.adapter.validate_python(ArgsKwargs((), call.arguments))
    assert tool.tool.function is not None
    return tool.tool.function(**call.arguments)


async def _awaited(value: Any) -> Any:
    return await value


def _refused(call: ToolCall) -> str | None:
    return None if call.error is None else f"Error: {call.error}"


def _timed_out(call: ToolCall, timeout: float | None) -> str:
    return f"Error: the tool {call.name!r} did not finish within tool_timeout={timeout}s"


def _failed(exc: Exception) -> str:
    # The exception's type and message, never its traceback or its frames' locals.
    return f"Error: {type(exc).__name__}: {exc}"


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    dump = getattr(value, "model_dump_json", None)  # a pydantic model
    if callable(dump):
        return str(dump())
    return json.dumps(value, ensure_ascii=False, default=str)
