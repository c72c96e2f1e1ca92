"""metasync-llm SDK plugin ``AzureOpenAI`` (``openai.AzureOpenAI``, imported on first use)."""

from metasync_llm_azure_openai.plugin import AzureOpenAISDK

__all__ = ["AzureOpenAISDK"]
