"""Mapping of the ``openai`` library's exceptions onto metasync-llm's error hierarchy."""

from __future__ import annotations

from typing import Any

from metasync_llm.errors import (
    APIConnectionError,
    APITimeoutError,
    CompletionError,
    provider_error,
)


def to_core_error(exc: Exception, sdk: str, model: str | None) -> CompletionError:
    """The core error for an exception raised by the ``openai`` client."""
    import openai  # noqa: PLC0415 - only imported once a call has failed

    label = f"{sdk} model {model!r}"
    if isinstance(exc, openai.APIStatusError):
        body: Any = exc.body
        return provider_error(
            exc.status_code,
            body,
            exc.response.headers,
            sdk=sdk,
            model=model,
            request_id=exc.request_id,
            fallback=exc.message,
        )
    if isinstance(exc, openai.APITimeoutError):
        return APITimeoutError(f"{label}: the request timed out", sdk=sdk, model=model)
    if isinstance(exc, openai.APIConnectionError):
        cause = exc.__cause__ or exc.__context__
        why = f": {type(cause).__name__}: {cause}" if cause else ""
        return APIConnectionError(f"{label}: connection failed{why}", sdk=sdk, model=model)
    return CompletionError(f"{label}: {type(exc).__name__}: {exc}", sdk=sdk, model=model)
