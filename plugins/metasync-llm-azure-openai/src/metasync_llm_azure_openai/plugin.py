"""The ``AzureOpenAI`` SDK plugin: the OpenAI plugin with Azure's client, endpoint and versions."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from metasync_llm_openai.plugin import OpenAISDK


class AzureOpenAISDK(OpenAISDK):
    """SDK ``AzureOpenAI``: ``openai.AzureOpenAI`` for an Azure OpenAI resource.

    ``endpoint`` is the resource URL, ``apiVersion`` the API version, ``deployment`` the
    deployment name. Requests, usage and errors behave as in the ``OpenAI`` plugin.
    """

    sdk_name: ClassVar[str] = "AzureOpenAI"
    required_fields: ClassVar[tuple[str, ...]] = ("endpoint", "apiVersion", "deployment")

    def _create_client(
        self,
        config: Mapping[str, Any],
        api_key: str | None,
        timeout: Any,
        *,
        asynchronous: bool,
    ) -> Any:
        import openai  # noqa: PLC0415 - the client library loads on first use only

        cls = openai.AsyncAzureOpenAI if asynchronous else openai.AzureOpenAI
        return cls(
            azure_endpoint=config["endpoint"],
            api_version=config["apiVersion"],
            api_key=api_key,
            max_retries=0,
            timeout=timeout,
        )
