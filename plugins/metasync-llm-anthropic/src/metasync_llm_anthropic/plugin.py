"""The ``Anthropic`` SDK plugin: the Messages API, streamed, through the ``anthropic`` library."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from metasync_llm import BaseLLMSDK, toolkit

if TYPE_CHECKING:
    from metasync_llm.request import Request
    from metasync_llm.result import StreamItem

SDK = "Anthropic"

#: Anthropic's stop reasons in the vocabulary of the other SDKs.
FINISH_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "refusal": "content_filter",
    "tool_use": "tool_calls",
}


class AnthropicSDK(BaseLLMSDK):
    """SDK ``Anthropic``: ``anthropic.Anthropic`` against ``endpoint``, streaming every call.

    Every request streams (as the seed does), so long generations never hit the SDK's
    time limit for non-streaming requests. The current Messages API has no temperature
    parameter: the clamped temperature is accepted and not sent. The core pools the
    clients (async ones per event loop); their own retries are off.
    """

    def get_name(self) -> str:
        return SDK

    def validate_config(self, config: Mapping[str, Any]) -> None:
        toolkit.check_config(config, sdk=SDK, required=("endpoint", "deployment"))

    def create_client(
        self, config: Mapping[str, Any], api_key: str | None, *, asynchronous: bool
    ) -> Any:
        import anthropic  # noqa: PLC0415 - the client library loads on first use only

        cls = anthropic.AsyncAnthropic if asynchronous else anthropic.Anthropic
        timeout = anthropic.Timeout(
            toolkit.timeout_of(config), connect=toolkit.connect_timeout_of(config)
        )
        return cls(base_url=config["endpoint"], api_key=api_key, max_retries=0, timeout=timeout)

    def stream(self, request: Request) -> Iterator[StreamItem]:
        with self.client_for(request).messages.stream(**_body(request)) as stream:
            yield from stream.text_stream
            message = stream.get_final_message()
            request_id = stream.response.headers.get("request-id")
        yield _end(message, request_id)

    async def astream(self, request: Request) -> AsyncIterator[StreamItem]:
        client = await self.async_client_for(request)
        async with client.messages.stream(**_body(request)) as stream:
            async for text in stream.text_stream:
                yield text
            message = await stream.get_final_message()
            request_id = stream.response.headers.get("request-id")
        yield _end(message, request_id)


def _body(request: Request) -> dict[str, Any]:
    # The system prompt goes in its own parameter (the seed's way). With no user content
    # the system prompt is sent as the user message instead: the API rejects a
    # conversation without a non-empty user turn.
    system, user = request.system_prompt, request.user_content
    if not user:
        system, user = "", system
    body: dict[str, Any] = {
        "model": request.config["deployment"],
        "max_tokens": request.max_tokens,
        "messages": [{"role": "user", "content": user}],
    }
    if system:
        body["system"] = system
    extra = toolkit.extra_body(request.config)
    if extra:
        body["extra_body"] = extra
    return body


def _end(message: Any, request_id: str | None) -> toolkit.StreamEnd:
    usage = message.usage
    # Cached prompt tokens are reported apart from input_tokens; all of them are prompt.
    parts = [
        toolkit.usage_count(getattr(usage, f, None))
        for f in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")
    ]
    prompt = None if parts[0] is None else sum(p for p in parts if p is not None)
    completion = toolkit.usage_count(getattr(usage, "output_tokens", None))
    stop: str | None = message.stop_reason
    finish = FINISH_REASONS.get(stop, stop) if stop is not None else None
    return toolkit.StreamEnd(
        prompt, completion, toolkit.total_of(prompt, completion), finish, request_id
    )
