"""The connector: one model document in, one checked, timed, costed completion out.

Four entry points with one behaviour: :func:`complete_with_model` (blocking),
:func:`acomplete_with_model` (asyncio), :func:`stream_with_model` and
:func:`astream_with_model` (text chunks as they arrive, then the same result).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from metasync_llm._call import (
    DEFAULT_MAX_TOKENS,
    Call,
    awith_key,
    checked_answer,
    lookup,
    prepare,
    repaired,
    result_of,
    validate_sdk_config,
    wait_or_raise,
    with_key,
)
from metasync_llm.keys import KeyResolver
from metasync_llm.model import ModelSettings, parse_model
from metasync_llm.registry import PluginRegistry, SDKRegistry
from metasync_llm.result import CompletionResult
from metasync_llm.retry import RetryPolicy
from metasync_llm.streaming import AsyncCompletionStream, CompletionStream

__all__ = [
    "DEFAULT_MAX_TOKENS",
    "acomplete_with_model",
    "astream_with_model",
    "complete_with_model",
    "stream_with_model",
    "validate_model",
]


def complete_with_model(
    model: Mapping[str, Any],
    system_prompt: str | None,
    user_content: str | None = "",
    temperature: float = 1,
    max_tokens: int | None = None,
    *,
    api_key: str | None = None,
    key_resolver: KeyResolver | None = None,
    repair_json: bool = False,
    registry: PluginRegistry | None = None,
    retry: RetryPolicy | None = None,
) -> CompletionResult:
    """Run a completion through the SDK plugin the model document names.

    Validates the document's common fields, clamps ``temperature`` to its
    ``minTemperature``/``maxTemperature``, resolves the API key (``api_key``, else
    ``key_resolver(model)``, else the environment variable the document's ``key`` names),
    calls the SDK, times the call and computes the cost from the document's ``cost`` block.
    With ``repair_json`` a JSON-shaped answer is mended into valid JSON; other text is left
    as it is, and a truncated answer raises :class:`TruncatedResponseError` (holding the
    partial result) instead of being "repaired" into something that looks complete.

    The result unpacks as ``text, prompt_tokens, completion_tokens, total_tokens``.
    Configuration problems raise :class:`ConfigurationError` (a ``ValueError``) before any
    network call; call failures raise a :class:`CompletionError` (a ``RuntimeError``).
    Rate limits, server errors, timeouts and connection failures are retried with
    exponential backoff and jitter, honouring ``Retry-After``, as the document's ``retry``
    block (or ``retry``) says; ``result.attempts`` and ``error.attempts`` count the tries.
    """
    call = prepare(
        model,
        system_prompt,
        user_content,
        temperature,
        max_tokens,
        repair_json,
        registry or SDKRegistry,
        retry,
    )
    call = with_key(call, api_key, key_resolver)
    attempts = call.attempts()
    start = time.perf_counter()
    while True:
        attempts.begin()
        try:
            raw = call.loaded.sdk.complete(**call.hook_kwargs())
            break
        except Exception as exc:
            time.sleep(wait_or_raise(call, attempts, exc))
    elapsed = time.perf_counter() - start
    answer = checked_answer(raw, call.loaded, call.settings)
    return repaired(call, result_of(call, answer, elapsed, attempts=attempts.count))


async def acomplete_with_model(
    model: Mapping[str, Any],
    system_prompt: str | None,
    user_content: str | None = "",
    temperature: float = 1,
    max_tokens: int | None = None,
    *,
    api_key: str | None = None,
    key_resolver: KeyResolver | None = None,
    repair_json: bool = False,
    registry: PluginRegistry | None = None,
    retry: RetryPolicy | None = None,
) -> CompletionResult:
    """The asyncio form of :func:`complete_with_model`, with the same arguments and result.

    Never blocks the event loop: plugin discovery (first use), a ``key_resolver`` (sync
    ones run in a worker thread; async ones are awaited) and JSON repair run off the loop,
    and the plugin's ``acomplete`` is awaited.
    """
    import asyncio  # noqa: PLC0415 - loaded on first async use, not at import

    call = await _aprepare(
        model, system_prompt, user_content, temperature, max_tokens, repair_json, registry, retry
    )
    call = await awith_key(call, api_key, key_resolver)
    attempts = call.attempts()
    start = time.perf_counter()
    while True:
        attempts.begin()
        try:
            raw = await call.loaded.sdk.acomplete(**call.hook_kwargs())
            break
        except Exception as exc:
            await asyncio.sleep(wait_or_raise(call, attempts, exc))
    elapsed = time.perf_counter() - start
    answer = checked_answer(raw, call.loaded, call.settings)
    result = result_of(call, answer, elapsed, attempts=attempts.count)
    if call.repair_json:
        result = await asyncio.to_thread(repaired, call, result)
    return result


def stream_with_model(
    model: Mapping[str, Any],
    system_prompt: str | None,
    user_content: str | None = "",
    temperature: float = 1,
    max_tokens: int | None = None,
    *,
    api_key: str | None = None,
    key_resolver: KeyResolver | None = None,
    repair_json: bool = False,
    registry: PluginRegistry | None = None,
    retry: RetryPolicy | None = None,
) -> CompletionStream:
    """Stream a completion: iterate the returned stream for text chunks, then read ``.result``.

    Document handling is :func:`complete_with_model`'s; configuration errors are raised
    here, before any network call. Call failures are raised from the iteration, with the
    text received so far in the error's ``partial_text``. ``result`` also has
    ``time_to_first_chunk``. Use it as a context manager, or ``close()`` it, to stop early::

        with stream_with_model(model, "", "Tell a story") as stream:
            for chunk in stream:
                print(chunk, end="")
        print(stream.result.usage)
    """
    call = prepare(
        model,
        system_prompt,
        user_content,
        temperature,
        max_tokens,
        repair_json,
        registry or SDKRegistry,
        retry,
    )
    call = with_key(call, api_key, key_resolver)
    sdk, kwargs = call.loaded.sdk, call.hook_kwargs()
    return CompletionStream(call, lambda: iter(sdk.stream(**kwargs)))


async def astream_with_model(
    model: Mapping[str, Any],
    system_prompt: str | None,
    user_content: str | None = "",
    temperature: float = 1,
    max_tokens: int | None = None,
    *,
    api_key: str | None = None,
    key_resolver: KeyResolver | None = None,
    repair_json: bool = False,
    registry: PluginRegistry | None = None,
    retry: RetryPolicy | None = None,
) -> AsyncCompletionStream:
    """The asyncio form of :func:`stream_with_model`::

    async with await astream_with_model(model, "", "Tell a story") as stream:
        async for chunk in stream:
            print(chunk, end="")
    print(stream.result.usage)
    """
    call = await _aprepare(
        model, system_prompt, user_content, temperature, max_tokens, repair_json, registry, retry
    )
    call = await awith_key(call, api_key, key_resolver)
    sdk, kwargs = call.loaded.sdk, call.hook_kwargs()
    return AsyncCompletionStream(call, lambda: aiter(sdk.astream(**kwargs)))


async def _aprepare(
    model: Mapping[str, Any],
    system_prompt: object,
    user_content: object,
    temperature: object,
    max_tokens: object,
    repair_json: bool,
    registry: PluginRegistry | None,
    retry: RetryPolicy | None,
) -> Call:
    import asyncio  # noqa: PLC0415 - loaded on first async use, not at import

    registry = registry or SDKRegistry
    if not registry.discovered:
        await asyncio.to_thread(registry.discovery)  # imports plugins: not on the loop
    return prepare(
        model, system_prompt, user_content, temperature, max_tokens, repair_json, registry, retry
    )


def validate_model(
    model: Mapping[str, Any], *, registry: PluginRegistry | None = None
) -> ModelSettings:
    """Check a model document as :func:`complete_with_model` would, without calling anything.

    Checks the common fields, that the SDK is installed and loads, and the SDK's own
    ``validate_config``. Raises :class:`ConfigurationError` (or :class:`PluginError` for a
    plugin that breaks the contract); returns the parsed common fields.
    """
    settings = parse_model(model)
    validate_sdk_config(lookup(registry or SDKRegistry, settings), model, settings)
    return settings
