"""Result types: a plugin's answer (``Completion``, ``StreamEnd``) and the connector's result."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from metasync_llm.tools import ToolCall

Usage = tuple[int | None, int | None, int | None]


class _Unpacks:
    """Makes a result unpack and index like the seed's ``(text, prompt, completion, total)``."""

    __slots__ = ()
    text: str
    prompt_tokens: int | None
    completion_tokens: int | None
    total_tokens: int | None

    def _as_tuple(self) -> tuple[str, int | None, int | None, int | None]:
        return (self.text, self.prompt_tokens, self.completion_tokens, self.total_tokens)

    def __iter__(self) -> Iterator[Any]:
        return iter(self._as_tuple())

    def __len__(self) -> int:
        return 4

    def __getitem__(self, index: int) -> Any:
        return self._as_tuple()[index]


@dataclass(frozen=True, slots=True)
class Completion(_Unpacks):
    """A plugin's whole answer, unpacking as ``(text, prompt, completion, total)`` token counts.

    A plain 4-tuple is an equally valid answer from the seed's ``complete``; this class can
    also carry why the answer stopped (``finish_reason``: ``"stop"``, ``"length"``,
    ``"content_filter"``, ...) and the provider's request id. A count the provider did not
    report is ``None``.
    """

    text: str
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    total_tokens: int | None = None
    finish_reason: str | None = None
    request_id: str | None = None


@dataclass(frozen=True, slots=True)
class RawToolCall:
    """A tool call as a plugin read it from the provider, on its ``StreamEnd``.

    ``arguments`` is the JSON text the provider sent (OpenAI's ``function.arguments``, the
    joined fragments of a stream) or the object it sent (Anthropic's ``input``, Gemini's
    ``args``); ``id`` is ``None`` when the provider gives calls no id. The core reads the
    arguments strictly and checks them against the tool's parameters.
    """

    id: str | None
    name: str
    arguments: str | Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class StreamEnd:
    """The last item of a plugin's ``stream``/``astream``: usage and why the answer stopped.

    A plugin yields it only once the provider has said the answer is complete (OpenAI's
    ``finish_reason``, Anthropic's ``message_stop``, ...); a stream that ends without it is
    an answer cut short. A count the provider did not report is ``None``.
    """

    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    total_tokens: int | None = None
    finish_reason: str | None = None
    request_id: str | None = None
    #: The tool calls of the answer, in the order the model made them.
    tool_calls: tuple[RawToolCall, ...] = ()
    #: The reasoning text or summary the provider returned (never in the text chunks), the
    #: reasoning tokens it reported (part of ``completion_tokens``), and its own reasoning
    #: blocks to send back in a conversation (Anthropic's signed thinking blocks).
    reasoning: str | None = None
    reasoning_tokens: int | None = None
    reasoning_blocks: tuple[Mapping[str, Any], ...] = ()


#: What a plugin's ``stream`` and ``astream`` yield: text chunks, then one ``StreamEnd``.
StreamItem = str | StreamEnd


@dataclass(frozen=True, slots=True)
class RouteAttempt:
    """One try of a routed call: the document's ``model`` name and the ``error`` type that
    moved the call on (``None`` for the document that answered)."""

    model: str
    error: str | None = None


@dataclass(frozen=True, slots=True)
class Cost:
    """Cost of one call from the model document's ``cost`` block; unknown parts are ``None``."""

    currency: str | None
    input: float | None
    output: float | None
    total: float | None


@dataclass(frozen=True, slots=True)
class CompletionResult(_Unpacks):
    """What :func:`metasync_llm.complete_with_model` returns.

    Unpacks like the seed's 4-tuple (``text, p, c, t = result``) and carries the rest as
    attributes. ``raw_text`` is the answer exactly as the provider sent it; ``text`` is the
    same unless JSON repair changed it (then ``json_repaired`` is true).
    """

    text: str
    prompt_tokens: int | None
    completion_tokens: int | None
    total_tokens: int | None
    elapsed: float
    sdk: str
    model: str
    cost: Cost | None
    json_repaired: bool
    raw_text: str
    finish_reason: str | None = None
    truncated: bool = False
    request_id: str | None = None
    temperature: float | None = None
    max_tokens: int | None = None
    #: Seconds from the call to the first text chunk (streams only).
    time_to_first_chunk: float | None = None
    #: Attempts made, the successful one included (more than 1 after retries).
    attempts: int = 1
    #: Seconds of ``elapsed`` spent creating the provider's client, on its first use
    #: (importing the client library); ``None`` when the call reused a client.
    setup: float | None = None
    #: With ``schema=``: the answer's value, validated (a model instance for a pydantic
    #: model); ``None`` otherwise.
    data: Any = None
    #: With ``tools=``: the calls the model asked for, in order (``finish_reason`` is then
    #: ``"tool_calls"``); empty otherwise.
    tool_calls: tuple[ToolCall, ...] = ()
    #: The reasoning text or summary the provider returned, else ``None``.
    reasoning: str | None = None
    #: Reasoning tokens where the provider reports them (counted in ``completion_tokens``
    #: and billed as output).
    reasoning_tokens: int | None = None
    #: The provider's reasoning blocks that a conversation must send back (``message``).
    reasoning_blocks: tuple[Mapping[str, Any], ...] = ()
    #: Through a :class:`~metasync_llm.Router`: each document tried, in order (the last
    #: answered); empty for a direct call.
    route_attempts: tuple[RouteAttempt, ...] = ()

    @property
    def message(self) -> dict[str, Any]:
        """The answer as an assistant turn, its tool calls (and the provider's reasoning
        blocks, where a conversation must send them back) included, to append to
        ``messages`` (``{"role": "assistant", "content": ..., "tool_calls": [...]}``)."""
        turn: dict[str, Any] = {"role": "assistant", "content": self.text}
        if self.tool_calls:
            turn["tool_calls"] = [call.to_dict() for call in self.tool_calls]
        if self.reasoning_blocks:
            turn["reasoning"] = [dict(block) for block in self.reasoning_blocks]
        return turn

    @property
    def usage(self) -> Usage:
        """``(prompt_tokens, completion_tokens, total_tokens)``."""
        return (self.prompt_tokens, self.completion_tokens, self.total_tokens)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of every field."""
        return dataclasses.asdict(self)
