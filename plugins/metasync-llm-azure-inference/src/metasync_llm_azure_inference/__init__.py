"""metasync-llm SDK plugin ``ChatCompletionsClient`` (``azure-ai-inference``, lazily imported)."""

from metasync_llm_azure_inference.plugin import ChatCompletionsClientSDK

__all__ = ["ChatCompletionsClientSDK"]
