"""The first step of every call: check the document and the arguments, build the request.

The connector's four entry points call :func:`prepare` (the document, unless prepared,
and every argument, against what the plugin declares in ``BaseLLMSDK.features``), which
also resolves the API key into the :class:`~metasync_llm.Request` (``resolve_key``), except
for an async call with a ``key_resolver``: :func:`awith_key` resolves that one off the
event loop. Every problem here is a :class:`ConfigurationError` raised before any request
leaves.
"""

from __future__ import annotations

import copy
import inspect
import types
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from metasync_llm._keys import KeyResolver, resolve_api_key
from metasync_llm._model import ModelSettings, parse_model
from metasync_llm._pipeline import _native_schema
from metasync_llm._pipeline._arguments import (
    config_error,
    max_tokens_argument,
    reasoning_argument,
    stop_argument,
    temperature_argument,
    text_argument,
    tools_argument,
)
from metasync_llm._pipeline._conversation import conversation
from metasync_llm.errors import ConfigurationError, PluginError, SDKNotFoundError
from metasync_llm.registry import Discovery, LoadedSDK, PluginRegistry, SDKRegistry
from metasync_llm.request import Message, Request
from metasync_llm.retry import Attempts, RetryPolicy

if TYPE_CHECKING:
    from metasync_llm._structured._schema import Schema
    from metasync_llm._tools._define import PreparedTool

_NO_TOOLS: Mapping[str, PreparedTool] = types.MappingProxyType({})


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


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class Call:
    """One call: the :class:`Request` the plugin gets, and what the connector keeps beside it.

    ``schema`` is the checked schema every answer is validated against; the request
    carries it (``request.schema``) only when the provider enforces it natively. A re-ask
    is ``dataclasses.replace`` of the request.
    """

    request: Request
    settings: ModelSettings
    loaded: LoadedSDK
    retry: RetryPolicy
    repair_json: bool = False
    schema: Schema | None = None
    #: The plugin manager's hooks when observers are registered, else ``None`` (no cost).
    observers: Any = None
    #: The checked tools of ``tools=``, by name (their validators and callables).
    tools: Mapping[str, PreparedTool] = field(default_factory=lambda: _NO_TOOLS)

    @property
    def native_schema(self) -> bool:
        """Whether the provider is asked to enforce the schema itself."""
        return self.request.schema is not None

    def attempts(self) -> Attempts:
        """A fresh attempt counter under this call's retry policy."""
        return Attempts(self.retry, self.settings.sdk, self.settings.name)

    def __repr__(self) -> str:  # never show the key
        return f"<Call sdk={self.settings.sdk!r} model={self.settings.name!r}>"


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
    tools: object = None,
    tool_choice: object = None,
    attachments: object = None,
    reasoning: object = None,
    stream: bool = False,
    api_key: str | None = None,
    key_resolver: KeyResolver | None = None,
    resolve_key: bool = False,
) -> Call:
    """Check the document (unless prepared) and the arguments, find the plugin, clamp.

    ``retry`` overrides the document's ``retry`` block for this call. A conversation
    (``messages``), stop sequences and a schema are checked against what the plugin
    declares it honours (``BaseLLMSDK.features``). With ``resolve_key`` the key is resolved
    last (after every argument check), else the request has no key yet.
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
        raise config_error(
            f"retry must be a metasync_llm.RetryPolicy, got {type(retry).__name__}",
            settings,
            "retry",
        )
    sdk = loaded.sdk
    turns: tuple[Message, ...] = ()
    if messages is not None:
        if user:
            raise config_error(
                "pass the conversation either as messages= or as user_content, not both",
                settings,
                "messages",
                "user_content",
            )
        system, turns = conversation(messages, system, settings)
        if len(turns) == 1 and turns[0].role == "user" and not turns[0].parts:
            # one turn of text: every plugin takes it
            user, turns = turns[0].content, ()
        elif "messages" not in sdk.features:
            raise config_error(
                f"SDK {settings.sdk} ({loaded.info.origin}) answers one user turn; it does not"
                f" declare conversations (a conversation of {len(turns)} turns was given)",
                settings,
                "messages",
            )
    if attachments is not None:
        from metasync_llm._pipeline._attachments import with_attachments  # noqa: PLC0415

        user, turns = with_attachments(attachments, user, turns, settings)
    if any(turn.parts for turn in turns):
        from metasync_llm._pipeline._attachments import check_attachments  # noqa: PLC0415

        check_attachments(turns, loaded, config, settings)
    offered, choice = tools_argument(tools, tool_choice, turns, loaded, settings)
    stops = stop_argument(stop, sdk.stop_limit(config) if stop is not None else None, settings)
    if stops and "stop" not in sdk.features:
        raise config_error(
            f"SDK {settings.sdk} ({loaded.info.origin}) does not declare stop sequences",
            settings,
            "stop",
        )
    checked_schema = native = None
    if schema is not None:
        from metasync_llm._structured._schema import instruction, prepare_schema  # noqa: PLC0415

        checked_schema = prepare_schema(schema)
        if (
            settings.native_schema
            and "schema" in sdk.features
            and not _native_schema.known_to_refuse(settings.sdk, config)
        ):
            native = checked_schema.json
        else:  # the model is told instead, and its answer validated all the same
            system = _native_schema.told(system, instruction(checked_schema))
    key = None
    # Resolved here rather than by replacing the request afterwards (dataclasses.replace of
    # two records): ~18,000 instructions less a call (callgrind, PYTHONHASHSEED=0).
    if resolve_key:
        key = resolve_api_key(
            settings,
            config,
            api_key=api_key,
            key_resolver=key_resolver,
            required=sdk.requires_api_key,
        )
    request = Request(
        config=config,
        system_prompt=system,
        api_key=key,
        user_content=user,
        temperature=settings.clamp_temperature(requested),
        max_tokens=limit,
        stream=stream,
        messages=turns,
        schema=native,
        stop=stops,
        tools=tuple(tool.tool for tool in offered.values()),
        tool_choice=choice,
        reasoning=reasoning_argument(reasoning, loaded, config, settings, limit),
    )
    return Call(
        request=request,
        settings=settings,
        loaded=loaded,
        retry=retry or settings.retry,
        repair_json=bool(repair_json),
        schema=checked_schema,
        observers=found.plugin_manager.hook if found.observed else None,
        tools=types.MappingProxyType(offered),
    )


def with_key(call: Call, api_key: str | None, key_resolver: KeyResolver | None) -> Call:
    """``call`` with its API key resolved into its request."""
    key = resolve_api_key(
        call.settings,
        call.request.config,
        api_key=api_key,
        key_resolver=key_resolver,
        required=call.loaded.sdk.requires_api_key,
    )
    return replace(call, request=replace(call.request, api_key=key))


async def awith_key(call: Call, api_key: str | None, key_resolver: KeyResolver | None) -> Call:
    """:func:`with_key` for asyncio: a resolver runs in a worker thread, or is awaited."""
    import asyncio  # noqa: PLC0415 - not for sync-only processes: its import costs ~40 ms

    if key_resolver is None or api_key is not None:
        return with_key(call, api_key, key_resolver)
    found: Any = await asyncio.to_thread(key_resolver, call.request.config)
    if inspect.isawaitable(found):
        found = await found
    return with_key(call, None, lambda _model: found)


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
