"""metasync-llm SDK plugin ``OpenAI`` (the ``openai`` client library, imported on first use)."""

from metasync_llm_openai.plugin import OpenAISDK

__all__ = ["OpenAISDK"]
