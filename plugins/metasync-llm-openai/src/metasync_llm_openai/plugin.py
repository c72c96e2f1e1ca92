"""The ``OpenAI`` SDK plugin: Chat Completions through the ``openai`` client library."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from metasync_llm import BaseLLMSDK, toolkit

if TYPE_CHECKING:
    from metasync_llm.result import StreamItem


class OpenAISDK(BaseLLMSDK):
    """SDK ``OpenAI``: ``openai.OpenAI`` against ``endpoint`` (any OpenAI-compatible base URL).

    One client per (endpoint, key, timeout) is created on first use and reused by every
    call and thread (async clients: per event loop). The client's own retries are off:
    one call is one HTTP request. Streams ask for usage in their last chunk.
    """

    sdk_name: ClassVar[str] = "OpenAI"
    required_fields: ClassVar[tuple[str, ...]] = ("endpoint", "deployment")

    # Created on first use: discovery instantiates every plugin at every process start.
    @functools.cached_property
    def _clients(self) -> toolkit.ClientCache[Any]:
        return toolkit.ClientCache()

    @functools.cached_property
    def _async_clients(self) -> toolkit.AsyncClientCache[Any]:
        return toolkit.AsyncClientCache()

    def get_name(self) -> str:
        return self.sdk_name

    def validate_config(self, config: Mapping[str, Any]) -> None:
        toolkit.check_config(config, sdk=self.sdk_name, required=self.required_fields)

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
        request = self._request(config, system_prompt, user_content, temperature, max_tokens)
        with self._errors(config):
            response = client.chat.completions.create(**request)
        return self._completion(response, config)

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
        request = self._request(config, system_prompt, user_content, temperature, max_tokens)
        with self._errors(config):
            response = await client.chat.completions.create(**request)
        return self._completion(response, config)

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
        request = self._request(
            config, system_prompt, user_content, temperature, max_tokens, stream=True
        )
        reader = _ChunkReader()
        with self._errors(config), client.chat.completions.create(**request) as chunks:
            reader.request_id = chunks.response.headers.get("x-request-id")
            for chunk in chunks:
                text = reader.feed(chunk)
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
        request = self._request(
            config, system_prompt, user_content, temperature, max_tokens, stream=True
        )
        reader = _ChunkReader()
        with self._errors(config):
            async with await client.chat.completions.create(**request) as chunks:
                reader.request_id = chunks.response.headers.get("x-request-id")
                async for chunk in chunks:
                    text = reader.feed(chunk)
                    if text:
                        yield text
        yield reader.end()

    def client_for(self, config: Mapping[str, Any], api_key: str | None) -> Any:
        """The pooled client for this document and key."""
        return self._clients.get(
            toolkit.client_key(config, api_key),
            lambda: self._create_client(config, api_key, _timeout(config), asynchronous=False),
        )

    async def async_client_for(self, config: Mapping[str, Any], api_key: str | None) -> Any:
        """The pooled async client for this document, key and the running event loop."""
        return await self._async_clients.get(
            toolkit.client_key(config, api_key),
            lambda: self._create_client(config, api_key, _timeout(config), asynchronous=True),
        )

    def _create_client(
        self,
        config: Mapping[str, Any],
        api_key: str | None,
        timeout: Any,
        *,
        asynchronous: bool,
    ) -> Any:
        import openai  # noqa: PLC0415 - the client library loads on first use only

        cls = openai.AsyncOpenAI if asynchronous else openai.OpenAI
        return cls(base_url=config["endpoint"], api_key=api_key, max_retries=0, timeout=timeout)

    @staticmethod
    def _request(
        config: Mapping[str, Any],
        system_prompt: str,
        user_content: str,
        temperature: float,
        max_tokens: int,
        *,
        stream: bool = False,
    ) -> dict[str, Any]:
        request: dict[str, Any] = {
            "model": config["deployment"],
            "messages": toolkit.chat_messages(config, system_prompt, user_content),
            **toolkit.sampling_options(config, temperature, max_tokens),
        }
        if stream:
            request["stream"] = True
            request["stream_options"] = {"include_usage": True}
        extra = toolkit.extra_body(config)
        if extra:
            request["extra_body"] = extra
        return request

    def _errors(self, config: Mapping[str, Any]) -> toolkit.sdk_errors:
        import json  # noqa: PLC0415 - not needed at discovery

        import openai  # noqa: PLC0415 - imported already: a client exists

        # openai raises a bare JSONDecodeError for a body that is not JSON.
        return toolkit.sdk_errors(
            (openai.OpenAIError, json.JSONDecodeError), sdk=self.sdk_name, model=config.get("name")
        )

    def _completion(self, response: Any, config: Mapping[str, Any]) -> toolkit.Completion:
        request_id = getattr(response, "_request_id", None)
        choice = response.choices[0] if response.choices else None
        finish = getattr(choice, "finish_reason", None)
        text = toolkit.require_text(
            choice.message.content if choice is not None else None,
            finish,
            sdk=self.sdk_name,
            model=config.get("name"),
            request_id=request_id,
        )
        usage = response.usage
        prompt = toolkit.usage_count(getattr(usage, "prompt_tokens", None))
        completion = toolkit.usage_count(getattr(usage, "completion_tokens", None))
        total = toolkit.total_of(prompt, completion, getattr(usage, "total_tokens", None))
        return toolkit.Completion(text, prompt, completion, total, finish, request_id)


def _timeout(config: Mapping[str, Any]) -> Any:
    import openai  # noqa: PLC0415 - called while creating a client

    return openai.Timeout(toolkit.timeout_of(config), connect=toolkit.connect_timeout_of(config))


class _ChunkReader:
    """Collects what a chat-completion stream says besides text: finish reason and usage."""

    def __init__(self) -> None:
        self.finish: str | None = None
        self.usage: Any = None
        self.request_id: str | None = None

    def feed(self, chunk: Any) -> str | None:
        """The text of one chunk, remembering its finish reason and usage."""
        if getattr(chunk, "usage", None) is not None:
            self.usage = chunk.usage
        if not chunk.choices:
            return None
        choice = chunk.choices[0]
        if choice.finish_reason is not None:
            self.finish = choice.finish_reason
        delta = choice.delta
        return delta.content if delta is not None else None

    def end(self) -> toolkit.StreamEnd:
        prompt = toolkit.usage_count(getattr(self.usage, "prompt_tokens", None))
        completion = toolkit.usage_count(getattr(self.usage, "completion_tokens", None))
        total = toolkit.total_of(prompt, completion, getattr(self.usage, "total_tokens", None))
        return toolkit.StreamEnd(prompt, completion, total, self.finish, self.request_id)
