"""The ``ChatCompletionsClient`` SDK plugin: Azure AI Inference through ``azure-ai-inference``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from metasync_llm import BaseLLMSDK, Completion
from metasync_llm.chat import (
    chat_messages,
    extra_body,
    sampling_options,
    timeout_of,
    total_of,
    usage_count,
)
from metasync_llm.clients import ClientCache, key_fingerprint
from metasync_llm.errors import (
    ContentFilterError,
    EmptyResponseError,
    TruncatedResponseError,
    error_from_exception,
)
from metasync_llm.model import check_config

SDK = "ChatCompletionsClient"
CONNECT_TIMEOUT = 10.0


class ChatCompletionsClientSDK(BaseLLMSDK):
    """SDK ``ChatCompletionsClient``: ``azure.ai.inference.ChatCompletionsClient``.

    Parameters the SDK does not model (``max_completion_tokens``, ``extraBody``) go in
    ``model_extras``, which makes the SDK send the ``extra-parameters: pass-through``
    header. One client per (endpoint, key, API version, timeout), reused by every call
    and thread; azure-core's retries are off (one call is one request).
    """

    def __init__(self) -> None:
        self._clients: ClientCache[Any] = ClientCache()

    def get_name(self) -> str:
        return SDK

    def validate_config(self, config: Mapping[str, Any]) -> None:
        check_config(config, sdk=SDK, required=("endpoint", "apiVersion", "deployment"))

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
        options = sampling_options(config, temperature, max_tokens)
        extras = extra_body(config) or {}
        if "max_completion_tokens" in options:
            extras["max_completion_tokens"] = options.pop("max_completion_tokens")
        from azure.core.exceptions import AzureError, DeserializationError  # noqa: PLC0415

        model = config.get("name")
        try:
            response = client.complete(
                messages=chat_messages(config, system_prompt, user_content),
                model=config["deployment"],
                model_extras=extras or None,
                **options,
            )
        except (AzureError, DeserializationError) as exc:
            raise error_from_exception(exc, sdk=SDK, model=model) from exc
        return _completion(response, model)

    def client_for(self, config: Mapping[str, Any], api_key: str | None) -> Any:
        """The pooled client for this document and key."""
        timeout = timeout_of(config)
        key = (config["endpoint"], config["apiVersion"], key_fingerprint(api_key), timeout)
        return self._clients.get(key, lambda: _create_client(config, api_key or "", timeout))


def _create_client(config: Mapping[str, Any], api_key: str, timeout: float) -> Any:
    from azure.ai.inference import ChatCompletionsClient  # noqa: PLC0415 - loads on first use
    from azure.core.credentials import AzureKeyCredential  # noqa: PLC0415

    return ChatCompletionsClient(
        endpoint=config["endpoint"],
        credential=AzureKeyCredential(api_key),
        api_version=config["apiVersion"],
        retry_total=0,
        connection_timeout=min(CONNECT_TIMEOUT, timeout),
        read_timeout=timeout,
    )


def _completion(response: Any, model: str | None) -> Completion:
    choice = response.choices[0] if response.choices else None
    text = choice.message.content if choice is not None else None
    finish = getattr(choice, "finish_reason", None)
    finish = str(getattr(finish, "value", finish)) if finish is not None else None
    usage = response.usage
    # Counts that cannot be (the spec's placeholder is -2**31) are treated as not reported.
    prompt = usage_count(getattr(usage, "prompt_tokens", None))
    completion = usage_count(getattr(usage, "completion_tokens", None))
    total = total_of(prompt, completion, getattr(usage, "total_tokens", None))
    if not text:
        where = f"{SDK} model {model!r}"
        if finish == "length":
            raise TruncatedResponseError(
                f"{where} used all max_tokens before writing any answer: raise max_tokens",
                sdk=SDK,
                model=model,
            )
        if finish == "content_filter":
            raise ContentFilterError(
                f"{where}: the answer was blocked by the content filter", sdk=SDK, model=model
            )
        raise EmptyResponseError(
            f"{SDK} returned empty response content for model {model!r}.", sdk=SDK, model=model
        )
    return Completion(text, prompt, completion, total, finish, getattr(response, "id", None))
