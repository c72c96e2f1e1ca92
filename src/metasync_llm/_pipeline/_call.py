"""One call, prepared: the checked document, the arguments, the key, the request; and its outcome.

Shared by every connector entry point (blocking, async, streaming), so they behave alike.
"""

from __future__ import annotations

import copy
import inspect
import json
import logging
import types
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NoReturn

from metasync_llm._keys import KeyResolver, redact, resolve_api_key
from metasync_llm._log import get_logger
from metasync_llm._model import CostRates, ModelSettings, is_number, parse_model
from metasync_llm._structured._json_output import repair_json_text
from metasync_llm._wire._answers import require_text, usage_count
from metasync_llm._wire._scrub import scrubbed
from metasync_llm.errors import (
    ConfigurationError,
    MetasyncLLMError,
    PluginError,
    SchemaValidationError,
    SDKNotFoundError,
    TruncatedResponseError,
    clip,
    error_from_exception,
)
from metasync_llm.registry import Discovery, LoadedSDK, PluginRegistry, SDKRegistry
from metasync_llm.request import Message, Request
from metasync_llm.result import CompletionResult, Cost, StreamEnd
from metasync_llm.retry import Attempts, RetryPolicy

if TYPE_CHECKING:
    from metasync_llm._structured._schema import Schema

logger = get_logger("metasync_llm.connector")

#: ``max_tokens`` when the caller gives none (lowered to the document's ``maxToken``).
DEFAULT_MAX_TOKENS = 4096


@dataclass(frozen=True, slots=True, eq=False)
class PreparedModel:
    """A model document checked once, to call without checking it again.

    :func:`metasync_llm.prepare_model` makes one; pass it wherever a document goes. It holds
    a read-only copy of the document taken when it was prepared, its common fields
    (``settings``) and the plugin that validated it. If the registry is refreshed, the
    next call prepares the copy again.
    """

    document: Mapping[str, Any]
    settings: ModelSettings
    loaded: LoadedSDK
    registry: PluginRegistry
    discovery: Discovery

    @property
    def name(self) -> str:
        """The document's ``name``."""
        return self.settings.name

    @property
    def sdk(self) -> str:
        """The document's ``sdk``."""
        return self.settings.sdk

    def __repr__(self) -> str:
        return f"<PreparedModel name={self.name!r} sdk={self.sdk!r}>"


def prepare_model(model: object, registry: PluginRegistry | None = None) -> PreparedModel:
    """Check ``model`` (a document, or a prepared model) once for calls through ``registry``."""
    registry = registry or SDKRegistry
    if isinstance(model, PreparedModel):
        if model.registry is registry and model.discovery is registry.discovery():
            return model
        model = model.document
    settings, loaded = _checked(model, registry)
    assert isinstance(model, Mapping)
    document = types.MappingProxyType(copy.deepcopy(dict(model)))
    return PreparedModel(document, settings, loaded, registry, registry.discovery())


def _checked(model: object, registry: PluginRegistry) -> tuple[ModelSettings, LoadedSDK]:
    settings = parse_model(model)
    loaded = lookup(registry, settings)
    assert isinstance(model, Mapping)
    validate_sdk_config(loaded, model, settings)
    return settings, loaded


class Call:
    """One call: its checked document, plugin and arguments, then its :class:`Request`.

    A plain slotted class, private to one call: built on every call, so cheaply.
    """

    __slots__ = (
        "config",
        "loaded",
        "max_tokens",
        "messages",
        "native_schema",
        "observers",
        "repair_json",
        "request",
        "retry",
        "schema",
        "settings",
        "stop",
        "system_prompt",
        "temperature",
        "user_content",
    )

    request: Request
    #: The plugin manager's hooks when observers are registered (see ``observers.watch``).
    observers: Any

    def __init__(
        self,
        config: Mapping[str, Any],
        settings: ModelSettings,
        loaded: LoadedSDK,
        system_prompt: str,
        user_content: str,
        temperature: float,
        max_tokens: int,
        repair_json: bool,
        retry: RetryPolicy,
        messages: tuple[Message, ...] = (),
        schema: Schema | None = None,
        native_schema: bool = False,
        stop: tuple[str, ...] = (),
    ) -> None:
        self.config = config
        self.settings = settings
        self.loaded = loaded
        self.system_prompt = system_prompt
        self.user_content = user_content
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.repair_json = repair_json
        self.retry = retry
        self.messages = messages
        self.schema = schema
        self.native_schema = native_schema
        self.stop = stop
        self.observers = None

    @property
    def api_key(self) -> str | None:
        """The key resolved for this call (``None`` before :func:`with_key`, or if not needed)."""
        request = getattr(self, "request", None)
        return request.api_key if request is not None else None

    def attempts(self) -> Attempts:
        """A fresh attempt counter under this call's retry policy."""
        return Attempts(self.retry, self.settings.sdk, self.settings.name)

    def __repr__(self) -> str:  # never show the key
        return f"<Call sdk={self.settings.sdk!r} model={self.settings.name!r}>"


