"""``Request``: one completion request, as the connector hands it to a plugin's hooks."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from metasync_llm.attachments import Attachment
    from metasync_llm.tools import Tool, ToolCall

Role = Literal["user", "assistant", "tool"]


@dataclass(frozen=True, slots=True)
class Message:
    """One turn of a conversation: ``role`` is ``"user"``, ``"assistant"`` or ``"tool"``.

    An assistant turn may hold the ``tool_calls`` the model made (its ``content`` may then
    be empty); a ``"tool"`` turn is the result of one call: ``tool_call_id`` names the
    call, ``name`` its tool (filled in by the connector from the call it answers).

    A turn with attachments has ``parts``: its text and :class:`~metasync_llm.Attachment`
    values in order (``content`` is then its text alone). An assistant turn may carry
    ``reasoning``: the provider's own reasoning blocks (Anthropic's signed thinking
    blocks), sent back as they came.
    """

    role: Role
    content: str
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None
    name: str | None = None
    parts: tuple[str | Attachment, ...] = ()
    reasoning: tuple[Mapping[str, Any], ...] = ()

    def items(self) -> tuple[str | Attachment, ...]:
        """The turn's parts: ``parts``, or its text as the one part (none if empty)."""
        if self.parts:
            return self.parts
        return (self.content,) if self.content else ()


@dataclass(frozen=True, slots=True)
class Request:
    """Everything a plugin needs for one call, checked by the connector.

    ``config`` is the model document (already validated), ``temperature`` is clamped to
    its limits and ``max_tokens`` capped by its ``maxToken``; ``api_key`` is resolved
    (``None`` only for SDKs that need no key). ``stream`` says whether the caller reads the
    answer as it arrives: when it is false, a plugin may make a non-streamed call and yield
    the whole text as one chunk.

    A one-turn call has ``user_content``; a conversation has ``messages`` (user, assistant
    and tool turns, in order) and no ``user_content``: :meth:`turns` gives both alike.
    ``schema`` is a JSON Schema the provider should enforce natively (the connector
    validates every answer against it either way), ``stop`` the stop sequences. A plugin
    declares in ``BaseLLMSDK.features`` which of these it honours; the connector sends
    the others only to plugins that do. New parameters are added here, with defaults, so
    plugins that ignore them need no change.
    """

    config: Mapping[str, Any]
    system_prompt: str
    user_content: str
    temperature: float
    max_tokens: int
    api_key: str | None = field(default=None, repr=False)  # never in a repr
    stream: bool = True
    messages: tuple[Message, ...] = ()
    schema: Mapping[str, Any] | None = None
    stop: tuple[str, ...] = ()
    #: The tools the model may call (checked; ``parameters`` are JSON Schema objects).
    tools: tuple[Tool, ...] = ()
    #: ``None`` (the provider's default: auto), ``"auto"``, ``"none"``, ``"required"``, or
    #: the name of the one tool the model must call.
    tool_choice: str | None = None
    #: ``None`` (the model's default), ``"none"``, ``"low"``, ``"medium"``, ``"high"``, or
    #: a token budget (an int); checked against what the plugin takes.
    reasoning: str | int | None = None

    @property
    def model_name(self) -> str | None:
        """The document's ``name``, for messages."""
        name = self.config.get("name")
        return name if isinstance(name, str) else None

    def turns(self) -> tuple[Message, ...]:
        """The conversation's turns: ``messages``, or the one user turn of ``user_content``."""
        if self.messages:
            return self.messages
        return (Message("user", self.user_content),) if self.user_content else ()
