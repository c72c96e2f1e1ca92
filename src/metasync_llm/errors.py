"""The exception hierarchy: configuration errors are ``ValueError``, call failures ``RuntimeError``.

::

    MetasyncLLMError
    ├── ConfigurationError (ValueError)
    │   ├── MissingAPIKeyError
    │   └── SDKNotFoundError
    ├── PluginError (RuntimeError)          a plugin broke the contract
    └── CompletionError (RuntimeError)      the call failed
        ├── AuthenticationError             401
        ├── PermissionDeniedError           403
        ├── NotFoundError                   404 (model / deployment)
        ├── RateLimitError                  429, ``retry_after`` when given
        ├── BadRequestError                 400 / 422
        │   ├── ContextWindowExceededError  413, or a 400 that says so
        │   └── ContentFilterError
        ├── APITimeoutError
        ├── APIConnectionError
        │   └── IncompleteResponseError     the answer ended without its end marker
        ├── ServerError                     5xx
        ├── EmptyResponseError
        ├── SchemaValidationError           the answer does not fit ``schema=``
        └── TruncatedResponseError          ``max_tokens`` reached
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from metasync_llm._lazy import lazy_exports

if TYPE_CHECKING:
    from metasync_llm._wire._mapping import *  # noqa: F403
    from metasync_llm.result import CompletionResult


class MetasyncLLMError(Exception):
    """Base class of every error raised by metasync-llm.

    ``sdk``, ``model``, ``status`` (HTTP status) and ``request_id`` (the provider's) are
    set where known, ``None`` otherwise.
    """

    def __init__(
        self,
        message: str,
        *,
        sdk: str | None = None,
        model: str | None = None,
        status: int | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.sdk = sdk
        self.model = model
        self.status = status
        self.request_id = request_id
        #: For a stream that failed part-way: the text received before the failure.
        self.partial_text: str | None = None
        #: How many attempts the connector made before giving up (set by the connector).
        self.attempts: int | None = None

    def __str__(self) -> str:
        return self.message


class ConfigurationError(MetasyncLLMError, ValueError):
    """A model document, an argument or the installation is wrong; fix it and call again.

    ``fields`` lists the offending model-document fields or arguments.
    """

    def __init__(
        self,
        message: str,
        *,
        fields: Sequence[str] = (),
        sdk: str | None = None,
        model: str | None = None,
    ) -> None:
        super().__init__(message, sdk=sdk, model=model)
        self.fields = tuple(fields)


class MissingAPIKeyError(ConfigurationError):
    """No API key could be found; ``env_var`` names the variable to set, if any."""

    def __init__(
        self,
        message: str,
        *,
        env_var: str | None = None,
        sdk: str | None = None,
        model: str | None = None,
    ) -> None:
        super().__init__(message, fields=("key",), sdk=sdk, model=model)
        self.env_var = env_var


class SDKNotFoundError(ConfigurationError):
    """The model document names an SDK that is not installed, not allowed, or failed to load."""

    def __init__(
        self,
        message: str,
        *,
        name: str,
        available: Sequence[str] = (),
        load_error: str | None = None,
        model: str | None = None,
    ) -> None:
        super().__init__(message, fields=("sdk",), sdk=name, model=model)
        self.available = tuple(available)
        self.load_error = load_error


class PluginError(MetasyncLLMError, RuntimeError):
    """A plugin broke the contract, for example by returning a malformed result."""

    def __init__(
        self,
        message: str,
        *,
        sdk: str | None = None,
        model: str | None = None,
        distribution: str | None = None,
    ) -> None:
        super().__init__(message, sdk=sdk, model=model)
        self.distribution = distribution


class CompletionError(MetasyncLLMError, RuntimeError):
    """The completion call failed. Subclasses say why; the original exception is ``__cause__``."""


class AuthenticationError(CompletionError):
    """The provider rejected the API key (HTTP 401)."""


class PermissionDeniedError(CompletionError):
    """The key is valid but may not use this model or resource (HTTP 403)."""


class NotFoundError(CompletionError):
    """The model, deployment or endpoint path does not exist (HTTP 404)."""


class RateLimitError(CompletionError):
    """The provider throttled the call (HTTP 429); ``retry_after`` is in seconds when given."""

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        sdk: str | None = None,
        model: str | None = None,
        status: int | None = 429,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message, sdk=sdk, model=model, status=status, request_id=request_id)
        self.retry_after = retry_after


class BadRequestError(CompletionError):
    """The provider refused the request as invalid (HTTP 400/422)."""


class ContextWindowExceededError(BadRequestError):
    """The prompt plus ``max_tokens`` does not fit the model's context window."""


class ContentFilterError(BadRequestError):
    """The provider's content filter blocked the prompt or the answer."""


class APITimeoutError(CompletionError):
    """The provider did not answer within the timeout."""


class APIConnectionError(CompletionError):
    """The endpoint could not be reached, or the connection broke."""


class IncompleteResponseError(APIConnectionError):
    """The response ended before the provider said the answer was complete.

    The body ended cleanly, but the provider's end marker (a finish reason, Anthropic's
    ``message_stop``) never came: the answer was cut short. ``partial_text`` holds what
    arrived; it is retried like a lost connection, when nothing was handed out yet.
    """


class ServerError(CompletionError):
    """The provider failed (HTTP 5xx)."""


class EmptyResponseError(CompletionError):
    """The provider answered without any text."""


class SchemaValidationError(CompletionError):
    """The answer is not valid against the schema the caller asked for, even after re-asking.

    ``result`` holds the last answer (``data`` ``None``), ``errors`` what the validation
    found (JSON paths and messages).
    """

    def __init__(
        self,
        message: str,
        *,
        result: CompletionResult | None = None,
        errors: Sequence[str] = (),
        sdk: str | None = None,
        model: str | None = None,
    ) -> None:
        super().__init__(message, sdk=sdk, model=model)
        self.result = result
        self.errors = tuple(errors)


class TruncatedResponseError(CompletionError):
    """The answer stopped at ``max_tokens``; ``result`` holds the partial answer, unrepaired."""

    def __init__(
        self,
        message: str,
        *,
        result: CompletionResult | None = None,
        sdk: str | None = None,
        model: str | None = None,
    ) -> None:
        super().__init__(message, sdk=sdk, model=model)
        self.result = result


class ToolLoopError(CompletionError):
    """:func:`metasync_llm.run_tools` reached ``max_rounds`` with the model still calling
    tools. ``messages`` holds the transcript so far (re-usable as ``messages=``),
    ``rounds`` the calls made, ``result`` the last answer."""

    def __init__(
        self,
        message: str,
        *,
        messages: Sequence[Mapping[str, Any]] = (),
        rounds: int = 0,
        result: CompletionResult | None = None,
        sdk: str | None = None,
        model: str | None = None,
    ) -> None:
        super().__init__(message, sdk=sdk, model=model)
        self.messages = list(messages)
        self.rounds = rounds
        self.result = result


class AllModelsFailedError(CompletionError):
    """A :class:`~metasync_llm.Router` call found no document to answer: each one failed,
    or was cooling past the call's deadline. ``errors`` maps each document's name to its
    last error (``None`` for one never tried); ``route_attempts`` lists the tries."""

    def __init__(
        self,
        message: str,
        *,
        errors: Mapping[str, MetasyncLLMError | None] | None = None,
        route_attempts: Sequence[Any] = (),
        model: str | None = None,
    ) -> None:
        super().__init__(message, model=model)
        self.errors = dict(errors or {})
        self.route_attempts = tuple(route_attempts)


#: Turning a provider's exceptions and HTTP errors into this hierarchy is the wire layer's
#: job (``metasync_llm._wire._mapping``); its plugin-facing helpers stay importable from
#: here, loaded on first use.
_MAPPING = dict.fromkeys(
    (
        "clip",
        "error_class_for",
        "error_from_exception",
        "http_error",
        "provider_code",
        "provider_error",
        "provider_message",
        "retry_after_seconds",
        "sdk_errors",
    ),
    "metasync_llm._wire._mapping",
)

__all__ = [  # noqa: PLE0604 - the mapping helpers are listed once, in _MAPPING
    "APIConnectionError",
    "AllModelsFailedError",
    "APITimeoutError",
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
    *_MAPPING,
]

__getattr__, __dir__ = lazy_exports(globals(), _MAPPING)
