"""The events observers receive about calls: started, first chunk, retry, content, ended.

Every event of one call carries its ``call_id`` (unique in the process), model and SDK.
No event holds the prompt or the answer, except :class:`CallContent`, which only
observers implementing the ``metasync_llm_call_content`` hook receive.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from metasync_llm.result import RouteAttempt
    from metasync_llm.tools import ToolCall


@dataclass(frozen=True, slots=True)
class CallStarted:
    """A call began (a blocking call, or a stream when it was created)."""

    call_id: int
    model: str
    sdk: str
    #: The model id the provider is asked for (the document's ``deployment``), if any.
    deployment: str | None
    #: The document's endpoint, ``None`` for SDKs without one.
    endpoint: str | None
    stream: bool
    asynchronous: bool
    temperature: float
    max_tokens: int
    #: Whether ``schema=`` was given, how many stop sequences, how many turns.
    schema: bool
    stop: int
    turns: int
    #: Wall-clock start (``time.time()``).
    started: float
    #: Through a :class:`~metasync_llm.Router`: the routed call this try belongs to (its
    #: ``RouteStarted.route_id``) and the route's name; ``None`` for a direct call.
    route_id: int | None = None
    route: str | None = None


@dataclass(frozen=True, slots=True)
class RouteStarted:
    """A call through a :class:`~metasync_llm.Router` began; its tries are calls whose
    ``CallStarted.route_id`` is this ``route_id``."""

    route_id: int
    name: str
    strategy: str
    #: The names of the route's documents, in order.
    models: tuple[str, ...]
    started: float


@dataclass(frozen=True, slots=True)
class RouteEnded:
    """A routed call ended: ``outcome`` ``"ok"`` (``model`` answered), ``"error"``, or
    ``"closed"`` (a routed stream closed before its end)."""

    start: RouteStarted
    outcome: str
    elapsed: float
    #: Each document tried, in order, with the error type that moved the call on.
    attempts: tuple[RouteAttempt, ...]
    model: str | None = None
    error_type: str | None = None


@dataclass(frozen=True, slots=True)
class FirstChunk:
    """A stream's first text chunk arrived, ``seconds`` after the call began."""

    call_id: int
    model: str
    sdk: str
    seconds: float


@dataclass(frozen=True, slots=True)
class CallRetry:
    """An attempt failed and the call will try again after ``delay`` seconds."""

    call_id: int
    model: str
    sdk: str
    #: The attempt that failed (1 for the first).
    attempt: int
    error_type: str
    status: int | None
    delay: float


@dataclass(frozen=True, slots=True)
class CallContent:
    """What was asked and answered (for observers that opt in by implementing the hook)."""

    call_id: int
    model: str
    sdk: str
    system_prompt: str
    #: ``(role, content)`` of each turn, ``"user"`` or ``"assistant"``.
    messages: tuple[tuple[str, str], ...]
    #: The answer's text; what had arrived when the call failed or was closed.
    answer: str
    #: The tool calls of the answer, with their arguments.
    tool_calls: tuple[ToolCall, ...] = ()


@dataclass(frozen=True, slots=True)
class CallEnded:
    """A call ended: ``outcome`` is ``"ok"``, ``"error"``, ``"closed"`` (a stream closed
    before its end) or ``"cancelled"`` (an asyncio task cancelled, an interrupt)."""

    start: CallStarted
    outcome: str
    #: Seconds from the start to the end (the result's ``elapsed`` for a result).
    elapsed: float
    attempts: int
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    total_tokens: int | None = None
    cost: float | None = None
    currency: str | None = None
    time_to_first_chunk: float | None = None
    finish_reason: str | None = None
    request_id: str | None = None
    #: The error's class name (``RateLimitError``...) and HTTP status, for a failed call.
    error_type: str | None = None
    status: int | None = None
    #: The names of the tools the answer called, in order (their arguments are content:
    #: see ``CallContent``).
    tool_calls: tuple[str, ...] = ()

    @property
    def call_id(self) -> int:
        return self.start.call_id

    @property
    def model(self) -> str:
        return self.start.model

    @property
    def sdk(self) -> str:
        return self.start.sdk


__all__ = [
    "CallContent",
    "CallEnded",
    "CallRetry",
    "CallStarted",
    "FirstChunk",
    "RouteEnded",
    "RouteStarted",
]