def prepare(
    model: object,
    system_prompt: object,
    user_content: object,
    temperature: object,
    max_tokens: object,
    repair_json: bool,
    registry: PluginRegistry | None,
    retry: RetryPolicy | None = None,
    *,
    messages: object = None,
    schema: object = None,
    stop: object = None,
) -> Call:
    """Check the document (unless prepared) and the arguments, find the plugin, clamp.

    ``retry`` overrides the document's ``retry`` block for this call. A conversation
    (``messages``), stop sequences and a schema are checked against what the plugin
    declares it honours (``BaseLLMSDK.features``).
    """
    if isinstance(model, PreparedModel):
        model = prepare_model(model, registry)
        config, settings, loaded = model.document, model.settings, model.loaded
        found = model.discovery
    else:
        settings, loaded = _checked(model, registry or SDKRegistry)
        assert isinstance(model, Mapping)
        config = model
        found = (registry or SDKRegistry).discovery()
    system = text_argument("system_prompt", system_prompt, settings)
    user = text_argument("user_content", user_content, settings)
    requested = temperature_argument(temperature, settings)
    limit = max_tokens_argument(max_tokens, settings)
    if retry is not None and not isinstance(retry, RetryPolicy):
        raise ConfigurationError(
            f"retry must be a metasync_llm.RetryPolicy, got {type(retry).__name__}",
            fields=("retry",),
            sdk=settings.sdk,
            model=settings.name,
        )
    sdk = loaded.sdk
    turns: tuple[Message, ...] = ()
    if messages is not None:
        if user:
            raise ConfigurationError(
                "pass the conversation either as messages= or as user_content, not both",
                fields=("messages", "user_content"),
                sdk=settings.sdk,
                model=settings.name,
            )
        system, turns = conversation(messages, system, settings)
        if len(turns) == 1 and turns[0].role == "user":  # one turn: every plugin takes it
            user, turns = turns[0].content, ()
        elif "messages" not in sdk.features:
            raise ConfigurationError(
                f"SDK {settings.sdk} ({loaded.info.origin}) answers one user turn; it does not"
                f" declare conversations (a conversation of {len(turns)} turns was given)",
                fields=("messages",),
                sdk=settings.sdk,
                model=settings.name,
            )
    stops = stop_argument(stop, sdk.stop_limit(config) if stop is not None else None, settings)
    if stops and "stop" not in sdk.features:
        raise ConfigurationError(
            f"SDK {settings.sdk} ({loaded.info.origin}) does not declare stop sequences",
            fields=("stop",),
            sdk=settings.sdk,
            model=settings.name,
        )
    checked_schema = None
    native = False
    if schema is not None:
        from metasync_llm._structured._schema import instruction, prepare_schema  # noqa: PLC0415

        checked_schema = prepare_schema(schema)
        native = (
            settings.native_schema
            and "schema" in sdk.features
            and _endpoint_key(settings, config) not in _REFUSES_NATIVE_SCHEMA
        )
        if not native:  # the model is told instead, and its answer validated all the same
            system = told(system, instruction(checked_schema))
    call = Call(
        config,
        settings,
        loaded,
        system,
        user,
        settings.clamp_temperature(requested),
        limit,
        bool(repair_json),
        retry or settings.retry,
        turns,
        checked_schema,
        native,
        stops,
    )
    if found.observed:
        call.observers = found.plugin_manager.hook
    return call


def with_key(
    call: Call, api_key: str | None, key_resolver: KeyResolver | None, *, stream: bool
) -> Call:
    """``call`` with its API key resolved and its :class:`Request` built."""
    key = resolve_api_key(
        call.settings,
        call.config,
        api_key=api_key,
        key_resolver=key_resolver,
        required=call.loaded.sdk.requires_api_key,
    )
    call.request = _request(call, key, stream)
    return call


