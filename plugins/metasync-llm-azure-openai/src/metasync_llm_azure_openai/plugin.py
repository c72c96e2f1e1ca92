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

    def client_class(self, openai: Any, *, asynchronous: bool) -> Any:
        return openai.AsyncAzureOpenAI if asynchronous else openai.AzureOpenAI

    def client_options(self, config: Mapping[str, Any]) -> dict[str, Any]:
        return {"azure_endpoint": toolkit.endpoint_of(config), "api_version": config["apiVersion"]}
