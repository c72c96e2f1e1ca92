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

from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from metasync_llm.base_sdk import BaseLLMSDK

if TYPE_CHECKING:
    from metasync_llm._wire._sse import SSEEvent
    from metasync_llm.request import Request
    from metasync_llm.result import StreamEnd, StreamItem


class ChatCompletionsSDK(BaseLLMSDK):
    """Base of an SDK plugin for a Chat Completions-shaped API.

    Set :attr:`sdk_name` and :attr:`required_fields`, implement
    :meth:`~BaseLLMSDK.create_client`, :meth:`~BaseLLMSDK.stream` and
    :meth:`~BaseLLMSDK.astream` with the client library's calls, and read the raw body:
    :meth:`answer` for a whole JSON response, :meth:`chunks` (:meth:`achunks`) for the
    server-sent events of a stream (from :func:`metasync_llm._wire._sse.sse_events`). The
    document's quirks are honoured: ``messageFormat``, ``omitTemperature``,
    ``maxCompletionToken`` (see :mod:`metasync_llm._model`).
    """

    #: The SDK identifier (``get_name()``).
    sdk_name: ClassVar[str]
    #: Document fields ``validate_config`` requires (non-empty strings).
    required_fields: ClassVar[tuple[str, ...]] = ("endpoint", "deployment")
    #: Report the response's ``id`` as the request id (for APIs without a request-id header).
    response_id_is_request_id: ClassVar[bool] = False
    #: Error codes sent inside a stream that began as a success.
    error_codes: ClassVar[Mapping[str, str]] = {
        "server_error": "ServerError",
        "rate_limit_exceeded": "RateLimitError",
    }
    features: ClassVar[frozenset[str]] = frozenset({"messages", "schema", "stop"})
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

    def get_name(self) -> str:
        return self.sdk_name

    def validate_config(self, config: Mapping[str, Any]) -> None:
        from metasync_llm._plugin_fields import check_config  # noqa: PLC0415 - loaded on first call

        check_config(config, sdk=self.sdk_name, required=self.required_fields)

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
        return body

    # -- the answer ----------------------------------------------------------------------

    def answer(
        self, request: Request, response: Any, request_id: str | None = None
    ) -> tuple[str, StreamEnd]:
        """A whole (non-streamed) JSON response: its text and its ``StreamEnd``, to yield."""
        from metasync_llm._wire._answers import require_text  # noqa: PLC0415

        if not isinstance(response, Mapping):
            raise _malformed(response)
        if request_id is None and self.response_id_is_request_id:
            request_id = _text(response.get("id"))
        choices = response.get("choices")
        choice = choices[0] if isinstance(choices, list) and choices else {}
        if not isinstance(choice, Mapping):
            raise _malformed(response)
        finish = _finish_reason(choice.get("finish_reason"))
        message = choice.get("message")
        content = message.get("content") if isinstance(message, Mapping) else None
        text = require_text(
            content if isinstance(content, str) else None,
            finish,
            sdk=self.sdk_name,
            model=request.model_name,
            request_id=request_id,
        )
        return text, _end(response.get("usage"), finish, request_id)

    def chunks(self, events: Iterable[SSEEvent], request_id: str | None) -> Iterator[StreamItem]:
        """A stream's text chunks, then its ``StreamEnd`` once a finish reason has come.

        A stream that ends without a finish reason yields no ``StreamEnd``: the connector
        reports the answer as cut short. An ``{"error": ...}`` event raises it.
        """
        reader = _ChunkReader(request_id, self.response_id_is_request_id)
        for event in events:
            if event.data == "[DONE]":
                break
            text = reader.feed(event)
            if text:
                yield text
        if reader.finish is not None:
            yield reader.end()

    async def achunks(
        self, events: AsyncIterable[SSEEvent], request_id: str | None
    ) -> AsyncIterator[StreamItem]:
        """:meth:`chunks` for an async stream."""
        reader = _ChunkReader(request_id, self.response_id_is_request_id)
        async for event in events:
            if event.data == "[DONE]":
                break
            text = reader.feed(event)
            if text:
                yield text
        if reader.finish is not None:
            yield reader.end()


class _ChunkReader:
    """Reads the chunks of one streamed chat completion: text, finish reason and usage."""

    def __init__(self, request_id: str | None, ids_are_request_ids: bool) -> None:
        self.request_id = request_id
        self._ids = ids_are_request_ids and request_id is None
        self.finish: str | None = None
        self.usage: Any = None

    def feed(self, event: SSEEvent) -> str | None:
        """The text of one event's chunk (``None`` if it has none); raises an error event."""
        from metasync_llm._wire._sse import StreamErrorEvent  # noqa: PLC0415 - loaded already

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
        content = delta.get("content") if isinstance(delta, Mapping) else None
        return content if isinstance(content, str) else None

    def end(self) -> StreamEnd:
        return _end(self.usage, self.finish, self.request_id)


def _end(usage: Any, finish: str | None, request_id: str | None) -> StreamEnd:
    from metasync_llm._wire._answers import total_of, usage_count  # noqa: PLC0415
    from metasync_llm.result import StreamEnd  # noqa: PLC0415

    if not isinstance(usage, Mapping):
        usage = {}
    prompt = usage_count(usage.get("prompt_tokens"))
    completion = usage_count(usage.get("completion_tokens"))
    total = total_of(prompt, completion, usage.get("total_tokens"))
    return StreamEnd(prompt, completion, total, finish, request_id)


def chat_messages(request: Request, default_format: str = "combined") -> list[dict[str, str]]:
    """The ``messages`` list: a conversation's turns after the system prompt; a one-turn
    call's as the document's ``messageFormat`` says (``default_format`` without one).

    ``"combined"`` (the seed's way: one system message holding the system prompt followed
    by the user content, a blank line between them unless the prompt ends in white space)
    or ``"separate"`` (a system and a user message).
    """
    system, user = request.system_prompt, request.user_content
    if request.messages:  # a conversation: messageFormat is about one-turn prompts
        turns = [{"role": m.role, "content": m.content} for m in request.messages]
        return [{"role": "system", "content": system}, *turns] if system else turns
    if request.config.get("messageFormat", default_format) == "separate":
        messages = []
        if system:
            messages.append({"role": "system", "content": system})
        if user or not messages:
            messages.append({"role": "user", "content": user})
        return messages
    glue = "\n\n" if system and user and not system[-1].isspace() else ""
    return [{"role": "system", "content": system + glue + user}]


def _finish_reason(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _malformed(body: object) -> Exception:
    from metasync_llm.errors import CompletionError  # noqa: PLC0415 - loaded already

    return CompletionError(
        f"the provider answered with a {type(body).__name__} where a chat completion belongs"
    )
