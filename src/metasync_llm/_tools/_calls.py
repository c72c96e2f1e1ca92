"""The tool calls of an answer: assembled from a stream's fragments, then read strictly.

Plugins' readers feed the fragments a provider streams (OpenAI's ``delta.tool_calls``,
Anthropic's ``input_json_delta``) to a :class:`ToolCallAssembler` (``toolkit``) and put
its :meth:`~ToolCallAssembler.calls` on their ``StreamEnd``. ``_pipeline._outcome`` then
turns those :class:`~metasync_llm.result.RawToolCall` values into
:class:`~metasync_llm.ToolCall` values with :func:`read_calls`: arguments parsed as JSON
(never repaired: a call that runs must be what the model sent) and validated against the
tool's parameters; what is wrong goes in ``ToolCall.error``, never into a function.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from metasync_llm.result import RawToolCall
from metasync_llm.tools import ToolCall

if TYPE_CHECKING:
    from metasync_llm._tools._define import PreparedTool

#: Validation errors listed at most in ``ToolCall.error``.
MAX_ERRORS = 5


class ToolCallAssembler:
    """Joins streamed tool-call fragments, by the index the provider gives each call.

    The first fragment of a call names it (``id``, ``name``); later ones add to its
    ``arguments`` text. No I/O: a reader calls :meth:`add` per fragment and :meth:`calls`
    at the end.
    """

    __slots__ = ("_calls",)

    def __init__(self) -> None:
        self._calls: dict[int, list[Any]] = {}

    def add(
        self, index: int, *, id: str | None = None, name: str | None = None, arguments: str = ""
    ) -> None:
        entry = self._calls.setdefault(index, [None, "", []])
        if id and entry[0] is None:
            entry[0] = id
        if name:
            entry[1] = entry[1] or name
        if arguments:
            entry[2].append(arguments)

    def __bool__(self) -> bool:
        return bool(self._calls)

    def calls(self) -> tuple[RawToolCall, ...]:
        """The calls so far, in index order."""
        return tuple(
            RawToolCall(entry[0], entry[1], "".join(entry[2]))
            for _, entry in sorted(self._calls.items())
        )


def read_calls(
    raw: tuple[RawToolCall, ...], tools: Mapping[str, PreparedTool]
) -> tuple[ToolCall, ...]:
    """The checked :class:`ToolCall` of each raw call, in order; ids made up where the
    provider gave none (Gemini may not), so that results can name their call."""
    return tuple(_read(call, tools) for call in raw)


def _read(raw: RawToolCall, tools: Mapping[str, PreparedTool]) -> ToolCall:
    call_id = raw.id or f"call_{secrets.token_hex(8)}"
    arguments, error = _parsed(raw.arguments)
    tool = tools.get(raw.name)
    if tool is None:
        offered = ", ".join(map(repr, tools)) or "none"
        error = f"the model called {raw.name!r}, which is not one of the tools (offered: {offered})"
    elif error is None:
        problems = sorted(
            f"{_path(e.absolute_path)}: {e.message}"
            for e in tool.schema.validator.iter_errors(arguments)
        )
        if problems:
            error = "invalid arguments: " + "; ".join(problems[:MAX_ERRORS])
    return ToolCall(call_id, raw.name, arguments, error)


def _parsed(arguments: object) -> tuple[dict[str, Any], str | None]:
    if isinstance(arguments, Mapping):
        return dict(arguments), None
    if not isinstance(arguments, str):
        return {}, f"the arguments are {type(arguments).__name__}, not an object"
    if not arguments.strip():  # some servers send no text for a call without arguments
        return {}, None
    try:
        value = json.loads(arguments)
    except ValueError as exc:
        return {}, f"the arguments are not JSON ({exc}): {arguments[:200]}"
    except RecursionError:
        return {}, "the arguments are JSON nested too deeply"
    if not isinstance(value, dict):
        return {}, f"the arguments are {type(value).__name__} JSON, not an object"
    return value, None


def _path(parts: Any) -> str:
    return "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in parts)


def tool_result_object(content: str) -> dict[str, Any]:
    """A tool result as an object, for APIs that take results as objects (Gemini's
    ``functionResponse.response``): a JSON object as it is, anything else as ``{"result"}``."""
    try:
        value = json.loads(content)
    except (ValueError, RecursionError):
        return {"result": content}
    return value if isinstance(value, dict) else {"result": value}
