"""Mapping what providers and their SDKs raise into the core's exception hierarchy.

Plugins reach these through ``metasync_llm.toolkit`` (``provider_error``, ``http_error``,
``sdk_errors``, ``clip``); the call pipeline maps whatever a plugin raised with
:func:`error_from_exception`. The hierarchy itself is :mod:`metasync_llm.errors`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from metasync_llm.errors import (
    APIConnectionError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    CompletionError,
    ContentFilterError,
    ContextWindowExceededError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
)

# Patterns, not compiled regexes: re compiles (and caches) them on first use, not at import.
_CONTEXT_WINDOW = (
    r"(?i)context[_ ]length|context[_ ]window|maximum context|too many tokens|prompt is too long"
    r"|request too large|tokens_limit_reached|string_above_max_length"
    r"|exceeds the maximum number of tokens"  # Gemini's
    # OpenAI-compatible servers: llama.cpp's llama-server ("exceed_context_size_error",
    # "request (N tokens) exceeds the available context size (M tokens)"), vLLM ("...is
    # longer than the maximum model length of M", "...is too long and exceeds limit of M"),
    # Ollama ("exceeded max context length") and LM Studio ("...loaded with context length
    # of only M tokens") are covered by these and "context length" above.
    r"|exceed_context_size|available context size|maximum model length"
    r"|is too long and exceeds limit"
)
_CONTENT_FILTER = (
    r"(?i)content[_ ]filter|content management policy|responsibleaipolicyviolation|content_policy"
)

_BY_STATUS: dict[int, type[CompletionError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    408: APITimeoutError,
    413: ContextWindowExceededError,
    422: BadRequestError,
    429: RateLimitError,
}


def error_class_for(status: int | None, detail: str = "") -> type[CompletionError]:
    """Choose the error class for an HTTP ``status`` and the provider's code or message.

    Status decides first; the provider's text refines a 400 (a context-window overflow or a
    content-filter refusal usually arrives as a plain 400).
    """
    if status is None:
        return CompletionError
    cls = _BY_STATUS.get(status)
    if cls is None:
        if status >= 500:
            return ServerError
        return BadRequestError if 400 <= status < 500 else CompletionError
    if cls is BadRequestError or cls is PermissionDeniedError:
        if re.search(_CONTEXT_WINDOW, detail):
            return ContextWindowExceededError
        if re.search(_CONTENT_FILTER, detail):
            return ContentFilterError
    return cls


def retry_after_seconds(value: object) -> float | None:
    """Seconds to wait, from a ``Retry-After`` header value.

    Accepts delta-seconds and HTTP-dates; returns ``None`` for anything else.
    """
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        seconds = float(value)
    except ValueError:
        import datetime  # noqa: PLC0415 - only for the rare HTTP-date form
        import email.utils  # noqa: PLC0415

        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=datetime.UTC)
        seconds = (when - datetime.datetime.now(datetime.UTC)).total_seconds()
        return max(seconds, 0.0)
    return seconds if 0 <= seconds < float("inf") else None  # not NaN, not infinite


def http_error(
    status: int | None,
    message: str,
    *,
    detail: str = "",
    sdk: str | None = None,
    model: str | None = None,
    request_id: str | None = None,
    retry_after: float | None = None,
) -> CompletionError:
    """Build the error for an HTTP failure, classified by :func:`error_class_for`.

    ``detail`` is the provider's error code or body, used to tell a context-window
    overflow or a content-filter refusal from other bad requests.
    """
    cls = error_class_for(status, f"{message} {detail}")
    return _error(cls, message, sdk, model, status, request_id, retry_after)


def _error(
    cls: type[CompletionError],
    message: str,
    sdk: str | None,
    model: str | None,
    status: int | None,
    request_id: str | None,
    retry_after: float | None,
) -> CompletionError:
    if cls is RateLimitError:
        return RateLimitError(
            message,
            retry_after=retry_after,
            sdk=sdk,
            model=model,
            status=status,
            request_id=request_id,
        )
    return cls(message, sdk=sdk, model=model, status=status, request_id=request_id)


#: Characters of a provider's error text read to classify it, and shown in a message; the
#: whole body stays on the error's cause. (A 50 MB error body used to be scanned whole.)
READ_LIMIT = 64 * 1024
SHOW_LIMIT = 2000


def clip(text: str, limit: int = SHOW_LIMIT) -> str:
    """``text``, cut to ``limit`` characters with a note of how many were left out."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text) - limit} more characters)"


def provider_message(body: object) -> str | None:
    """The human message in a provider's error body (``{"error": {"message": ...}}`` and kin)."""
    for _ in range(8):  # bodies nest the message a few levels down at most
        if isinstance(body, str):
            return body[:READ_LIMIT].strip() or None
        if not isinstance(body, Mapping):
            return None
        body = next((body[key] for key in ("message", "error", "detail") if body.get(key)), None)
    return None