def _request(call: Call, key: str | None, stream: bool) -> Request:
    schema = call.schema.json if call.schema is not None and call.native_schema else None
    return Request(
        call.config,
        call.system_prompt,
        call.user_content,
        call.temperature,
        call.max_tokens,
        key,
        stream,
        call.messages,
        schema,
        call.stop,
    )


async def awith_key(
    call: Call, api_key: str | None, key_resolver: KeyResolver | None, *, stream: bool
) -> Call:
    """:func:`with_key` for asyncio: a resolver runs in a worker thread, or is awaited."""
    import asyncio  # noqa: PLC0415 - loaded on first async use, not at import

    if key_resolver is None or api_key is not None:
        return with_key(call, api_key, key_resolver, stream=stream)
    found: Any = await asyncio.to_thread(key_resolver, call.config)
    if inspect.isawaitable(found):
        found = await found
    return with_key(call, None, lambda _model: found, stream=stream)


def conversation(
    messages: object, system: str, settings: ModelSettings
) -> tuple[str, tuple[Message, ...]]:
    """``(system prompt, turns)`` of a caller's ``messages``: OpenAI-style dicts (or
    :class:`Message`) with ``role`` ``"user"``/``"assistant"`` and text ``content``; a
    leading ``"system"`` message is the system prompt when ``system_prompt`` is empty."""

    def invalid(why: str) -> ConfigurationError:
        return ConfigurationError(
            f"messages {why}", fields=("messages",), sdk=settings.sdk, model=settings.name
        )

    if isinstance(messages, str | bytes | Mapping) or not isinstance(messages, Sequence):
        raise invalid(
            f"must be a list of {{'role', 'content'}} objects, got {type(messages).__name__}"
        )
    turns: list[Message] = []
    for index, item in enumerate(messages):
        role = (
            item.role
            if isinstance(item, Message)
            else item.get("role")
            if isinstance(item, Mapping)
            else None
        )
        content = (
            item.content
            if isinstance(item, Message)
            else item.get("content")
            if isinstance(item, Mapping)
            else None
        )
        if role == "system" and index == 0 and isinstance(content, str):
            if system:
                raise invalid("hold a system message and system_prompt is given too: pick one")
            system = content
            continue
        if role not in ("user", "assistant"):
            raise invalid(f"[{index}] has role {role!r}: it must be 'user' or 'assistant'")
        if not isinstance(content, str):
            raise invalid(f"[{index}] content must be a string, got {type(content).__name__}")
        turns.append(Message(role, content))
    if not turns:
        raise invalid("must hold at least one user or assistant turn")
    return system, tuple(turns)


def stop_argument(value: object, limit: int | None, settings: ModelSettings) -> tuple[str, ...]:
    if value is None:
        return ()
    stops = (value,) if isinstance(value, str) else value
    if (
        not isinstance(stops, Sequence)
        or not stops
        or not all(isinstance(s, str) and s for s in stops)
    ):
        raise ConfigurationError(
            f"stop must be a non-empty string or a list of them, got {value!r}",
            fields=("stop",),
            sdk=settings.sdk,
            model=settings.name,
        )
    if limit is not None and len(stops) > limit:
        raise ConfigurationError(
            f"stop has {len(stops)} sequences; SDK {settings.sdk} takes at most {limit}",
            fields=("stop",),
            sdk=settings.sdk,
            model=settings.name,
        )
    return tuple(stops)


def told(system: str, instruction: str) -> str:
    """The system prompt with the schema's instruction after it."""
    return f"{system}\n\n{instruction}" if system else instruction


#: Endpoints (SDK, URL) seen refusing a native schema; their calls tell the model instead.
_REFUSES_NATIVE_SCHEMA: set[tuple[str, str]] = set()
#: How servers that speak an API but not its ``json_schema`` response format refuse it:
#: llama-cpp-python's server answers HTTP 500 "Input should be 'text' or 'json_object'".
_NATIVE_SCHEMA_REFUSED = (
    r"(?i)'text' or 'json_object'"
    r"|(json_schema|response_format).{0,80}(not supported|unsupported|not implemented)"
    r"|(not supported|unsupported|not implemented).{0,80}(json_schema|response_format)"
)


