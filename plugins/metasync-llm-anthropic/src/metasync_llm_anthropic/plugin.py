"""The ``Anthropic`` SDK plugin: the Messages API, streamed, through the ``anthropic`` library."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from metasync_llm import BaseLLMSDK, Completion
from metasync_llm.chat import extra_body, timeout_of, usage_count
from metasync_llm.clients import ClientCache, key_fingerprint
from metasync_llm.errors import (
    ContentFilterError,
    EmptyResponseError,
    TruncatedResponseError,
    error_from_exception,
)
from metasync_llm.model import check_config

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
    parameter: the clamped temperature is accepted and not sent.
    """

    def __init__(self) -> None:
        self._clients: ClientCache[Any] = ClientCache()

    def get_name(self) -> str:
        return SDK

    def validate_config(self, config: Mapping[str, Any]) -> None:
        check_config(config, sdk=SDK, required=("endpoint", "deployment"))

    def complete(
        self,
        config: Mapping[str, Any],
        system_prompt: str,
        user_content: str,
        temperature: float,
        max_tokens: int,
        api_key: str | None = None,
    ) -> Completion:
        self.validate_config(config)
        client = self.client_for(config, api_key)
        system, user = anthropic_messages(system_prompt, user_content)
        request: dict[str, Any] = {
            "model": config["deployment"],
            "max_tokens": max_tokens,
            "messages": [{"role": "user", "content": user}],
        }
        if system:
            request["system"] = system
        extra = extra_body(config)
        if extra:
            request["extra_body"] = extra
        import anthropic  # noqa: PLC0415 - already imported by client_for; a dict lookup

        model = config.get("name")
        try:
            with client.messages.stream(**request) as stream:
                message = stream.get_final_message()
                request_id = stream.response.headers.get("request-id")
        except anthropic.AnthropicError as exc:
            raise error_from_exception(exc, sdk=SDK, model=model) from exc
        return _completion(message, model, request_id)

    def client_for(self, config: Mapping[str, Any], api_key: str | None) -> Any:
        """The pooled client for this document and key."""
        timeout = timeout_of(config)
        key = (config["endpoint"], key_fingerprint(api_key), timeout)
        return self._clients.get(key, lambda: _create_client(config, api_key, timeout))


def _create_client(config: Mapping[str, Any], api_key: str | None, timeout: float) -> Any:
    import anthropic  # noqa: PLC0415 - the client library loads on first use only

    return anthropic.Anthropic(
        base_url=config["endpoint"], api_key=api_key, max_retries=0, timeout=timeout
    )


def _completion(message: Any, model: str | None, request_id: str | None) -> Completion:
    text = "".join(
        block.text for block in message.content if getattr(block, "type", None) == "text"
    )
    stop = message.stop_reason
    finish = FINISH_REASONS.get(stop, stop)
    usage = message.usage
    # Cached prompt tokens are reported apart from input_tokens; all of them are prompt.
    parts = [
        usage_count(getattr(usage, f, None))
        for f in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")
    ]
    prompt = None if parts[0] is None else sum(p for p in parts if p is not None)
    completion = usage_count(getattr(usage, "output_tokens", None))
    total = prompt + completion if prompt is not None and completion is not None else None
    if not text:
        where = f"{SDK} model {model!r}"
        if finish == "length":
            raise TruncatedResponseError(
                f"{where} reached max_tokens before writing any text: raise max_tokens",
                sdk=SDK,
                model=model,
            )
        if finish == "content_filter":
            raise ContentFilterError(
                f"{where} refused to answer", sdk=SDK, model=model, request_id=request_id
            )
        raise EmptyResponseError(
            f"{SDK} returned empty response content for model {model!r}.",
            sdk=SDK,
            model=model,
            request_id=request_id,
        )
    return Completion(text, prompt, completion, total, finish, request_id)
