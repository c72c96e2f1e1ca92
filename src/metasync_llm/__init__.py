"""metasync-llm: call many LLM providers through one pluggy plugin contract."""

from typing import TYPE_CHECKING as _TYPE_CHECKING

from metasync_llm._lazy import lazy_attributes as _lazy_attributes
from metasync_llm.base_sdk import BaseLLMSDK
from metasync_llm.hookspecs import hookimpl, hookspec
from metasync_llm.registry import PluginRegistry, SDKRegistry

__version__ = "0.1.0"

if _TYPE_CHECKING:
    from metasync_llm.connector import (
        acomplete_with_model,
        astream_with_model,
        complete_with_model,
        stream_with_model,
    )
    from metasync_llm.errors import (
        APIConnectionError,
        APITimeoutError,
        AuthenticationError,
        BadRequestError,
        CompletionError,
        ConfigurationError,
        ContentFilterError,
        ContextWindowExceededError,
        EmptyResponseError,
        MetasyncLLMError,
        MissingAPIKeyError,
        NotFoundError,
        PermissionDeniedError,
        PluginError,
        RateLimitError,
        SDKNotFoundError,
        ServerError,
        TruncatedResponseError,
    )
    from metasync_llm.result import Completion, CompletionResult, Cost, StreamEnd
    from metasync_llm.retry import RetryPolicy
    from metasync_llm.streaming import AsyncCompletionStream, CompletionStream

# Loaded on first use: listing SDKs (every process start) needs only the plugin contract,
# not the connector, the results or the exception classes.
_LAZY = {
    "acomplete_with_model": "metasync_llm.connector",
    "astream_with_model": "metasync_llm.connector",
    "complete_with_model": "metasync_llm.connector",
    "stream_with_model": "metasync_llm.connector",
    "AsyncCompletionStream": "metasync_llm.streaming",
    "CompletionStream": "metasync_llm.streaming",
    "Completion": "metasync_llm.result",
    "CompletionResult": "metasync_llm.result",
    "Cost": "metasync_llm.result",
    "StreamEnd": "metasync_llm.result",
    "RetryPolicy": "metasync_llm.retry",
    "APIConnectionError": "metasync_llm.errors",
    "APITimeoutError": "metasync_llm.errors",
    "AuthenticationError": "metasync_llm.errors",
    "BadRequestError": "metasync_llm.errors",
    "CompletionError": "metasync_llm.errors",
    "ConfigurationError": "metasync_llm.errors",
    "ContentFilterError": "metasync_llm.errors",
    "ContextWindowExceededError": "metasync_llm.errors",
    "EmptyResponseError": "metasync_llm.errors",
    "MetasyncLLMError": "metasync_llm.errors",
    "MissingAPIKeyError": "metasync_llm.errors",
    "NotFoundError": "metasync_llm.errors",
    "PermissionDeniedError": "metasync_llm.errors",
    "PluginError": "metasync_llm.errors",
    "RateLimitError": "metasync_llm.errors",
    "SDKNotFoundError": "metasync_llm.errors",
    "ServerError": "metasync_llm.errors",
    "TruncatedResponseError": "metasync_llm.errors",
}


__getattr__, __dir__ = _lazy_attributes(globals(), _LAZY)


__all__ = [
    "APIConnectionError",
    "APITimeoutError",
    "AsyncCompletionStream",
    "AuthenticationError",
    "BadRequestError",
    "BaseLLMSDK",
    "Completion",
    "CompletionError",
    "CompletionResult",
    "CompletionStream",
    "ConfigurationError",
    "ContentFilterError",
    "ContextWindowExceededError",
    "Cost",
    "EmptyResponseError",
    "MetasyncLLMError",
    "MissingAPIKeyError",
    "NotFoundError",
    "PermissionDeniedError",
    "PluginError",
    "PluginRegistry",
    "RateLimitError",
    "RetryPolicy",
    "SDKNotFoundError",
    "SDKRegistry",
    "ServerError",
    "StreamEnd",
    "TruncatedResponseError",
    "__version__",
    "acomplete_with_model",
    "astream_with_model",
    "complete_with_model",
    "hookimpl",
    "hookspec",
    "stream_with_model",
]