def _endpoint_key(settings: ModelSettings, config: Mapping[str, Any]) -> tuple[str, str]:
    return settings.sdk, str(config.get("endpoint", ""))


def refuses_native_schema(call: Call, error: MetasyncLLMError) -> bool:
    """Whether ``error`` says the server does not take ``call``'s schema natively: then
    the call is not retried as it is, and :func:`without_native_schema` asks again."""
    if not call.native_schema or error.status not in (400, 422, 500, 501):
        return False
    import re  # noqa: PLC0415 - loaded already (errors)

    return re.search(_NATIVE_SCHEMA_REFUSED, str(error)) is not None


def remember_native_schema_refused(call: Call) -> None:
    """The endpoint of ``call`` refuses native schemas: for the life of the process, its
    calls tell the model the schema instead (streams included)."""
    key = _endpoint_key(call.settings, call.config)
    if key not in _REFUSES_NATIVE_SCHEMA:
        _REFUSES_NATIVE_SCHEMA.add(key)
        logger.info(
            "%s model %r: the endpoint refuses native schemas; the schema goes in the prompt",
            call.settings.sdk,
            call.settings.name,
        )


def without_native_schema(call: Call) -> Call:
    """``call`` with its schema told to the model in the system prompt instead."""
    from metasync_llm._structured._schema import instruction  # noqa: PLC0415 - loaded already

    assert call.schema is not None
    again = copy.copy(call)
    again.native_schema = False
    again.system_prompt = told(call.system_prompt, instruction(call.schema))
    again.request = _request(again, call.api_key, call.request.stream)
    return again


def reasked(call: Call, error: SchemaValidationError) -> Call:
    """``call`` again, with the invalid answer and what was wrong with it as two more turns."""
    from metasync_llm._structured._schema import feedback  # noqa: PLC0415

    answer = error.result.raw_text if error.result is not None else ""
    again = copy.copy(call)
    if "messages" in call.loaded.sdk.features:
        again.messages = (
            *call.request.turns(),
            Message("assistant", answer),
            Message("user", feedback(error.errors)),
        )
        again.user_content = ""
    else:  # a plugin of one turn: the turn says it all
        again.user_content = (
            f"{call.user_content}\n\nYour previous answer was:\n{answer}\n\n"
            f"{feedback(error.errors)}"
        )
    again.request = _request(again, call.api_key, call.request.stream)
    return again


def result_of(
    call: Call,
    text: str,
    end: StreamEnd,
    elapsed: float,
    first_chunk: float | None = None,
    attempts: int = 1,
    setup: float | None = None,
) -> CompletionResult:
    """The connector's result for a plugin's answer, checked (before any JSON repair).

    A malformed answer is a :class:`PluginError`; no text raises the error saying why.
    """
    if not _well_formed(text, end):
        _reject(text, end, call)
    settings = call.settings
    # Counts above any plausible call (10**30 from a provider) are unknown, as absent ones.
    prompt, completion = usage_count(end.prompt_tokens), usage_count(end.completion_tokens)
    total = usage_count(end.total_tokens)
    if total is None and prompt is not None and completion is not None:
        total = prompt + completion
    finish = end.finish_reason
    truncated = finish == "length" or (
        finish is None and completion is not None and completion >= call.max_tokens
    )
    result = CompletionResult(
        text=text,
        prompt_tokens=prompt,
        completion_tokens=completion,
        total_tokens=total,
        elapsed=elapsed,
        sdk=settings.sdk,
        model=settings.name,
        cost=cost_of(settings.cost, prompt, completion),
        json_repaired=False,
        raw_text=text,
        finish_reason=finish,
        truncated=truncated,
        request_id=end.request_id,
        temperature=call.temperature,
        max_tokens=call.max_tokens,
        time_to_first_chunk=first_chunk,
        attempts=attempts,
        setup=setup,
    )
    if logger.isEnabledFor(logging.DEBUG):
        logger.debug(
            "%s model %r: %.3fs, tokens prompt=%s completion=%s total=%s, finish=%s",
            settings.sdk,
            settings.name,
            elapsed,
            prompt,
            completion,
            total,
            finish,
        )
    return result


