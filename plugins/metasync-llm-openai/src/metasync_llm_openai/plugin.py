"""The ``OpenAI`` SDK plugin: Chat Completions through the ``openai`` client library."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

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


class OpenAISDK(BaseLLMSDK):
    """SDK ``OpenAI``: ``openai.OpenAI`` against ``endpoint`` (any OpenAI-compatible base URL).

    One client per (endpoint, key, timeout) is created on first use and reused by every
    call and thread. The client's own retries are off: one call is one HTTP request.
    """

    sdk_name: ClassVar[str] = "OpenAI"
    required_fields: ClassVar[tuple[str, ...]] = ("endpoint", "deployment")

    def __init__(self) -> None:
        self._clients: ClientCache[Any] = ClientCache()

    def get_name(self) -> str:
        return self.sdk_name

    def validate_config(self, config: Mapping[str, Any]) -> None:
        check_config(config, sdk=self.sdk_name, required=self.required_fields)

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
        request: dict[str, Any] = {
            "model": config["deployment"],
            "messages": chat_messages(config, system_prompt, user_content),
            **sampling_options(config, temperature, max_tokens),
        }
        extra = extra_body(config)
        if extra:
            request["extra_body"] = extra
        import openai  # noqa: PLC0415 - already imported by client_for; a dict lookup

        try:
            response = client.chat.completions.create(**request)
        except openai.OpenAIError as exc:
            raise error_from_exception(exc, sdk=self.sdk_name, model=config.get("name")) from exc
        return self._completion(response, config)

    def client_for(self, config: Mapping[str, Any], api_key: str | None) -> Any:
        """The pooled client for this document and key."""
        timeout = timeout_of(config)
        key = (config["endpoint"], config.get("apiVersion"), key_fingerprint(api_key), timeout)
        return self._clients.get(key, lambda: self._create_client(config, api_key, timeout))

    def _create_client(self, config: Mapping[str, Any], api_key: str | None, timeout: float) -> Any:
        import openai  # noqa: PLC0415 - the client library loads on first use only

        return openai.OpenAI(
            base_url=config["endpoint"], api_key=api_key, max_retries=0, timeout=timeout
        )

    def _completion(self, response: Any, config: Mapping[str, Any]) -> Completion:
        model = config.get("name")
        request_id = getattr(response, "_request_id", None)
        choice = response.choices[0] if response.choices else None
        finish = getattr(choice, "finish_reason", None)
        text = choice.message.content if choice is not None else None
        usage = response.usage
        prompt = usage_count(getattr(usage, "prompt_tokens", None))
        completion = usage_count(getattr(usage, "completion_tokens", None))
        total = total_of(prompt, completion, getattr(usage, "total_tokens", None))
        if not text:
            where = f"{self.sdk_name} model {model!r}"
            if finish == "length":
                raise TruncatedResponseError(
                    f"{where} used all max_tokens before writing any answer (reasoning models"
                    " spend tokens thinking): raise max_tokens",
                    sdk=self.sdk_name,
                    model=model,
                )
            if finish == "content_filter":
                raise ContentFilterError(
                    f"{where}: the answer was blocked by the content filter",
                    sdk=self.sdk_name,
                    model=model,
                    request_id=request_id,
                )
            raise EmptyResponseError(
                f"{self.sdk_name} returned empty response content for model {model!r}.",
                sdk=self.sdk_name,
                model=model,
                request_id=request_id,
            )
        return Completion(text, prompt, completion, total, finish, request_id)
