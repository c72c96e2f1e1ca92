"""metasync-llm SDK plugin ``Gemini`` (``google-genai`` is imported on first use)."""

from metasync_llm_gemini.plugin import GeminiSDK

__all__ = ["GeminiSDK"]