def finished(call: Call, result: CompletionResult) -> CompletionResult:
    """The result as the caller asked for it: validated against ``schema=`` (with its
    ``data``), or with ``repair_json`` applied.

    An answer cut at ``max_tokens`` is never mended into something that looks complete: it
    raises :class:`TruncatedResponseError`. An answer the schema refuses raises
    :class:`SchemaValidationError` (the connector re-asks, as ``schemaRetries`` says).
    """
    if call.schema is None:
        return repaired(call, result)
    if result.truncated:
        raise _truncated(call, result, "its JSON is incomplete and was not repaired")
    from dataclasses import replace  # noqa: PLC0415 - loaded already

    from metasync_llm._structured._schema import check  # noqa: PLC0415 - loaded already

    checked = check(call.schema, result.text)
    if checked.errors:
        raise SchemaValidationError(
            f"{call.settings.sdk} model {call.settings.name!r}: the answer is not valid against"
            f" the schema {call.schema.name!r}: " + "; ".join(checked.errors),
            result=result,
            errors=checked.errors,
            sdk=call.settings.sdk,
            model=call.settings.name,
        )
    return replace(result, text=checked.text, json_repaired=checked.repaired, data=checked.data)


def combined(spent: CompletionResult | None, result: CompletionResult) -> CompletionResult:
    """``result`` with the usage, cost and time of earlier asks (``spent``) added in."""
    if spent is None:
        return result
    from dataclasses import replace  # noqa: PLC0415 - loaded already

    def plus(a: int | None, b: int | None) -> int | None:
        return a + b if a is not None and b is not None else None

    cost = result.cost
    if cost is not None and spent.cost is not None:
        cost = Cost(
            cost.currency,
            *(
                plus_float(x, y)
                for x, y in zip(
                    (cost.input, cost.output, cost.total),
                    (spent.cost.input, spent.cost.output, spent.cost.total),
                    strict=True,
                )
            ),
        )
    return replace(
        result,
        prompt_tokens=plus(result.prompt_tokens, spent.prompt_tokens),
        completion_tokens=plus(result.completion_tokens, spent.completion_tokens),
        total_tokens=plus(result.total_tokens, spent.total_tokens),
        cost=cost,
        elapsed=result.elapsed + spent.elapsed,
        attempts=result.attempts + spent.attempts,
    )


def plus_float(a: float | None, b: float | None) -> float | None:
    return round(a + b, 12) if a is not None and b is not None else None


def _truncated(call: Call, result: CompletionResult, what: str) -> TruncatedResponseError:
    return TruncatedResponseError(
        f"{call.settings.sdk} model {call.settings.name!r} stopped at"
        f" max_tokens={call.max_tokens}; {what} (the partial answer is in .result; raise"
        " max_tokens or shorten the request)",
        result=result,
        sdk=call.settings.sdk,
        model=call.settings.name,
    )


def repaired(call: Call, result: CompletionResult) -> CompletionResult:
    """Apply ``repair_json``: mend JSON-shaped text, refuse to mend a truncated answer."""
    if not call.repair_json:
        return result
    if result.truncated:
        raise _truncated(call, result, "the JSON answer is incomplete and was not repaired")
    text, changed = repair_json_text(result.text)
    if not changed:
        return result
    from dataclasses import replace  # noqa: PLC0415 - loaded already; a rare path

    return replace(result, text=text, json_repaired=True)


def text_argument(name: str, value: object, settings: ModelSettings) -> str:
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


def temperature_argument(value: object, settings: ModelSettings) -> float:
    """The temperature asked for (clamped later): a finite number; below 0 only when the
    document's ``minTemperature`` will clamp it up, as the seed did."""
    if not is_number(value) or (value < 0 and settings.min_temperature is None):
        raise ConfigurationError(
            f"temperature must be a finite number >= 0, got {value!r}",
            fields=("temperature",),
            sdk=settings.sdk,
            model=settings.name,
        )
    return float(value)


def max_tokens_argument(value: object, settings: ModelSettings) -> int:
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


def lookup(registry: PluginRegistry, settings: ModelSettings) -> LoadedSDK:
    try:
        return registry.get_loaded(settings.sdk)
    except SDKNotFoundError as exc:
        exc.model = settings.name
        exc.message = f"model {settings.name!r}: {exc.message}"
        exc.args = (exc.message,)
        raise


