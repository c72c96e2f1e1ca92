"""metasync-llm: call many LLM providers through one pluggy plugin contract."""

from metasync_llm.base_sdk import BaseLLMSDK
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
from metasync_llm.hookspecs import hookimpl, hookspec
from metasync_llm.registry import PluginRegistry, SDKRegistry
from metasync_llm.result import Completion, CompletionResult, Cost, StreamEnd
from metasync_llm.retry import RetryPolicy
from metasync_llm.streaming import AsyncCompletionStream, CompletionStream

__version__ = "0.1.0"

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
