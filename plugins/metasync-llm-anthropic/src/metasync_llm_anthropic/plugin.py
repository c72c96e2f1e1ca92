"""The ``Anthropic`` SDK plugin: the Messages API, streamed, through the ``anthropic`` library."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from metasync_llm import BaseLLMSDK, toolkit

if TYPE_CHECKING:
    from metasync_llm._wire._sse import SSEEvent
    from metasync_llm.request import Message, Request
    from metasync_llm.result import StreamItem

#: Anthropic's stop reasons in the vocabulary of the other SDKs.
FINISH_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop_sequence",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "refusal": "content_filter",
    "tool_use": "tool_calls",
}


class AnthropicSDK(BaseLLMSDK):
    """SDK ``Anthropic``: ``anthropic.Anthropic`` against ``endpoint``, streaming every call.

    Every request streams (as the seed does), so long generations never hit the SDK's
    time limit for non-streaming requests; the core reads the raw events, strictly and
    within the document's timeout. The current Messages API has no temperature parameter:
    the clamped temperature is accepted and not sent. The core pools the clients (async
    ones per event loop); their own retries are off.
    """

    sdk_name = "Anthropic"
    required_fields = ("endpoint", "deployment")
    features: ClassVar[frozenset[str]] = frozenset(
        {"messages", "schema", "stop", "tools", "attachments", "reasoning"}
    )
    reasoning_budget = True
    # Overloads and server errors can arrive as an event of a stream that began with 200.
    error_codes: ClassVar[Mapping[str, str]] = {
        "overloaded_error": "ServerError",
        "api_error": "ServerError",
        "rate_limit_error": "RateLimitError",
    }

    def create_client(
        self, config: Mapping[str, Any], api_key: str | None, *, asynchronous: bool
    ) -> Any:
        import anthropic  # noqa: PLC0415 - the client library loads on first use only

        cls = anthropic.AsyncAnthropic if asynchronous else anthropic.Anthropic
        timeout = anthropic.Timeout(
            toolkit.timeout_of(config), connect=toolkit.connect_timeout_of(config)
        )
        # anthropic 2.x makes spans of its own when a tracer provider is set: off, so that
        # with metasync-llm-opentelemetry one call is one span, as for every other SDK.
        return cls(
            base_url=toolkit.endpoint_of(config),
            api_key=api_key,
            max_retries=0,
            timeout=timeout,
            open_telemetry=False,
        )

    def attachment_rules(self, config: Mapping[str, Any]) -> toolkit.AttachmentRules:
        # The Messages API: 32 MB a request, 5 MB an image; images and PDFs by URL too.
        return toolkit.AttachmentRules(
            max_bytes=32 * 2**20, max_request_bytes=32 * 2**20, max_image_bytes=5 * 2**20
        )

    def reasoning_problem(
        self, config: Mapping[str, Any], reasoning: str | int, max_tokens: int
    ) -> str | None:
        if isinstance(reasoning, int) and not 1024 <= reasoning < max_tokens:
            return f"a thinking budget is at least 1024 tokens and below max_tokens ({max_tokens})"
        return super().reasoning_problem(config, reasoning, max_tokens)

    def stream(self, request: Request) -> Iterator[StreamItem]:
        create = self.client_for(request).messages.with_streaming_response.create
        with create(**_body(request)) as response:
            reader = _Reader(response.headers.get("request-id"))
            yield from toolkit.read_answer(response.headers, response.iter_bytes(), reader)

    async def astream(self, request: Request) -> AsyncIterator[StreamItem]:
        client = await self.async_client_for(request)
        async with client.messages.with_streaming_response.create(**_body(request)) as response:
            reader = _Reader(response.headers.get("request-id"))
            async for item in toolkit.aread_answer(response.headers, response.iter_bytes(), reader):
                yield item


#: Content blocks of the model's reasoning, sent back in a conversation as they came.
_THINKING = ("thinking", "redacted_thinking")
#: ``tool_choice`` in the Messages API's form (a tool's name: ``{"type": "tool"}``).
TOOL_CHOICES = {"auto": {"type": "auto"}, "none": {"type": "none"}, "required": {"type": "any"}}


def _body(request: Request) -> dict[str, Any]:
    """The Messages API request: the system prompt in its own parameter, the turns with
    consecutive turns of one role merged (the API wants them alternating; tool results are
    user turns of ``tool_result`` blocks, tool calls ``tool_use`` blocks); a schema as the
    output format, stop sequences as ``stop_sequences``."""
    system = request.system_prompt
    turns = [_turn(m) for m in request.turns()]
    if not turns:  # the API rejects a conversation without a user turn: the system prompt
        system, turns = "", [("user", system)]  # goes as the user turn (the seed's way)
    messages: list[dict[str, Any]] = []
    for role, content in turns:
        if not messages or messages[-1]["role"] != role:
            messages.append({"role": role, "content": content})
        elif isinstance(content, str) and isinstance(messages[-1]["content"], str):
            messages[-1]["content"] += "\n\n" + content
        else:
            messages[-1]["content"] = [*_blocks(messages[-1]["content"]), *_blocks(content)]
    body: dict[str, Any] = {
        "model": request.config["deployment"],
        "max_tokens": request.max_tokens,
        "messages": messages,
        "stream": True,
    }
    if system:
        body["system"] = system
    if request.schema is not None:
        body["output_config"] = {"format": {"type": "json_schema", "schema": dict(request.schema)}}
    if request.stop:
        body["stop_sequences"] = list(request.stop)
    reasoning = request.reasoning
    if reasoning == "none":
        body["thinking"] = {"type": "disabled"}
    elif isinstance(reasoning, int):
        body["thinking"] = {"type": "enabled", "budget_tokens": reasoning}
    elif reasoning is not None:  # a level: adaptive thinking at that effort
        body["thinking"] = {"type": "adaptive"}
        body.setdefault("output_config", {})["effort"] = reasoning
    if request.tools:
        body["tools"] = [
            {"name": t.name, "description": t.description, "input_schema": dict(t.parameters)}
            for t in request.tools
        ]
    if request.tool_choice is not None:
        choice = request.tool_choice
        body["tool_choice"] = TOOL_CHOICES.get(choice) or {"type": "tool", "name": choice}
    extra = toolkit.extra_body(request.config)
    if extra:
        body["extra_body"] = extra
    return body


def _turn(message: Message) -> tuple[str, str | list[dict[str, Any]]]:
    """A turn's role and content: text, or blocks for tool calls and results."""
    if message.role == "tool":
        block = {"type": "tool_result", "tool_use_id": message.tool_call_id}
        return "user", [{**block, "content": message.content}]
    if message.parts:
        return message.role, [_part(p) for p in message.parts]
    if not message.tool_calls and not message.reasoning:
        return message.role, message.content
    uses = [
        {"type": "tool_use", "id": c.id, "name": c.name, "input": c.arguments}
        for c in message.tool_calls
    ]
    thinking = [dict(block) for block in message.reasoning]  # sent back as they came
    return "assistant", [*thinking, *_blocks(message.content), *uses]


