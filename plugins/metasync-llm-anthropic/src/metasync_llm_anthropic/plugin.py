"""The ``Anthropic`` SDK plugin: the Messages API, streamed, through the ``anthropic`` library."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from metasync_llm import BaseLLMSDK, toolkit

if TYPE_CHECKING:
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


def anthropic_messages(system_prompt: str, user_content: str) -> tuple[str | None, str]:
    """``(system, user)``: the system prompt goes in its own parameter (the seed's way).

    With no user content the system prompt is sent as the user message instead, because
    the API rejects a conversation without a non-empty user turn.
    """
    if not user_content:
        return None, system_prompt
    return (system_prompt or None), user_content


class AnthropicSDK(BaseLLMSDK):
    """SDK ``Anthropic``: ``anthropic.Anthropic`` against ``endpoint``, streaming every call.

    Every request streams (as the seed does), so long generations never hit the SDK's
    time limit for non-streaming requests. The current Messages API has no temperature
    parameter: the clamped temperature is accepted and not sent. Clients are pooled per
    (endpoint, key, timeout), async ones per event loop; their own retries are off.
    """

    # Created on first use: discovery instantiates every plugin at every process start.
    @functools.cached_property
    def _clients(self) -> toolkit.ClientCache[Any]:
        return toolkit.ClientCache()

    @functools.cached_property
    def _async_clients(self) -> toolkit.AsyncClientCache[Any]:
        return toolkit.AsyncClientCache()

    def get_name(self) -> str:
        return SDK

    def validate_config(self, config: Mapping[str, Any]) -> None:
        toolkit.check_config(config, sdk=SDK, required=("endpoint", "deployment"))

    def complete(
        self,
        config: Mapping[str, Any],
        system_prompt: str,
        user_content: str,
        temperature: float,
        max_tokens: int,
        api_key: str | None = None,
    ) -> toolkit.Completion:
        self.validate_config(config)
        client = self.client_for(config, api_key)
        with (
            _errors(config),
            client.messages.stream(
                **_request(config, system_prompt, user_content, max_tokens)
            ) as stream,
        ):
            message = stream.get_final_message()
            request_id = stream.response.headers.get("request-id")
        return _completion(message, config.get("name"), request_id)

    async def acomplete(
        self,
        config: Mapping[str, Any],
        system_prompt: str,
        user_content: str,
        temperature: float,
        max_tokens: int,
        api_key: str | None = None,
    ) -> toolkit.Completion:
        self.validate_config(config)
        client = await self.async_client_for(config, api_key)
        with _errors(config):
            async with client.messages.stream(
                **_request(config, system_prompt, user_content, max_tokens)
            ) as stream:
                message = await stream.get_final_message()
                request_id = stream.response.headers.get("request-id")
        return _completion(message, config.get("name"), request_id)

    def stream(
        self,
        config: Mapping[str, Any],
        system_prompt: str,
        user_content: str,
        temperature: float,
        max_tokens: int,
        api_key: str | None = None,
    ) -> Iterator[StreamItem]:
        self.validate_config(config)
        client = self.client_for(config, api_key)
        with (
            _errors(config),
            client.messages.stream(
                **_request(config, system_prompt, user_content, max_tokens)
            ) as stream,
        ):
            yield from stream.text_stream
            message = stream.get_final_message()
            request_id = stream.response.headers.get("request-id")
        yield _stream_end(message, request_id)

    async def astream(
        self,
        config: Mapping[str, Any],
        system_prompt: str,
        user_content: str,
        temperature: float,
        max_tokens: int,
        api_key: str | None = None,
    ) -> AsyncIterator[StreamItem]:
        self.validate_config(config)
        client = await self.async_client_for(config, api_key)
        with _errors(config):
            async with client.messages.stream(
                **_request(config, system_prompt, user_content, max_tokens)
            ) as stream:
                async for text in stream.text_stream:
                    yield text
                message = await stream.get_final_message()
                request_id = stream.response.headers.get("request-id")
        yield _stream_end(message, request_id)

    def client_for(self, config: Mapping[str, Any], api_key: str | None) -> Any:
        """The pooled client for this document and key."""
        return self._clients.get(
            toolkit.client_key(config, api_key), lambda: _create_client(config, api_key, False)
        )

    async def async_client_for(self, config: Mapping[str, Any], api_key: str | None) -> Any:
        """The pooled async client for this document, key and the running event loop."""
        return await self._async_clients.get(
            toolkit.client_key(config, api_key), lambda: _create_client(config, api_key, True)
        )


def _create_client(config: Mapping[str, Any], api_key: str | None, asynchronous: bool) -> Any:
    import anthropic  # noqa: PLC0415 - the client library loads on first use only

    cls = anthropic.AsyncAnthropic if asynchronous else anthropic.Anthropic
    timeout = anthropic.Timeout(
        toolkit.timeout_of(config), connect=toolkit.connect_timeout_of(config)
    )
    return cls(base_url=config["endpoint"], api_key=api_key, max_retries=0, timeout=timeout)


def _request(
    config: Mapping[str, Any], system_prompt: str, user_content: str, max_tokens: int
) -> dict[str, Any]:
    system, user = anthropic_messages(system_prompt, user_content)
    request: dict[str, Any] = {
        "model": config["deployment"],
        "max_tokens": max_tokens,
        "messages": [{"role": "user", "content": user}],
    }
    if system:
        request["system"] = system
    extra = toolkit.extra_body(config)
    if extra:
        request["extra_body"] = extra
    return request


def _errors(config: Mapping[str, Any]) -> toolkit.sdk_errors:
    import json  # noqa: PLC0415 - not needed at discovery

    import anthropic  # noqa: PLC0415 - imported already: a client exists

    # anthropic raises a bare JSONDecodeError for a body that is not JSON.
    return toolkit.sdk_errors(
        (anthropic.AnthropicError, json.JSONDecodeError), sdk=SDK, model=config.get("name")
    )


def _usage(message: Any) -> tuple[int | None, int | None, int | None]:
    usage = message.usage
    # Cached prompt tokens are reported apart from input_tokens; all of them are prompt.
    parts = [
        toolkit.usage_count(getattr(usage, f, None))
        for f in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")
    ]
    prompt = None if parts[0] is None else sum(p for p in parts if p is not None)
    completion = toolkit.usage_count(getattr(usage, "output_tokens", None))
    total = prompt + completion if prompt is not None and completion is not None else None
    return prompt, completion, total


def _finish(message: Any) -> str | None:
    stop: str | None = message.stop_reason
    return FINISH_REASONS.get(stop, stop) if stop is not None else None


def _stream_end(message: Any, request_id: str | None) -> toolkit.StreamEnd:
    return toolkit.StreamEnd(*_usage(message), _finish(message), request_id)


def _completion(message: Any, model: str | None, request_id: str | None) -> toolkit.Completion:
    text = "".join(
        block.text for block in message.content if getattr(block, "type", None) == "text"
    )
    text = toolkit.require_text(text, _finish(message), sdk=SDK, model=model, request_id=request_id)
    return toolkit.Completion(text, *_usage(message), _finish(message), request_id)
