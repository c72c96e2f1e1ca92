"""metasync-llm: call many LLM providers through one pluggy plugin contract."""

from typing import TYPE_CHECKING as _TYPE_CHECKING

from metasync_llm._lazy import lazy_exports as _lazy_exports
from metasync_llm.base_sdk import BaseLLMSDK
from metasync_llm.hookspecs import hookimpl, hookspec
from metasync_llm.registry import PluginRegistry, SDKRegistry

__version__ = "0.1.0"

# Loaded on first use: listing SDKs (every process start) needs only the plugin contract,
# not the connector, the results or the exception classes. Each name is written once.
_LAZY = {
    **dict.fromkeys(
        (
            "PreparedModel",
            "acomplete_with_model",
            "astream_with_model",
            "complete_with_model",
            "prepare_model",
            "stream_with_model",
        ),
        "metasync_llm.connector",
    ),
    **dict.fromkeys(
        (
            "APIConnectionError",
            "APITimeoutError",
            "AllModelsFailedError",
            "AuthenticationError",
            "BadRequestError",
            "CompletionError",
            "ConfigurationError",
            "ContentFilterError",
            "ContextWindowExceededError",
            "EmptyResponseError",
            "IncompleteResponseError",
            "MetasyncLLMError",
            "MissingAPIKeyError",
            "NotFoundError",
            "PermissionDeniedError",
            "PluginError",
            "RateLimitError",
            "SDKNotFoundError",
            "SchemaValidationError",
            "ServerError",
            "ToolLoopError",
            "TruncatedResponseError",
        ),
        "metasync_llm.errors",
    ),
    **dict.fromkeys(("Message", "Request"), "metasync_llm.request"),
    **dict.fromkeys(
        ("Completion", "CompletionResult", "Cost", "RouteAttempt", "StreamEnd"),
        "metasync_llm.result",
    ),
    "Router": "metasync_llm.routing",
    "RetryPolicy": "metasync_llm.retry",
    "Attachment": "metasync_llm.attachments",
    **dict.fromkeys(
        ("Tool", "ToolCall", "ToolRun", "arun_tools", "run_tools"), "metasync_llm.tools"
    ),
    "RateLimit": "metasync_llm._model",
    **dict.fromkeys(("register_observer", "unregister_observer"), "metasync_llm.observers"),
    **dict.fromkeys(
        ("BatchRequest", "BatchSummary", "arun_batch", "run_batch"), "metasync_llm.batch"
    ),
    **dict.fromkeys(("AsyncCompletionStream", "CompletionStream"), "metasync_llm._pipeline._run"),
}

__all__ = [  # noqa: PLE0604 - _LAZY is the one list of the lazy names
    "BaseLLMSDK",
    "PluginRegistry",
    "SDKRegistry",
    "__version__",
    "hookimpl",
    "hookspec",
    *_LAZY,
]

if _TYPE_CHECKING:
    from metasync_llm._model import RateLimit as RateLimit
    from metasync_llm._pipeline._run import *  # noqa: F403
    from metasync_llm.attachments import Attachment as Attachment
    from metasync_llm.batch import *  # noqa: F403
    from metasync_llm.connector import *  # noqa: F403
    from metasync_llm.errors import *  # noqa: F403
    from metasync_llm.observers import register_observer as register_observer
    from metasync_llm.observers import unregister_observer as unregister_observer
    from metasync_llm.request import *  # noqa: F403
    from metasync_llm.result import *  # noqa: F403
    from metasync_llm.retry import *  # noqa: F403
    from metasync_llm.routing import Router as Router
    from metasync_llm.tools import *  # noqa: F403

__getattr__, __dir__ = _lazy_exports(globals(), _LAZY)
