"""Helpers for chat-style plugins: model-document quirks into request options, usage into counts.

The quirks of a model live in its document, not in lists of model names in code:

- ``messageFormat``: ``"combined"`` (default, the seed's way: one system message holding the
  system prompt followed by the user content) or ``"separate"`` (a system and a user message).
- ``omitTemperature``: ``true`` for models that reject any temperature but the default
  (reasoning models); the temperature is then not sent at all.
- ``maxCompletionToken``: ``true`` sends ``max_completion_tokens`` instead of ``max_tokens``.
- ``timeout``: seconds to wait for the provider's answer (read timeout, default 600).
- ``connectTimeout``: seconds to wait for a connection (default 10, at most ``timeout``).
- ``extraBody``: provider-specific request parameters sent as they are (``top_p``,
  ``reasoning_effort``, ...); the provider's API decides whether it accepts them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from metasync_llm.errors import ContentFilterError, EmptyResponseError, TruncatedResponseError
from metasync_llm.model import DEFAULT_CONNECT_TIMEOUT, DEFAULT_TIMEOUT, is_number


def chat_messages(
    config: Mapping[str, Any], system_prompt: str, user_content: str
) -> list[dict[str, str]]:
    """The ``messages`` list for the document's ``messageFormat``."""
    if config.get("messageFormat") == "separate":
        messages = []
        if system_prompt:
            messages.append({"role": "system", "content": system_prompt})
        if user_content or not messages:
            messages.append({"role": "user", "content": user_content})
        return messages
    return [{"role": "system", "content": (system_prompt or "") + (user_content or "")}]


def sampling_options(
    config: Mapping[str, Any], temperature: float, max_tokens: int
) -> dict[str, Any]:
    """``temperature`` (unless ``omitTemperature``) and the token limit under the right name."""
    options: dict[str, Any] = {}
    if not config.get("omitTemperature"):
        options["temperature"] = temperature
    limit = "max_completion_tokens" if config.get("maxCompletionToken") else "max_tokens"
    options[limit] = max_tokens
    return options


def extra_body(config: Mapping[str, Any]) -> dict[str, Any] | None:
    """The document's ``extraBody`` parameters, or ``None``."""
    extra = config.get("extraBody")
    return dict(extra) if isinstance(extra, Mapping) and extra else None


def timeout_of(config: Mapping[str, Any]) -> float:
    """The document's ``timeout`` in seconds, or the default."""
    value = config.get("timeout")
    return float(value) if is_number(value) and value > 0 else DEFAULT_TIMEOUT


def connect_timeout_of(config: Mapping[str, Any]) -> float:
    """The document's ``connectTimeout`` in seconds (default 10), never above ``timeout``."""
    value = config.get("connectTimeout")
    seconds = float(value) if is_number(value) and value > 0 else DEFAULT_CONNECT_TIMEOUT
    return min(seconds, timeout_of(config))


def usage_count(value: object) -> int | None:
    """A provider's token count as an int, or ``None`` when absent or impossible (negative)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return None
    return value


def total_of(prompt: int | None, completion: int | None, reported: object = None) -> int | None:
    """The provider's total if it gave a valid one, else ``prompt + completion`` when both known."""
    total = usage_count(reported)
    if total is not None:
        return total
    return prompt + completion if prompt is not None and completion is not None else None


def require_text(
    text: str | None,
    finish_reason: str | None,
    *,
    sdk: str,
    model: str | None,
    request_id: str | None = None,
) -> str:
    """``text`` when there is some; otherwise the error saying why there is none.

    No text because ``max_tokens`` ran out (a reasoning model that spent it thinking) is a
    :class:`TruncatedResponseError`; blocked by a filter, a :class:`ContentFilterError`;
    anything else, the seed's empty-response error (:class:`EmptyResponseError`).
    """
    if text:
        return text
    where = f"{sdk} model {model!r}"
    if finish_reason == "length":
        raise TruncatedResponseError(
            f"{where} used all max_tokens before writing any answer: raise max_tokens",
            sdk=sdk,
            model=model,
        )
    if finish_reason == "content_filter":
        raise ContentFilterError(
            f"{where}: the answer was blocked by the content filter",
            sdk=sdk,
            model=model,
            request_id=request_id,
        )
    raise EmptyResponseError(
        f"{sdk} returned empty response content for model {model!r}.",
        sdk=sdk,
        model=model,
        request_id=request_id,
    )