def provider_code(body: object) -> str | None:
    """The provider's error code in an error body: ``error.type``, ``error.code`` or
    ``error.status`` (Google's canonical code, e.g. ``RESOURCE_EXHAUSTED``), or top level."""
    if not isinstance(body, Mapping):
        return None
    inner = body.get("error")
    for holder in (inner, body) if isinstance(inner, Mapping) else (body,):
        for key in ("type", "code", "status"):
            value = holder.get(key)
            if isinstance(value, str) and value and value != "error":
                return value
    return None


def provider_error(
    status: int | None,
    body: object,
    headers: Mapping[str, str] | None,
    *,
    sdk: str,
    model: str | None,
    request_id: str | None = None,
    fallback: str = "",
    codes: Mapping[str, str] | None = None,
) -> CompletionError:
    """The error for a provider's error reply, classified by status, then by its body.

    An error reported inside a response that began as a success (``status`` ``None`` or
    below 400: an error event of a stream) has no status to go by: ``codes`` maps the
    provider's error codes (see :func:`provider_code`) to the name of the class to raise
    (an overload is a :class:`ServerError`); other codes are a :class:`CompletionError`.
    Reads ``retry-after-ms`` / ``Retry-After`` from ``headers`` for rate limits, else a
    ``google.rpc.RetryInfo`` ``retryDelay`` in the body (Google's APIs). Only the first
    :data:`READ_LIMIT` characters of the body are read.
    """
    message = clip(provider_message(body) or fallback[:READ_LIMIT] or "no error message")
    retry_after = None
    if headers is not None:
        millis = retry_after_seconds(headers.get("retry-after-ms"))
        retry_after = (
            millis / 1000 if millis is not None else retry_after_seconds(headers.get("retry-after"))
        )
    if retry_after is None:
        retry_after = _retry_info(body)
    label = f"{sdk} model {model!r}" if model else sdk
    code = provider_code(body)
    if status is not None and status >= 400:
        return http_error(
            status,
            f"{label} failed (HTTP {status}): {message}",
            detail=code or "",
            sdk=sdk,
            model=model,
            request_id=request_id,
            retry_after=retry_after,
        )
    found = globals().get((codes or {}).get(code or "", ""))
    cls = found if isinstance(found, type) and issubclass(found, CompletionError) else None
    where = f"{label} failed inside the response" + (f" ({code})" if code else "")
    return _error(
        cls or CompletionError, f"{where}: {message}", sdk, model, None, request_id, retry_after
    )


def _retry_info(body: object) -> float | None:
    """Seconds from a ``google.rpc.RetryInfo`` detail of an error body (``"37s"``, or
    ``{"seconds": 37, "nanos": 0}``), as Google's APIs send with a 429."""
    error = body.get("error", body) if isinstance(body, Mapping) else None
    details = error.get("details") if isinstance(error, Mapping) else None
    for detail in details if isinstance(details, list) else ():
        if not isinstance(detail, Mapping):
            continue
        if not str(detail.get("@type", "")).endswith("google.rpc.RetryInfo"):
            continue
        delay = detail.get("retryDelay")
        if isinstance(delay, str) and delay.endswith("s"):
            return retry_after_seconds(delay[:-1])
        if isinstance(delay, Mapping):  # protobuf JSON gives seconds as a string
            seconds, nanos = delay.get("seconds", 0), delay.get("nanos", 0)
            if isinstance(nanos, int) and not isinstance(seconds, bool):
                whole = retry_after_seconds(str(seconds))
                if whole is not None:
                    return whole + nanos / 1e9
    return None


def _headers_of(exc: BaseException) -> Mapping[str, str] | None:
    """The HTTP response headers an SDK's exception carries, wherever common SDKs keep
    them: ``response.headers`` (openai, anthropic, httpx, azure-core), ``headers``
    (mistralai and other Speakeasy SDKs), ``raw_response.headers``, ``http_response.headers``.
    Keys are lower case."""
    candidates = (
        getattr(getattr(exc, "response", None), "headers", None),
        getattr(exc, "headers", None),
        getattr(getattr(exc, "raw_response", None), "headers", None),
        getattr(getattr(exc, "http_response", None), "headers", None),
    )
    for headers in candidates:
        items = getattr(headers, "items", None)
        if callable(items):
            try:
                found = {str(k).lower(): str(v) for k, v in items()}
            except (TypeError, ValueError):
                continue
            if found:  # an empty map (headers not kept there): look further
                return found
    return None


def _status_of(exc: BaseException) -> int | None:
    for candidate in (exc, getattr(exc, "response", None)):
        for attr in ("status_code", "status"):
            value = getattr(candidate, attr, None)
            if isinstance(value, int) and not isinstance(value, bool) and 100 <= value < 600:
                return value
    return None


