"""``ChatCompletionsSDK``: the shared base of plugins for APIs shaped like Chat Completions.

OpenAI, Azure OpenAI, Azure AI Inference and the many OpenAI-compatible servers take the
same request (``model``, ``messages``, ``temperature``, ``max_tokens``) and answer in the
same shape (``choices[0].message.content``, ``finish_reason``, ``usage``; streamed as
server-sent events of ``choices[0].delta`` chunks, ended by ``data: [DONE]``). This base
builds that request from a model document's quirks and reads that answer from the raw
JSON, so a plugin for such an API writes only its client calls.

Imported at discovery by the plugins that subclass it: it loads nothing else until used.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from metasync_llm.base_sdk import BaseLLMSDK

if TYPE_CHECKING:
    from metasync_llm._wire._sse import SSEEvent
    from metasync_llm.attachments import Attachment, AttachmentRules
    from metasync_llm.request import Message, Request
    from metasync_llm.result import RawToolCall, StreamEnd


class ChatCompletionsSDK(BaseLLMSDK):
    """Base of an SDK plugin for a Chat Completions-shaped API.

    Set :attr:`sdk_name` and :attr:`required_fields`, implement
    :meth:`~BaseLLMSDK.create_client`, :meth:`~BaseLLMSDK.stream` and
    :meth:`~BaseLLMSDK.astream` with the client library's calls (the body is
    :meth:`chat_body`), and hand the response's headers and raw bytes to
    ``toolkit.read_answer`` (``aread_answer``) with :meth:`reader`. The document's quirks
    are honoured: ``messageFormat``, ``omitTemperature``, ``maxCompletionToken``.
    """

    required_fields: ClassVar[tuple[str, ...]] = ("endpoint", "deployment")
    #: Report the response's ``id`` as the request id (for APIs without a request-id header).
    response_id_is_request_id: ClassVar[bool] = False
    #: Error codes sent inside a stream that began as a success.
    error_codes: ClassVar[Mapping[str, str]] = {
        "server_error": "ServerError",
        "rate_limit_exceeded": "RateLimitError",
    }
    features: ClassVar[frozenset[str]] = frozenset(
        {"messages", "schema", "stop", "tools", "attachments", "reasoning"}
    )
    #: OpenAI's documented limits: PDFs up to 32 MB of content a request, images up to
    #: 50 MB of payload a request; PDFs go as data (``file`` parts take no URL).
    max_attachment_bytes: ClassVar[int | None] = 32 * 2**20
    max_request_attachment_bytes: ClassVar[int | None] = 50 * 2**20
    attachment_types: ClassVar[frozenset[str]] = frozenset(
        {"image/png", "image/jpeg", "image/gif", "image/webp", "application/pdf"}
    )
    max_stop: ClassVar[int | None] = 4
    #: How a one-turn call is sent without a ``messageFormat`` in the document: the seed's
    #: ``"combined"`` (its AzureOpenAI and ChatCompletionsClient SDKs), or ``"separate"``.
    message_format: ClassVar[str] = "combined"
    #: The hosts whose API :attr:`max_stop` describes (``None``: every endpoint). Servers
    #: elsewhere that speak the same API (vLLM, llama.cpp, Ollama) set their own limits.
    limits_hosts: ClassVar[tuple[str, ...] | None] = None

    def stop_limit(self, config: Mapping[str, Any]) -> int | None:
        endpoint = config.get("endpoint")
        if self.limits_hosts is not None and isinstance(endpoint, str):
            from urllib.parse import urlsplit  # noqa: PLC0415 - loaded with the URL checks

            if urlsplit(endpoint).hostname not in self.limits_hosts:
                return None
        return super().stop_limit(config)

    def attachment_rules(self, config: Mapping[str, Any]) -> AttachmentRules:
        from metasync_llm.attachments import IMAGE_TYPES, AttachmentRules  # noqa: PLC0415

        return AttachmentRules(
            types=self.attachment_types,
            url_types=IMAGE_TYPES & self.attachment_types,
            max_bytes=self.max_attachment_bytes,
            max_request_bytes=self.max_request_attachment_bytes,
        )

    # -- the request ---------------------------------------------------------------------

    def chat_body(self, request: Request) -> dict[str, Any]:
        """``model``, ``messages``, the sampling options, the schema and the stop sequences.

        ``temperature`` is left out with ``omitTemperature``; the token limit is sent as
        ``max_completion_tokens`` with ``maxCompletionToken``, else as ``max_tokens``. A
        schema goes as a ``json_schema`` ``response_format``, ``strict`` when the schema
        allows it.
        """
        config = request.config
        messages = chat_messages(request, self.message_format)
        body: dict[str, Any] = {"model": config["deployment"], "messages": messages}
        if not config.get("omitTemperature"):
            body["temperature"] = request.temperature
        limit = "max_completion_tokens" if config.get("maxCompletionToken") else "max_tokens"
        body[limit] = request.max_tokens
        if request.schema is not None:
            from metasync_llm._structured._schema import schema_name, strict_ready  # noqa: PLC0415

            body["response_format"] = {
                "type": "json_schema",
                "json_schema": {
                    "name": schema_name(request.schema),
                    "schema": dict(request.schema),
                    "strict": strict_ready(request.schema),
                },
            }
        if request.stop:
            body["stop"] = list(request.stop)
        if request.reasoning is not None:
            body["reasoning_effort"] = request.reasoning
        if request.tools:
            body["tools"] = [
                {
                    "type": "function",
                    "function": {
                        "name": tool.name,
                        "description": tool.description,
                        "parameters": dict(tool.parameters),
                    },
                }
                for tool in request.tools
            ]
        choice = request.tool_choice
        if choice is not None:
            named = choice not in ("auto", "none", "required")
            body["tool_choice"] = (
                {"type": "function", "function": {"name": choice}} if named else choice
            )
        return body

    # -- the answer ----------------------------------------------------------------------

    def reader(self, request: Request, request_id: str | None = None) -> ChatCompletionsReader:
        """The reader of one answer (``toolkit.read_answer``): a whole JSON body, or the
        server-sent events of a stream ended by ``data: [DONE]``."""
        return ChatCompletionsReader(
            self.sdk_name, request.model_name, request_id, self.response_id_is_request_id
        )


class ChatCompletionsReader:
    """Reads one chat completion, whole or streamed: text, finish reason, usage, request id.

    A stream that ends without a finish reason has no ``StreamEnd``: the connector reports
    the answer as cut short. An ``{"error": ...}`` event raises it.
    """

    def __init__(
        self, sdk: str, model: str | None, request_id: str | None, ids_are_request_ids: bool
    ) -> None:
        self.sdk, self.model = sdk, model
        self.request_id = request_id
        self._ids = ids_are_request_ids and request_id is None
        self.finish: str | None = None
        self.usage: Any = None
        self.done = False
        self.calls: Any = None  # a toolkit.ToolCallAssembler, from the first call fragment
        self.reasoning: list[str] = []  # reasoning_content deltas (DeepSeek, Azure AI, vLLM)

    def feed(self, event: SSEEvent) -> str | None:
        """The text of one event's chunk (``None`` if it has none); raises an error event."""
        from metasync_llm._wire._sse import StreamErrorEvent  # noqa: PLC0415 - not at discovery

        if event.data == "[DONE]":
            self.done = True
            return None
        chunk = event.json()
        if not isinstance(chunk, Mapping):
            raise _malformed(chunk)
        if chunk.get("error"):
            raise StreamErrorEvent(chunk["error"])
        usage = chunk.get("usage")
        if usage is not None:
            self.usage = usage
        if self._ids and self.request_id is None:
            self.request_id = _text(chunk.get("id"))
        choices = chunk.get("choices")
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], Mapping):
            return None
        choice = choices[0]
        self.finish = _finish_reason(choice.get("finish_reason")) or self.finish
        delta = choice.get("delta")
        if not isinstance(delta, Mapping):
            return None
        if delta.get("tool_calls"):
            self._add_calls(delta["tool_calls"])
        thought = _reasoning_of(delta)
        if thought:
            self.reasoning.append(thought)
        content = delta.get("content")
        return content if isinstance(content, str) else None

    def _add_calls(self, fragments: object) -> None:
        """The fragments of tool calls in one delta: a call's index, then its id and name
        (first fragment) and pieces of its arguments' JSON text."""
        if self.calls is None:
            from metasync_llm._tools._calls import ToolCallAssembler  # noqa: PLC0415

            self.calls = ToolCallAssembler()
        for position, fragment in enumerate(fragments if isinstance(fragments, list) else ()):
            if not isinstance(fragment, Mapping):
                continue
            function = fragment.get("function")
            function = function if isinstance(function, Mapping) else {}
            index = fragment.get("index")
            self.calls.add(
                index if isinstance(index, int) else position,
                id=_text(fragment.get("id")),
                name=_text(function.get("name")),
                arguments=_text(function.get("arguments")) or "",
            )

    def end(self) -> StreamEnd | None:
        if self.finish is None:
            return None
        calls = self.calls.calls() if self.calls else ()
        thought = "".join(self.reasoning) or None
        return _end(self.usage, self.finish, self.request_id, calls, thought)

    def whole(self, response: Any) -> tuple[str, StreamEnd]:
        """A whole (non-streamed) JSON response: its text and its ``StreamEnd``."""
        from metasync_llm._wire._answers import require_text  # noqa: PLC0415

        if not isinstance(response, Mapping):
            raise _malformed(response)
        if self._ids:
            self.request_id = _text(response.get("id"))
        choices = response.get("choices")
        choice = choices[0] if isinstance(choices, list) and choices else {}
        if not isinstance(choice, Mapping):
            raise _malformed(response)
        finish = _finish_reason(choice.get("finish_reason"))
        message = choice.get("message")
        message = message if isinstance(message, Mapping) else {}
        content = message.get("content")
        calls = tuple(_whole_calls(message.get("tool_calls")))
        text = content if isinstance(content, str) else ""
        if not calls:
            text = require_text(
                text or None, finish, sdk=self.sdk, model=self.model, request_id=self.request_id
            )
        thought = _reasoning_of(message)
        return text, _end(response.get("usage"), finish, self.request_id, calls, thought)


