"""The ``ChatCompletionsClient`` SDK plugin: Azure AI Inference through ``azure-ai-inference``."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from metasync_llm import BaseLLMSDK, toolkit

if TYPE_CHECKING:
    from metasync_llm.result import StreamItem

SDK = "ChatCompletionsClient"


class ChatCompletionsClientSDK(BaseLLMSDK):
    """SDK ``ChatCompletionsClient``: ``azure.ai.inference.ChatCompletionsClient``.

    Parameters the SDK does not model (``max_completion_tokens``, ``extraBody``) go in
    ``model_extras``, which makes the SDK send the ``extra-parameters: pass-through``
    header. One client per (endpoint, key, API version, timeout), reused by every call
    and thread (async clients, from ``azure.ai.inference.aio``, per event loop);
    azure-core's retries are off (one call is one request).
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
        toolkit.check_config(config, sdk=SDK, required=("endpoint", "apiVersion", "deployment"))

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
        with _errors(config):
            response = client.complete(
                **_request(config, system_prompt, user_content, temperature, max_tokens)
            )
        return _completion(response, config.get("name"))

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
            response = await client.complete(
                **_request(config, system_prompt, user_content, temperature, max_tokens)
            )
        return _completion(response, config.get("name"))

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
        reader = _UpdateReader()
        with _errors(config):
            updates = client.complete(
                stream=True,
                **_request(config, system_prompt, user_content, temperature, max_tokens),
            )
            with updates:
                for update in updates:
                    text = reader.feed(update)
                    if text:
                        yield text
        yield reader.end()

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
        reader = _UpdateReader()
        with _errors(config):
            updates = await client.complete(
                stream=True,
                **_request(config, system_prompt, user_content, temperature, max_tokens),
            )
            async with updates:
                async for update in updates:
                    text = reader.feed(update)
                    if text:
                        yield text
        yield reader.end()

    def client_for(self, config: Mapping[str, Any], api_key: str | None) -> Any:
        """The pooled client for this document and key."""
        return self._clients.get(
            toolkit.client_key(config, api_key),
            lambda: _create_client(config, api_key or "", False),
        )

    async def async_client_for(self, config: Mapping[str, Any], api_key: str | None) -> Any:
        """The pooled async client for this document, key and the running event loop."""
        return await self._async_clients.get(
            toolkit.client_key(config, api_key), lambda: _create_client(config, api_key or "", True)
        )


def _create_client(config: Mapping[str, Any], api_key: str, asynchronous: bool) -> Any:
    from azure.core.credentials import AzureKeyCredential  # noqa: PLC0415 - first use only

    if asynchronous:
        from azure.ai.inference.aio import ChatCompletionsClient  # noqa: PLC0415
    else:
        from azure.ai.inference import ChatCompletionsClient  # type: ignore[assignment] # noqa: PLC0415
    timeout = toolkit.timeout_of(config)
    return ChatCompletionsClient(
        endpoint=config["endpoint"],
        credential=AzureKeyCredential(api_key),
        api_version=config["apiVersion"],
        retry_total=0,
        connection_timeout=toolkit.connect_timeout_of(config),
        read_timeout=timeout,
    )


def _request(
    config: Mapping[str, Any],
    system_prompt: str,
    user_content: str,
    temperature: float,
    max_tokens: int,
) -> dict[str, Any]:
    options = toolkit.sampling_options(config, temperature, max_tokens)
    extras = toolkit.extra_body(config) or {}
    if "max_completion_tokens" in options:
        extras["max_completion_tokens"] = options.pop("max_completion_tokens")
    return {
        "messages": toolkit.chat_messages(config, system_prompt, user_content),
        "model": config["deployment"],
        "model_extras": extras or None,
        **options,
    }


def _errors(config: Mapping[str, Any]) -> toolkit.sdk_errors:
    from azure.core.exceptions import AzureError, DeserializationError  # noqa: PLC0415

    return toolkit.sdk_errors((AzureError, DeserializationError), sdk=SDK, model=config.get("name"))


def _get(obj: Any, key: str) -> Any:
    # azure-core models are mappings over the raw JSON: reading that is ~25x cheaper than
    # their attributes, which deserialize on every access.
    if isinstance(obj, Mapping):
        return obj.get(key)
    return getattr(obj, key, None)


def _finish_reason(choice: Any) -> str | None:
    finish = _get(choice, "finish_reason")
    return str(getattr(finish, "value", finish)) if finish is not None else None


def _usage(usage: Any) -> tuple[int | None, int | None, int | None]:
    # Counts that cannot be (the spec's placeholder is -2**31) are treated as not reported.
    prompt = toolkit.usage_count(_get(usage, "prompt_tokens"))
    completion = toolkit.usage_count(_get(usage, "completion_tokens"))
    return prompt, completion, toolkit.total_of(prompt, completion, _get(usage, "total_tokens"))


def _completion(response: Any, model: str | None) -> toolkit.Completion:
    choices = _get(response, "choices")
    choice = choices[0] if choices else None
    finish = _finish_reason(choice)
    text = toolkit.require_text(
        _get(_get(choice, "message"), "content"), finish, sdk=SDK, model=model
    )
    return toolkit.Completion(text, *_usage(_get(response, "usage")), finish, _get(response, "id"))


class _UpdateReader:
    """Collects what a stream of updates says besides text: finish reason, usage, id."""

    def __init__(self) -> None:
        self.finish: str | None = None
        self.usage: Any = None
        self.request_id: str | None = None

    def feed(self, update: Any) -> str | None:
        usage = _get(update, "usage")
        if usage is not None:
            self.usage = usage
        self.request_id = self.request_id or _get(update, "id")
        choices = _get(update, "choices")
        if not choices:
            return None
        choice = choices[0]
        self.finish = _finish_reason(choice) or self.finish
        content: str | None = _get(_get(choice, "delta"), "content")
        return content

    def end(self) -> toolkit.StreamEnd:
        return toolkit.StreamEnd(*_usage(self.usage), self.finish, self.request_id)