def _part(part: str | toolkit.Attachment) -> dict[str, Any]:
    """A text block, or an ``image``/``document`` block with a base64 or URL source."""
    if isinstance(part, str):
        return {"type": "text", "text": part}
    source: dict[str, Any] = (
        {"type": "url", "url": part.url}
        if part.url is not None
        else {"type": "base64", "media_type": part.mime_type, "data": part.base64()}
    )
    return {"type": part.kind, "source": source}


def _blocks(content: str | list[dict[str, Any]]) -> list[dict[str, Any]]:
    if isinstance(content, list):
        return content
    return [{"type": "text", "text": content}] if content else []


class _Reader:
    """Reads a message, streamed (its events: text deltas, usage, the stop reason, the
    end) or whole."""

    _USAGE = ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")

    def __init__(self, request_id: str | None) -> None:
        self.request_id = request_id
        self.usage: dict[str, Any] = {}
        self.stop_reason: str | None = None
        self.done = False  # message_stop arrived: the answer is complete
        self.calls = toolkit.ToolCallAssembler()
        self.thinking: dict[int, dict[str, Any]] = {}  # thinking blocks by index

    def feed(self, event: SSEEvent) -> str | None:
        data = event.json()
        kind = data.get("type") if isinstance(data, Mapping) else None
        if kind == "content_block_delta":
            delta = data.get("delta")
            if not isinstance(delta, Mapping):
                return None
            if delta.get("type") == "text_delta":
                text = delta.get("text")
                return text if isinstance(text, str) else None
            step = delta.get("type")
            if step in ("thinking_delta", "signature_delta") and data.get("index") in self.thinking:
                field = "thinking" if step == "thinking_delta" else "signature"
                block = self.thinking[data["index"]]
                block[field] = block.get(field, "") + str(delta.get(field) or "")
            if step == "input_json_delta" and isinstance(data.get("index"), int):
                json_text = delta.get("partial_json")
                if isinstance(json_text, str):
                    self.calls.add(data["index"], arguments=json_text)
        elif kind == "content_block_start":
            block = data.get("content_block")
            if isinstance(block, Mapping) and block.get("type") in _THINKING:
                self.thinking[data.get("index", len(self.thinking))] = dict(block)
            if isinstance(block, Mapping) and block.get("type") == "tool_use":
                index, name = data.get("index"), block.get("name")
                if isinstance(index, int) and isinstance(name, str):
                    self.calls.add(index, id=block.get("id"), name=name)
        elif kind == "message_start":
            message = data.get("message")
            if isinstance(message, Mapping):
                self._count(message.get("usage"))
        elif kind == "message_delta":
            delta = data.get("delta")
            if isinstance(delta, Mapping) and isinstance(delta.get("stop_reason"), str):
                self.stop_reason = delta["stop_reason"]
            self._count(data.get("usage"))
        elif kind == "message_stop":
            self.done = True
        elif kind == "error" or event.event == "error":
            body = data.get("error", data) if isinstance(data, Mapping) else data
            raise toolkit.StreamErrorEvent(body)
        return None

    def whole(self, data: object) -> list[StreamItem]:
        """A whole ``message`` body: its text, then its ``StreamEnd``."""
        if not isinstance(data, Mapping) or data.get("type") != "message":
            raise toolkit.errors.CompletionError(
                f"Anthropic answered with something that is not a message: {str(data)[:200]}"
            )
        blocks = [b for b in data.get("content") or () if isinstance(b, Mapping)]
        text = "".join(
            b["text"] for b in blocks if b.get("type") == "text" and isinstance(b.get("text"), str)
        )
        calls = tuple(
            toolkit.RawToolCall(b.get("id"), b["name"], b.get("input") or {})
            for b in blocks
            if b.get("type") == "tool_use" and isinstance(b.get("name"), str)
        )
        self.thinking = {n: dict(b) for n, b in enumerate(blocks) if b.get("type") in _THINKING}
        self._count(data.get("usage"))
        stop = data.get("stop_reason")
        self.stop_reason = stop if isinstance(stop, str) else None
        return [text, self._end(calls)] if text else [self._end(calls)]

    def _count(self, usage: object) -> None:
        if isinstance(usage, Mapping):  # later events repeat or update the counts
            self.usage.update((k, v) for k, v in usage.items() if v is not None)

    def end(self) -> toolkit.StreamEnd | None:
        return self._end(self.calls.calls()) if self.done else None

    def _end(self, calls: tuple[toolkit.RawToolCall, ...]) -> toolkit.StreamEnd:
        usage = self.usage
        # Cached prompt tokens are reported apart from input_tokens; all of them are prompt.
        parts = [toolkit.usage_count(usage.get(field)) for field in self._USAGE]
        prompt = None if parts[0] is None else sum(p for p in parts if p is not None)
        completion = toolkit.usage_count(usage.get("output_tokens"))
        stop = self.stop_reason
        finish = FINISH_REASONS.get(stop, stop) if stop is not None else None
        total = toolkit.total_of(prompt, completion)
        blocks = tuple(self.thinking[n] for n in sorted(self.thinking))
        text = "".join(str(b.get("thinking") or "") for b in blocks) or None
        return toolkit.StreamEnd(
            prompt,
            completion,  # output_tokens count the thinking: it is billed as output
            total,
            finish,
            self.request_id,
            calls,
            reasoning=text,
            reasoning_blocks=blocks,
        )
