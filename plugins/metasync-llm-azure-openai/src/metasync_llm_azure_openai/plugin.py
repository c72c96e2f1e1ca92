"""The ``AzureOpenAI`` SDK plugin: the ``OpenAI`` plugin with Azure's client and endpoint."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from metasync_llm_openai import OpenAISDK

from metasync_llm import toolkit


class AzureOpenAISDK(OpenAISDK):
    """SDK ``AzureOpenAI``: ``openai.AzureOpenAI`` for an Azure OpenAI resource.

    ``endpoint`` is the resource URL, ``apiVersion`` the API version, ``deployment`` the
    deployment name. Requests, usage and errors behave as in the ``OpenAI`` plugin.
    """

    sdk_name = "AzureOpenAI"
    required_fields = ("endpoint", "apiVersion", "deployment")
    limits_hosts = None  # every endpoint is Azure's own API, with its limits
    message_format = "combined"  # the seed's way for this SDK
    # Azure OpenAI's vision input: images of at most 20 MB; its stable API has no PDF parts.
    attachment_types = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})
    max_attachment_bytes = 20 * 2**20

    def reasoning_problem(
        self, config: Mapping[str, Any], reasoning: str | int, max_tokens: int
    ) -> str | None:
        version = str(config["apiVersion"])
        if version < "2024-12-01-preview":  # ISO dates compare as strings
            return f"API version {version} has no reasoning_effort (2024-12-01-preview and later)"
        return super().reasoning_problem(config, reasoning, max_tokens)

    def client_class(self, openai: Any, *, asynchronous: bool) -> Any:
        return openai.AsyncAzureOpenAI if asynchronous else openai.AzureOpenAI

    def client_options(self, config: Mapping[str, Any]) -> dict[str, Any]:
        return {"azure_endpoint": toolkit.endpoint_of(config), "api_version": config["apiVersion"]}