def _whole_calls(calls: object) -> Iterator[RawToolCall]:
    from metasync_llm.result import RawToolCall  # noqa: PLC0415

    for call in calls if isinstance(calls, list) else ():
        function = call.get("function") if isinstance(call, Mapping) else None
        if isinstance(function, Mapping) and isinstance(function.get("name"), str):
            arguments = function.get("arguments")
            yield RawToolCall(
                _text(call.get("id")),
                function["name"],
                arguments if isinstance(arguments, str | Mapping) else "",
            )


def _reasoning_of(message: Mapping[str, Any]) -> str | None:
    """The reasoning text a message or delta carries (``reasoning_content``, or
    ``reasoning`` on some OpenAI-compatible servers)."""
    for field in ("reasoning_content", "reasoning"):
        value = message.get(field)
        if isinstance(value, str) and value:
            return value
    return None


def _end(
    usage: Any,
    finish: str | None,
    request_id: str | None,
    calls: tuple[RawToolCall, ...] = (),
    reasoning: str | None = None,
) -> StreamEnd:
    from metasync_llm._wire._answers import total_of, usage_count  # noqa: PLC0415
    from metasync_llm.result import StreamEnd  # noqa: PLC0415

    if not isinstance(usage, Mapping):
        usage = {}
    prompt = usage_count(usage.get("prompt_tokens"))
    completion = usage_count(usage.get("completion_tokens"))
    total = total_of(prompt, completion, usage.get("total_tokens"))
    details = usage.get("completion_tokens_details")
    spent = usage_count(details.get("reasoning_tokens")) if isinstance(details, Mapping) else None
    return StreamEnd(
        prompt,
        completion,
        total,
        finish,
        request_id,
        calls,
        reasoning=reasoning,
        reasoning_tokens=spent,
    )