def validate_sdk_config(
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


def call_error(exc: Exception, call: Call) -> MetasyncLLMError:
    """Turn whatever a plugin raised into the core hierarchy, with the key nowhere in it.

    The error returned chains (``__cause__``) to a scrubbed copy of ``exc`` and its own
    chain, never to the live exception; raise it outside the ``except`` block that caught
    ``exc``, so that no implicit ``__context__`` links it back.
    """
    settings, info, key = call.settings, call.loaded.info, call.api_key
    if isinstance(exc, MetasyncLLMError):
        exc.sdk = exc.sdk or settings.sdk
        exc.model = exc.model or settings.name
        if isinstance(exc, PluginError) and exc.distribution is None:
            exc.distribution = info.distribution
            exc.message = f"{exc.message} (plugin {info.origin})"
        scrubbed(exc, (key,))
        return exc
    try:
        text = str(exc)
    except Exception as broken:
        error: MetasyncLLMError = PluginError(
            f"SDK {settings.sdk} ({info.origin}) raised {type(exc).__name__}, whose str()"
            f" raised {type(broken).__name__}: a plugin's exceptions must print",
            sdk=settings.sdk,
            model=settings.name,
            distribution=info.distribution,
        )
    else:
        # A ValueError from a plugin is a configuration problem (the seed's contract),
        # except a body that failed to decode: openai and anthropic raise bare
        # JSONDecodeErrors for those, azure-core a DeserializationError (a ValueError).
        if isinstance(exc, ValueError) and not _undecodable(exc):
            error = ConfigurationError(
                f"SDK {settings.sdk} rejected model {settings.name!r}:"
                f" {type(exc).__name__}: {clip(text)}",
                sdk=settings.sdk,
                model=settings.name,
            )
        else:
            error = error_from_exception(
                exc, sdk=settings.sdk, model=settings.name, codes=call.loaded.sdk.error_codes
            )
        error.message = redact(error.message, (key,))
        error.args = (error.message,)
    error.__cause__ = scrubbed(exc, (key,))
    error.__suppress_context__ = True
    return error


def _undecodable(exc: ValueError) -> bool:
    return isinstance(exc, (json.JSONDecodeError, UnicodeError)) or any(
        "Deserializ" in cls.__name__ or "Decode" in cls.__name__ for cls in type(exc).__mro__
    )


_COUNTS = ("prompt_tokens", "completion_tokens", "total_tokens")


def _count(value: object) -> bool:
    # The contract: None or a non-negative int (an implausibly large one reads as None).
    return value is None or (type(value) is int and value >= 0)


def _reason(value: object) -> bool:
    return value is None or isinstance(value, str)


def _well_formed(text: str, end: StreamEnd) -> bool:
    return (
        text != ""
        and _count(end.prompt_tokens)
        and _count(end.completion_tokens)
        and _count(end.total_tokens)
        and _reason(end.finish_reason)
    )


def _reject(text: str, end: StreamEnd, call: Call) -> NoReturn:
    """Raise the error that says why an answer is not :func:`_well_formed`."""
    settings, info = call.settings, call.loaded.info
    if text == "":
        require_text(
            None,
            end.finish_reason,
            sdk=settings.sdk,
            model=settings.name,
            request_id=end.request_id,
        )
    problems = [
        f"{field} is {getattr(end, field)!r}, not a non-negative int or None"
        for field in _COUNTS
        if not _count(getattr(end, field))
    ]
    if not _reason(end.finish_reason):
        problems.append(f"finish_reason is {end.finish_reason!r}, not str or None")
    raise PluginError(
        f"SDK {settings.sdk} ({info.origin}) returned a malformed result: " + "; ".join(problems),
        sdk=settings.sdk,
        model=settings.name,
        distribution=info.distribution,
    )


def cost_of(rates: CostRates | None, prompt: int | None, completion: int | None) -> Cost | None:
    """The cost of a call's counts; a part built from an unknown count is ``None``."""
    if rates is None:
        return None
    inp = _price(prompt, rates.input, rates.tokens)
    out = _price(completion, rates.output, rates.tokens)
    total = _finite(inp + out) if inp is not None and out is not None else None
    return Cost(currency=rates.currency, input=inp, output=out, total=total)


def _price(count: int | None, rate: float, per: float) -> float | None:
    return _finite(count / per * rate) if count is not None else None


def _finite(value: float) -> float | None:
    return round(value, 12) if is_number(value) else None
