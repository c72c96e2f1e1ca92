"""metasync-llm SDK plugin ``Anthropic`` (``anthropic`` is imported on first use)."""

from metasync_llm_anthropic.plugin import AnthropicSDK

__all__ = ["AnthropicSDK"]