def chat_messages(request: Request, default_format: str = "combined") -> list[dict[str, Any]]:
    """The ``messages`` list: a conversation's turns after the system prompt; a one-turn
    call's as the document's ``messageFormat`` says (``default_format`` without one).

    ``"combined"`` (the seed's way: one system message holding the system prompt followed
    by the user content, a blank line between them unless the prompt ends in white space)
    or ``"separate"`` (a system and a user message).
    """
    system, user = request.system_prompt, request.user_content
    if request.messages:  # a conversation: messageFormat is about one-turn prompts
        turns = [_chat_turn(m) for m in request.messages]
        return [{"role": "system", "content": system}, *turns] if system else turns
    if request.config.get("messageFormat", default_format) == "separate":
        messages: list[dict[str, Any]] = []
        if system:
            messages.append({"role": "system", "content": system})
        if user or not messages:
            messages.append({"role": "user", "content": user})
        return messages
    glue = "\n\n" if system and user and not system[-1].isspace() else ""
    return [{"role": "system", "content": system + glue + user}]


def _chat_turn(message: Message) -> dict[str, Any]:
    """One turn in Chat Completions' shape: tool calls with their arguments as JSON text,
    tool results as ``role: tool`` messages."""
    if message.role == "tool":
        return {"role": "tool", "tool_call_id": message.tool_call_id, "content": message.content}
    if message.parts:
        return {"role": message.role, "content": [_chat_part(p) for p in message.parts]}
    if not message.tool_calls:
        return {"role": message.role, "content": message.content}
    import json  # noqa: PLC0415 - not at discovery

    return {
        "role": "assistant",
        "content": message.content or None,
        "tool_calls": [
            {
                "id": call.id,
                "type": "function",
                "function": {"name": call.name, "arguments": json.dumps(call.arguments)},
            }
            for call in message.tool_calls
        ],
    }


def _chat_part(part: str | Attachment) -> dict[str, Any]:
    """A content part: text, an ``image_url`` (a data URL or the URL), or a PDF as a
    ``file`` part with its data."""
    if isinstance(part, str):
        return {"type": "text", "text": part}
    if part.kind == "image":
        return {"type": "image_url", "image_url": {"url": part.data_url()}}
    return {
        "type": "file",
        "file": {"filename": part.name or "document.pdf", "file_data": part.data_url()},
    }


def _finish_reason(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _malformed(body: object) -> Exception:
    from metasync_llm.errors import CompletionError  # noqa: PLC0415 - not at discovery

    return CompletionError(
        f"the provider answered with a {type(body).__name__} where a chat completion belongs"
    )
