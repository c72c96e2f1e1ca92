"""The connector: one model document in, one checked, timed, costed completion out.

Four entry points with one behaviour: :func:`complete_with_model` (blocking),
:func:`acomplete_with_model` (asyncio), :func:`stream_with_model` and
:func:`astream_with_model` (text chunks as they arrive, then the same result). Each takes
a model document (a dict) or a :class:`PreparedModel` from :func:`prepare_model`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Coroutine, Generator, Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any

from metasync_llm._keys import KeyResolver, no_key_field
from metasync_llm._model import ModelSettings
from metasync_llm._pipeline._arguments import DEFAULT_MAX_TOKENS
from metasync_llm._pipeline._prepare import (
    Call,
    PreparedModel,
    awith_key,
    prepare,
)
from metasync_llm._pipeline._prepare import prepare_model as _prepare_model
from metasync_llm._pipeline._run import (
    AsyncCompletionStream,
    CompletionStream,
    arun_asking,
    run_asking,
)
from metasync_llm.registry import PluginRegistry, SDKRegistry
from metasync_llm.request import Message
from metasync_llm.result import CompletionResult
from metasync_llm.retry import RetryPolicy

if TYPE_CHECKING:  # annotations only: each module costs ~2 ms to import on the first call
    from metasync_llm.attachments import Attachment
    from metasync_llm.tools import Tool

    #: A tool: a function, a :class:`~metasync_llm.Tool`, or ``{"name", "description",
    #: "parameters"}``.
    ToolLike = Callable[..., Any] | Tool | Mapping[str, Any]

__all__ = [
    "DEFAULT_MAX_TOKENS",
    "PreparedModel",
    "acomplete_with_model",
    "astream_with_model",
    "complete_with_model",
    "prepare_model",
    "stream_with_model",
    "validate_model",
]

Model = Mapping[str, Any] | PreparedModel


def prepare_model(model: Model, *, registry: PluginRegistry | None = None) -> PreparedModel:
    """Check a model document once and return it prepared for calls.

    Checks what :func:`complete_with_model` checks on every call of a plain document (the
    common fields, that the SDK is installed, the SDK's ``validate_config``) and keeps a
    read-only copy of the document. A service that calls the same model many times keeps
    the prepared model and passes it instead of the dict; a changed document needs a new
    :func:`prepare_model`. Raises :class:`ConfigurationError` like a call would. Given a
    prepared model, returns it, or prepares its document again for a refreshed registry.
    """
    return _prepare_model(model, registry)


def validate_model(
    model: Mapping[str, Any], *, registry: PluginRegistry | None = None, require_key: bool = True
) -> ModelSettings:
    """Check a model document as :func:`complete_with_model` would, without calling anything.

    Checks the common fields, that the SDK is installed and loads, the SDK's own
    ``validate_config``, and (unless ``require_key`` is false: keys passed per call) that
    a document for an SDK that needs a key names one in ``key``. Raises
    :class:`ConfigurationError` (or :class:`PluginError` for a plugin that breaks the
    contract); returns the parsed common fields.
    """
    prepared = _prepare_model(model, registry)
    if require_key and prepared.loaded.sdk.requires_api_key and prepared.settings.key is None:
        raise no_key_field(prepared.settings)
    return prepared.settings


def complete_with_model(
    model: Model,
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
    messages: Sequence[Mapping[str, Any] | Message] | None = None,
    schema: Mapping[str, Any] | type | None = None,
    stop: str | Sequence[str] | None = None,
    tools: Sequence[ToolLike] | None = None,
    tool_choice: str | None = None,
    attachments: Sequence[Attachment] | None = None,
    reasoning: str | int | None = None,
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

    ``messages`` sends a conversation instead of ``user_content``: OpenAI-style
    ``{"role": "user" | "assistant", "content": ...}`` turns, in order, with
    ``system_prompt`` as the system turn. ``schema`` (a JSON Schema, or a pydantic model
    class) asks for JSON valid against it: the provider enforces it where it can, the
    answer is validated (``result.data`` holds the value), re-asked once with the errors
    when it does not fit (``schemaRetries``), and otherwise raises
    :class:`SchemaValidationError`. ``stop`` ends the answer at any of the given sequences.

    ``tools`` offers functions the model may call (Python functions, :class:`Tool` values
    or ``{"name", "description", "parameters"}`` dicts); ``tool_choice`` is ``"auto"``,
    ``"none"``, ``"required"`` or a tool's name. The calls the model asks for are in
    ``result.tool_calls`` (``finish_reason`` ``"tool_calls"``); append ``result.message``
    and a ``{"role": "tool", "tool_call_id", "content"}`` turn per result to ``messages``
    to go on, or let :func:`metasync_llm.run_tools` run the loop.

    ``attachments`` adds images and PDFs (:class:`Attachment`) to the user turn (a turn's
    ``content`` in ``messages`` may also be a list of strings and attachments).
    ``reasoning`` (``"none"``, ``"low"``, ``"medium"``, ``"high"`` or a token budget; the
    document's ``reasoning`` by default) sets how hard a reasoning model thinks;
    ``result.reasoning`` holds what it returned of its reasoning.
    """
    call = prepare(
        model,
        system_prompt,
        user_content,
        temperature,
        max_tokens,
        repair_json,
        registry,
        retry,
        messages=messages,
        schema=schema,
        stop=stop,
        tools=tools,
        tool_choice=tool_choice,
        attachments=attachments,
        reasoning=reasoning,
        api_key=api_key,
        key_resolver=key_resolver,
        resolve_key=True,
    )
    return run_asking(call)


async def acomplete_with_model(
    model: Model,
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
    messages: Sequence[Mapping[str, Any] | Message] | None = None,
    schema: Mapping[str, Any] | type | None = None,
    stop: str | Sequence[str] | None = None,
    tools: Sequence[ToolLike] | None = None,
    tool_choice: str | None = None,
    attachments: Sequence[Attachment] | None = None,
    reasoning: str | int | None = None,
) -> CompletionResult:
    """The asyncio form of :func:`complete_with_model`, with the same arguments and result.

    Never blocks the event loop: plugin discovery (first use), a ``key_resolver`` (sync
    ones run in a worker thread; async ones are awaited) and JSON repair run off the loop,
    and the plugin's ``astream`` is awaited.
    """
    call = await _aprepare(
        model,
        system_prompt,
        user_content,
        temperature,
        max_tokens,
        repair_json,
        registry,
        retry,
        messages=messages,
        schema=schema,
        stop=stop,
        tools=tools,
        tool_choice=tool_choice,
        attachments=attachments,
        reasoning=reasoning,
        api_key=api_key,
        key_resolver=key_resolver,
    )
    return await arun_asking(call)


def stream_with_model(
    model: Model,
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
    messages: Sequence[Mapping[str, Any] | Message] | None = None,
    schema: Mapping[str, Any] | type | None = None,
    stop: str | Sequence[str] | None = None,
    tools: Sequence[ToolLike] | None = None,
    tool_choice: str | None = None,
    attachments: Sequence[Attachment] | None = None,
    reasoning: str | int | None = None,
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

    With ``schema``, the chunks are the JSON as it comes, and ``stream.result.data`` is
    validated at the end (a stream is not re-asked: its text was handed out).
    """
    call = prepare(
        model,
        system_prompt,
        user_content,
        temperature,
        max_tokens,
        repair_json,
        registry,
        retry,
        messages=messages,
        schema=schema,
        stop=stop,
        tools=tools,
        tool_choice=tool_choice,
        attachments=attachments,
        reasoning=reasoning,
        stream=True,
        api_key=api_key,
        key_resolver=key_resolver,
        resolve_key=True,
    )
    return CompletionStream(call)


def astream_with_model(
    model: Model,
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
    messages: Sequence[Mapping[str, Any] | Message] | None = None,
    schema: Mapping[str, Any] | type | None = None,
    stop: str | Sequence[str] | None = None,
    tools: Sequence[ToolLike] | None = None,
    tool_choice: str | None = None,
    attachments: Sequence[Attachment] | None = None,
    reasoning: str | int | None = None,
) -> AsyncStreamContext:
    """The asyncio form of :func:`stream_with_model`, used as an async context manager::

        async with astream_with_model(model, "", "Tell a story") as stream:
            async for chunk in stream:
                print(chunk, end="")
        print(stream.result.usage)

    Configuration errors are raised on entering the ``async with`` block (or when the
    result is awaited: ``stream = await astream_with_model(...)`` works too).
    """

    async def opened() -> AsyncCompletionStream:
        call = await _aprepare(
            model,
            system_prompt,
            user_content,
            temperature,
            max_tokens,
            repair_json,
            registry,
            retry,
            messages=messages,
            schema=schema,
            stop=stop,
            tools=tools,
            tool_choice=tool_choice,
            attachments=attachments,
            reasoning=reasoning,
            stream=True,
            api_key=api_key,
            key_resolver=key_resolver,
        )
        return AsyncCompletionStream(call)

    return AsyncStreamContext(opened)


class AsyncStreamContext:
    """What :func:`astream_with_model` returns: ``async with`` it, or ``await`` it, for the stream.

    Like ``httpx.AsyncClient.stream()``: entering starts the call (configuration errors
    are raised there) and leaving closes the stream.
    """

    def __init__(
        self, open_stream: Callable[[], Coroutine[Any, Any, AsyncCompletionStream]]
    ) -> None:
        self._open = open_stream  # a coroutine is made only when awaited: none is left unawaited
        self._stream: AsyncCompletionStream | None = None

    def __await__(self) -> Generator[Any, None, AsyncCompletionStream]:
        stream: AsyncCompletionStream = yield from self._open().__await__()
        self._stream = stream
        return stream

    async def __aenter__(self) -> AsyncCompletionStream:
        return await self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._stream is not None:
            await self._stream.aclose()

    def __aiter__(self) -> AsyncIterator[str]:
        raise TypeError(
            "use `async with astream_with_model(...) as stream:` and iterate the stream"
        )


async def _aprepare(
    model: Model,
    system_prompt: object,
    user_content: object,
    temperature: object,
    max_tokens: object,
    repair_json: bool,
    registry: PluginRegistry | None,
    retry: RetryPolicy | None,
    **features: Any,
) -> Call:
    import asyncio  # noqa: PLC0415 - not for sync-only processes: its import costs ~40 ms

    registry = registry or SDKRegistry
    if not registry.discovered:
        await asyncio.to_thread(registry.discovery)  # imports plugins: not on the loop
    api_key, key_resolver = features.pop("api_key"), features.pop("key_resolver")
    # A key resolver runs off the loop (awith_key); any other key is resolved in prepare.
    now = key_resolver is None or api_key is not None
    call = prepare(
        model,
        system_prompt,
        user_content,
        temperature,
        max_tokens,
        repair_json,
        registry,
        retry,
        **features,
        api_key=api_key,
        key_resolver=key_resolver,
        resolve_key=now,
    )
    return call if now else await awith_key(call, api_key, key_resolver)