def _body_of(exc: BaseException) -> object:
    body = getattr(exc, "body", None)
    if body is None:  # google-genai's APIError keeps the error body as ``details``
        details = getattr(exc, "details", None)
        body = details if isinstance(details, Mapping) else None
    if body is None:  # azure-core's HttpResponseError carries an OData error object
        error = getattr(exc, "error", None)
        if error is not None and (getattr(error, "message", None) or getattr(error, "code", None)):
            body = {
                "code": getattr(error, "code", None),
                "message": getattr(error, "message", None),
            }
    return body


# Class names of transport failures across HTTP stacks (httpx/httpx2, requests, urllib3,
# aiohttp, azure-core): a connection that failed, broke or ended mid-body.
_CONNECTION_WORDS = (
    "Connection",
    "ServiceRequestError",
    "ServiceResponseError",
    "ProtocolError",
    "ReadError",
    "WriteError",
    "NetworkError",
    "TransportError",
    "IncompleteRead",
    "ChunkedEncodingError",
    "ClientPayloadError",
    "ServerDisconnected",
)


def _chain(exc: BaseException, limit: int = 5) -> list[BaseException]:
    """``exc`` and the exceptions it wraps (SDKs wrap transport errors, e.g. azure-core)."""
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and len(chain) < limit and current not in chain:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def _is_kind(exc: BaseException, builtin: type[BaseException], words: tuple[str, ...]) -> bool:
    if isinstance(exc, builtin):
        return True
    return any(word in cls.__name__ for cls in type(exc).__mro__ for word in words)


def error_from_exception(
    exc: BaseException, *, sdk: str, model: str | None, codes: Mapping[str, str] | None = None
) -> CompletionError:
    """The core error for an exception an SDK raised, found by duck typing.

    An HTTP status (``status_code``/``status``, also on ``response``) classifies it with the
    provider's body (``body``, azure-core's ``error``, google-genai's ``details``), the
    response's headers (for ``Retry-After``; see :func:`_headers_of` for where) and
    ``request_id``. Otherwise timeout and
    connection exceptions (builtin, or classes named ``*Timeout*``, ``*Connection*``,
    azure-core's ``ServiceRequestError``/``ServiceResponseError``, and transport errors such
    as a ``RemoteProtocolError`` for a body cut mid-way) map to :class:`APITimeoutError` and
    :class:`APIConnectionError`; anything else to :class:`CompletionError`.
    """
    label = f"{sdk} model {model!r}" if model else sdk
    request_id = getattr(exc, "request_id", None)
    request_id = request_id if isinstance(request_id, str) else None
    status = _status_of(exc)
    body = _body_of(exc)
    if status is not None or isinstance(body, Mapping):  # an HTTP error, or an error event
        fallback = getattr(exc, "message", None)
        return provider_error(
            status,
            body,
            _headers_of(exc),
            sdk=sdk,
            model=model,
            request_id=request_id,
            fallback=fallback if isinstance(fallback, str) else str(exc),
            codes=codes,
        )
    cause = exc.__cause__ or exc.__context__
    detail = clip(f"{type(exc).__name__}: {exc}") + (
        f" ({type(cause).__name__}: {clip(str(cause))})" if cause is not None else ""
    )
    chain = _chain(exc)
    if any(_is_kind(e, TimeoutError, ("Timeout",)) for e in chain):
        return APITimeoutError(
            f"{label}: timed out: {detail}", sdk=sdk, model=model, request_id=request_id
        )
    if any(_is_kind(e, ConnectionError, _CONNECTION_WORDS) for e in chain):
        return APIConnectionError(
            f"{label}: connection failed: {detail}", sdk=sdk, model=model, request_id=request_id
        )
    return CompletionError(f"{label} failed: {detail}", sdk=sdk, model=model, request_id=request_id)


class sdk_errors:  # lower case: used like contextlib.suppress
    """Context manager: an exception of ``types`` raised in the block becomes a core error.

    ``with sdk_errors(openai.OpenAIError, sdk="OpenAI", model=name): ...`` re-raises such an
    exception as :func:`error_from_exception` maps it, chained with ``from``. Other
    exceptions, ``GeneratorExit`` and cancellation pass through untouched, so it is safe
    around a generator's ``yield``.
    """

    def __init__(
        self,
        types: type[BaseException] | tuple[type[BaseException], ...],
        *,
        sdk: str,
        model: str | None,
    ) -> None:
        self.types, self.sdk, self.model = types, sdk, model

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object
    ) -> None:
        if isinstance(exc, Exception) and isinstance(exc, self.types):
            raise error_from_exception(exc, sdk=self.sdk, model=self.model) from exc


__all__ = [
    "clip",
    "error_class_for",
    "error_from_exception",
    "http_error",
    "provider_code",
    "provider_error",
    "provider_message",
    "retry_after_seconds",
    "sdk_errors",
]
