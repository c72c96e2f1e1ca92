"""A caller's ``messages=``, checked into the :class:`~metasync_llm.Message` turns of a request.

``_prepare`` calls :func:`conversation`. The format is OpenAI's, the one most services
already store: ``{"role", "content"}`` turns, a leading ``"system"`` turn, assistant turns
with ``tool_calls`` (``{"id", "name", "arguments"}``, as ``result.message`` writes them, or
OpenAI's ``{"id", "type": "function", "function": {"name", "arguments": "<json>"}}``),
and ``{"role": "tool", "tool_call_id", "content"}`` results, which must answer a call
made earlier in the conversation.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from metasync_llm.errors import ConfigurationError
from metasync_llm.request import Message

if TYPE_CHECKING:
    from metasync_llm._model import ModelSettings
    from metasync_llm.attachments import Attachment
    from metasync_llm.tools import ToolCall


def conversation(
    messages: object, system: str, settings: ModelSettings
) -> tuple[str, tuple[Message, ...]]:
    """``(system prompt, turns)`` of a caller's ``messages``; a leading ``"system"`` message
    is the system prompt when ``system_prompt`` is empty."""

    def invalid(why: str) -> ConfigurationError:
        return ConfigurationError(
            f"messages {why}", fields=("messages",), sdk=settings.sdk, model=settings.name
        )

    if isinstance(messages, str | bytes | Mapping) or not isinstance(messages, Sequence):
        raise invalid(
            f"must be a list of {{'role', 'content'}} objects, got {type(messages).__name__}"
        )
    turns: list[Message] = []
    called: dict[str, str] = {}  # tool call id -> tool name, of the calls made so far
    for index, item in enumerate(messages):
        if isinstance(item, Message):
            turn = item
        elif isinstance(item, Mapping):
            role, content = item.get("role"), item.get("content")
            if role == "system" and index == 0 and isinstance(content, str):
                if system:
                    raise invalid("hold a system message and system_prompt is given too: pick one")
                system = content
                continue
            turn = _turn(item, index, invalid)
        else:
            raise invalid(f"[{index}] is a {type(item).__name__}, not a {{'role', 'content'}} dict")
        if turn.role not in ("user", "assistant", "tool"):
            raise invalid(
                f"[{index}] has role {turn.role!r}: it must be 'user', 'assistant' or 'tool'"
            )
        if not isinstance(turn.content, str):
            raise invalid(
                f"[{index}] content must be a string or a list of strings and"
                f" metasync_llm.Attachment values, got {type(turn.content).__name__}"
            )
        if turn.role == "tool":
            name = called.get(turn.tool_call_id or "")
            if name is None:
                raise invalid(
                    f"[{index}] is a tool result for tool_call_id {turn.tool_call_id!r}, which no"
                    " earlier assistant turn's tool_calls holds"
                )
            turn = Message("tool", turn.content, tool_call_id=turn.tool_call_id, name=name)
        called.update((call.id, call.name) for call in turn.tool_calls)
        turns.append(turn)
    if not turns:
        raise invalid("must hold at least one user or assistant turn")
    return system, tuple(turns)


def _turn(item: Mapping[str, Any], index: int, invalid: Any) -> Message:
    role, content = item.get("role"), item.get("content")
    parts: tuple[str | Attachment, ...] = ()
    if isinstance(content, Sequence) and not isinstance(content, str | bytes):
        # Loaded with the first turn of parts: each of these modules costs ~2 ms to import.
        from metasync_llm.attachments import Attachment  # noqa: PLC0415

        parts = tuple(content)
        bad = [p for p in parts if not isinstance(p, str | Attachment)]
        if bad:
            raise invalid(
                f"[{index}] content holds a {type(bad[0]).__name__}: a part is a string or a"
                " metasync_llm.Attachment"
            )
        if role != "user" and any(isinstance(p, Attachment) for p in parts):
            raise invalid(f"[{index}] is a {role} turn: only user turns take attachments")
        content = "".join(p for p in parts if isinstance(p, str))
    reasoning = item.get("reasoning") or ()
    if role != "assistant" or not isinstance(reasoning, Sequence) or isinstance(reasoning, str):
        reasoning = ()
    calls: tuple[ToolCall, ...] = ()
    if role == "assistant" and item.get("tool_calls"):
        raw = item["tool_calls"]
        if not isinstance(raw, Sequence) or isinstance(raw, str | bytes):
            raise invalid(f"[{index}].tool_calls must be a list")
        calls = tuple(_call(c, f"[{index}].tool_calls[{n}]", invalid) for n, c in enumerate(raw))
        content = content or ""
    if role == "tool":
        call_id = item.get("tool_call_id")
        if not isinstance(call_id, str) or not call_id:
            raise invalid(f"[{index}] is a tool result without a tool_call_id")
        return Message("tool", content, tool_call_id=call_id)  # type: ignore[arg-type]
    blocks = tuple(dict(b) for b in reasoning if isinstance(b, Mapping))
    return Message(role, content, tool_calls=calls, parts=parts, reasoning=blocks)  # type: ignore[arg-type]


def _call(value: object, where: str, invalid: Any) -> ToolCall:
    from metasync_llm.tools import ToolCall  # noqa: PLC0415 - conversations with tool calls only

    if isinstance(value, ToolCall):
        return value
    if not isinstance(value, Mapping):
        raise invalid(f"{where} must be a {{'id', 'name', 'arguments'}} dict")
    function = value.get("function")
    source = function if isinstance(function, Mapping) else value
    call_id, name, arguments = value.get("id"), source.get("name"), source.get("arguments", {})
    if isinstance(arguments, str):  # OpenAI's form: the arguments' JSON text
        try:
            arguments = json.loads(arguments) if arguments.strip() else {}
        except ValueError:
            raise invalid(f"{where}.arguments is not JSON: {arguments[:100]}") from None
    if not isinstance(call_id, str) or not call_id or not isinstance(name, str) or not name:
        raise invalid(f"{where} needs a string 'id' and 'name'")
    if not isinstance(arguments, Mapping):
        raise invalid(f"{where}.arguments must be an object")
    return ToolCall(call_id, name, dict(arguments))
