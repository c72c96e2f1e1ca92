"""The connector: one model document in, one checked, timed, costed completion out."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from metasync_llm.errors import (
    ConfigurationError,
    EmptyResponseError,
    MetasyncLLMError,
    PluginError,
    SDKNotFoundError,
    TruncatedResponseError,
    error_from_exception,
)
from metasync_llm.json_output import repair_json_text
from metasync_llm.keys import KeyResolver, redact, resolve_api_key
from metasync_llm.model import CostRates, ModelSettings, is_number, parse_model
from metasync_llm.registry import LoadedSDK, PluginRegistry, SDKRegistry
from metasync_llm.result import Completion, CompletionResult, Cost

logger = logging.getLogger(__name__)

#: ``max_tokens`` when the caller gives none (lowered to the document's ``maxToken``).
DEFAULT_MAX_TOKENS = 4096


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
    """
    settings = parse_model(model)
    system_prompt = _text_argument("system_prompt", system_prompt, settings)
    user_content = _text_argument("user_content", user_content, settings)
    requested_temperature = _temperature_argument(temperature, settings)
    max_tokens = _max_tokens_argument(max_tokens, settings)
    loaded = _lookup(registry or SDKRegistry, settings)
    _validate_sdk_config(loaded, model, settings)
    sdk = loaded.sdk
    temperature = settings.clamp_temperature(requested_temperature)
    key = resolve_api_key(
        settings,
        model,
        api_key=api_key,
        key_resolver=key_resolver,
        required=sdk.requires_api_key,
    )

    start = time.perf_counter()
    try:
        raw = sdk.complete(
            config=model,
            system_prompt=system_prompt,
            user_content=user_content,
            temperature=temperature,
            max_tokens=max_tokens,
            api_key=key,
        )
    except Exception as exc:
        raise _call_error(exc, loaded, settings, key) from exc
    elapsed = time.perf_counter() - start

    answer = _checked_answer(raw, loaded, settings)
    truncated = answer.finish_reason == "length" or (
        answer.finish_reason is None
        and answer.completion_tokens is not None
        and answer.completion_tokens >= max_tokens
    )
    result = CompletionResult(
        text=answer.text,
        prompt_tokens=answer.prompt_tokens,
        completion_tokens=answer.completion_tokens,
        total_tokens=answer.total_tokens,
        elapsed=elapsed,
        sdk=settings.sdk,
        model=settings.name,
        cost=_cost(settings.cost, answer.prompt_tokens, answer.completion_tokens),
        json_repaired=False,
        raw_text=answer.text,
        finish_reason=answer.finish_reason,
        truncated=truncated,
        request_id=answer.request_id,
        temperature=temperature,
        max_tokens=max_tokens,
    )
    if logger.isEnabledFor(logging.DEBUG):
        logger.debug(
            "%s model %r: %.3fs, tokens prompt=%s completion=%s total=%s, finish=%s",
            settings.sdk,
            settings.name,
            elapsed,
            result.prompt_tokens,
            result.completion_tokens,
            result.total_tokens,
            result.finish_reason,
        )
    if repair_json:
        if truncated:
            raise TruncatedResponseError(
                f"{settings.sdk} model {settings.name!r} stopped at max_tokens={max_tokens};"
                " the JSON answer is incomplete and was not repaired (the partial answer is"
                " in .result; raise max_tokens or shorten the request)",
                result=result,
                sdk=settings.sdk,
                model=settings.name,
            )
        text, changed = repair_json_text(answer.text)
        if changed:
            result = replace(result, text=text, json_repaired=True)
    return result


def validate_model(
    model: Mapping[str, Any], *, registry: PluginRegistry | None = None
) -> ModelSettings:
    """Check a model document as :func:`complete_with_model` would, without calling anything.

    Checks the common fields, that the SDK is installed and loads, and the SDK's own
    ``validate_config``. Raises :class:`ConfigurationError` (or :class:`PluginError` for a
    plugin that breaks the contract); returns the parsed common fields.
    """
    settings = parse_model(model)
    _validate_sdk_config(_lookup(registry or SDKRegistry, settings), model, settings)
    return settings


def _text_argument(name: str, value: object, settings: ModelSettings) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ConfigurationError(
            f"{name} must be a string, got {type(value).__name__}",
            fields=(name,),
            sdk=settings.sdk,
            model=settings.name,
        )
    return value


def _temperature_argument(value: object, settings: ModelSettings) -> float:
    if not is_number(value) or value < 0:
        raise ConfigurationError(
            f"temperature must be a finite number >= 0, got {value!r}",
            fields=("temperature",),
            sdk=settings.sdk,
            model=settings.name,
        )
    return float(value)


def _max_tokens_argument(value: object, settings: ModelSettings) -> int:
    if value is None:
        value = DEFAULT_MAX_TOKENS
    elif isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ConfigurationError(
            f"max_tokens must be a positive integer, got {value!r}",
            fields=("max_tokens",),
            sdk=settings.sdk,
            model=settings.name,
        )
    if settings.max_token is not None and value > settings.max_token:
        return settings.max_token
    return value


