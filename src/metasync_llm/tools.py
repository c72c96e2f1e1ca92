"""Tool calling: the tools a call offers, the calls a model makes, and the loop that runs them.

A tool is a Python function (its name, the first paragraph of its docstring and a JSON
Schema built from its type hints by pydantic), a :class:`Tool`, or a plain dict
``{"name", "description", "parameters"}``. Pass them as ``tools=[...]`` to
``complete_with_model`` and its siblings: ``result.tool_calls`` holds the
:class:`ToolCall` values the model asked for, ``result.message`` the assistant turn to
append to ``messages``. :func:`run_tools` (:func:`arun_tools`) runs the loop: call, run
the requested functions, send their results back, until the model answers in text.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from metasync_llm._lazy import lazy_exports

if TYPE_CHECKING:
    from metasync_llm.result import CompletionResult, Cost

__all__ = ["Tool", "ToolCall", "ToolRun", "arun_tools", "run_tools"]


@dataclass(frozen=True, slots=True)
class Tool:
    """A function the model may call: its ``name``, what it does (``description``), its
    arguments as a JSON Schema object (``parameters``), and the Python callable that
    :func:`run_tools` runs (``function``; a tool without one can be offered, not run)."""

    name: str
    description: str = ""
    parameters: Mapping[str, Any] = field(
        default_factory=lambda: {"type": "object", "properties": {}}
    )
    function: Callable[..., Any] | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class ToolCall:
    """One call the model asked for: the provider's call ``id``, the tool's ``name`` and its
    ``arguments`` (a dict, read strictly and validated against the tool's parameters).

    ``error`` says what is wrong with a call that must not run (arguments that are not
    JSON, or not valid; a tool that was not offered): ``arguments`` then holds what could
    be read. ``None`` for a valid call.
    """

    id: str
    name: str
    arguments: dict[str, Any]
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The call in the neutral message format: ``{"id", "name", "arguments"}``."""
        return {"id": self.id, "name": self.name, "arguments": self.arguments}


@dataclass(frozen=True, slots=True)
class ToolRun:
    """What :func:`run_tools` returns: the last answer, the transcript, and the totals.

    ``messages`` is the whole conversation (the caller's turns, each assistant turn with
    its tool calls, each tool result), ready to pass as ``messages=`` to go on. The token
    counts and the cost are summed over every round (``None`` when a round did not report
    its part).
    """

    result: CompletionResult
    messages: list[dict[str, Any]]
    rounds: int
    prompt_tokens: int | None
    completion_tokens: int | None
    total_tokens: int | None
    cost: Cost | None

    @property
    def text(self) -> str:
        """The last answer's text."""
        return self.result.text

    @property
    def usage(self) -> tuple[int | None, int | None, int | None]:
        """``(prompt_tokens, completion_tokens, total_tokens)`` over every round."""
        return (self.prompt_tokens, self.completion_tokens, self.total_tokens)


# The loop loads the connector: only when it is used.
__getattr__, __dir__ = lazy_exports(
    globals(), dict.fromkeys(("run_tools", "arun_tools"), "metasync_llm._tools._loop")
)

if TYPE_CHECKING:
    from metasync_llm._tools._loop import arun_tools as arun_tools  # noqa: PLC0414
    from metasync_llm._tools._loop import run_tools as run_tools  # noqa: PLC0414