def _lookup(registry: PluginRegistry, settings: ModelSettings) -> LoadedSDK:
    try:
        return registry.get_loaded(settings.sdk)
    except SDKNotFoundError as exc:
        exc.model = settings.name
        exc.message = f"model {settings.name!r}: {exc.message}"
        exc.args = (exc.message,)
        raise


def _validate_sdk_config(
    loaded: LoadedSDK, model: Mapping[str, Any], settings: ModelSettings
) -> None:
    try:
        loaded.sdk.validate_config(model)
    except ConfigurationError as exc:
        exc.sdk = exc.sdk or settings.sdk
        exc.model = exc.model or settings.name
        raise
    except ValueError as exc:
        raise ConfigurationError(
            f"model {settings.name!r} is invalid for SDK {settings.sdk}: {exc}",
            sdk=settings.sdk,
            model=settings.name,
        ) from exc
    except Exception as exc:
        raise PluginError(
            f"SDK {settings.sdk} ({loaded.info.origin}) validate_config raised"
            f" {type(exc).__name__} instead of ValueError: {exc}",
            sdk=settings.sdk,
            model=settings.name,
            distribution=loaded.info.distribution,
        ) from exc


def _call_error(
    exc: Exception, loaded: LoadedSDK, settings: ModelSettings, key: str | None
) -> MetasyncLLMError:
    """Turn whatever a plugin raised into the core hierarchy, without the key anywhere."""
    _scrub(exc, key)
    if isinstance(exc, MetasyncLLMError):
        exc.sdk = exc.sdk or settings.sdk
        exc.model = exc.model or settings.name
        return exc
    if isinstance(exc, ValueError):
        return ConfigurationError(
            redact(
                f"SDK {settings.sdk} rejected model {settings.name!r}: {type(exc).__name__}: {exc}",
                (key,),
            ),
            sdk=settings.sdk,
            model=settings.name,
        )
    error = error_from_exception(exc, sdk=settings.sdk, model=settings.name)
    _scrub(error, key)
    return error


def _scrub(exc: BaseException, key: str | None) -> None:
    """Remove the key from an exception's message and from the exceptions it chains to."""
    if not key:
        return
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        current.args = tuple(redact(a, (key,)) if isinstance(a, str) else a for a in current.args)
        if isinstance(current, MetasyncLLMError):
            current.message = redact(current.message, (key,))
        current = current.__cause__ or current.__context__


def _checked_answer(raw: object, loaded: LoadedSDK, settings: ModelSettings) -> Completion:
    """Check the shape and types of a plugin's answer; a malformed one is a PluginError."""
    where = f"SDK {settings.sdk} ({loaded.info.origin})"
    if isinstance(raw, Completion):
        answer = raw
    elif isinstance(raw, tuple) and len(raw) == 4:
        answer = Completion(*raw)
    else:
        got = f"a {len(raw)}-tuple" if isinstance(raw, tuple) else type(raw).__name__
        raise PluginError(
            f"{where} returned {got} from complete(); it must return (response_text,"
            " prompt_tokens, completion_tokens, total_tokens) or a metasync_llm.Completion",
            sdk=settings.sdk,
            model=settings.name,
            distribution=loaded.info.distribution,
        )
    if answer.text is None or answer.text == "":
        raise EmptyResponseError(
            f"{settings.sdk} returned empty response content for model {settings.name!r}",
            sdk=settings.sdk,
            model=settings.name,
            request_id=answer.request_id,
        )
    problems = (
        []
        if isinstance(answer.text, str)
        else [f"response_text is {type(answer.text).__name__}, not str"]
    )
    for field in ("prompt_tokens", "completion_tokens", "total_tokens"):
        value = getattr(answer, field)
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int) or value < 0
        ):
            problems.append(f"{field} is {value!r}, not a non-negative int or None")
    finish: object = answer.finish_reason  # typed str | None, but plugins can send anything
    if finish is not None and not isinstance(finish, str):
        problems.append(f"finish_reason is {finish!r}, not str or None")
    if problems:
        raise PluginError(
            f"{where} returned a malformed result from complete(): " + "; ".join(problems),
            sdk=settings.sdk,
            model=settings.name,
            distribution=loaded.info.distribution,
        )
    if (
        answer.total_tokens is None
        and answer.prompt_tokens is not None
        and answer.completion_tokens is not None
    ):
        answer = replace(answer, total_tokens=answer.prompt_tokens + answer.completion_tokens)
    return answer


def _cost(rates: CostRates | None, prompt: int | None, completion: int | None) -> Cost | None:
    if rates is None:
        return None
    inp = round(prompt / rates.tokens * rates.input, 12) if prompt is not None else None
    out = round(completion / rates.tokens * rates.output, 12) if completion is not None else None
    total = round(inp + out, 12) if inp is not None and out is not None else None
    return Cost(currency=rates.currency, input=inp, output=out, total=total)
