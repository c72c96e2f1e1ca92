"""The pluggy hook specifications: the SDK contract, and the observers' call events.

SDK hooks: ``get_name``, ``validate_config`` and the seed's ``complete`` keep the seed's
signatures; ``stream``, ``astream`` and every later hook take one
:class:`~metasync_llm.request.Request`, so a new request parameter changes no signature.

Observer hooks (``metasync_llm_call_*``) are broadcast to every observer: each takes one
event of :mod:`metasync_llm.events`, and its return value is ignored.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from metasync_llm.events import (
        CallContent,
        CallEnded,
        CallRetry,
        CallStarted,
        FirstChunk,
        RouteEnded,
        RouteStarted,
    )
    from metasync_llm.request import Request
    from metasync_llm.result import Completion, StreamItem

PROJECT_NAME = "metasync_llm"
#: The entry-point group plugins register under; the entry-point name is the SDK identifier.
ENTRY_POINT_GROUP = "metasync_llm.sdks"
#: The entry-point group of observers (objects, classes or modules with observer hooks).
OBSERVER_GROUP = "metasync_llm.observers"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec(firstresult=True)
def get_name() -> str:  # type: ignore[empty-body]
    """Return the SDK identifier: the ``sdk`` field of model documents and the entry-point name."""


@hookspec(firstresult=True)
def validate_config(config: Mapping[str, Any]) -> None:
    """Check the SDK-specific fields of a model document.

    Raise ``ValueError`` naming every missing or invalid field; return ``None`` when valid.
    The answer must depend on the document alone (no files, network or clock).
    """


@hookspec(firstresult=True)
def complete(  # type: ignore[empty-body]
    config: Mapping[str, Any],
    system_prompt: str,
    user_content: str,
    temperature: float,
    max_tokens: int,
    api_key: str | None,
) -> Completion | tuple[str, int | None, int | None, int | None]:
    """Run one chat completion: the seed's hook, with the seed's signature.

    Return ``(response_text, prompt_tokens, completion_tokens, total_tokens)``, or a
    :class:`metasync_llm.Completion`, which unpacks the same way and can also say why the
    answer stopped. A token count the provider did not report is ``None``. ``temperature``
    is already clamped to the document's limits. Raise ``ValueError`` for a bad
    configuration and ``RuntimeError`` (ideally a :mod:`metasync_llm.errors` class) when
    the call fails or the answer is empty. ``BaseLLMSDK`` derives it from :func:`stream`.
    """


@hookspec
def stream(request: Request) -> Iterator[StreamItem]:
    """Run one completion, yielding text chunks as they arrive, then one ``StreamEnd``.

    Yield the ``StreamEnd`` (usage, finish reason) only once the provider has said the
    answer is complete: a stream that ends without it is an answer cut short, which the
    connector reports as an error. With ``request.stream`` false nobody reads the chunks
    as they come, so a plugin may make a non-streamed call and yield the whole text once.
    The caller may stop iterating at any time and then closes the generator: release the
    HTTP stream in a ``finally`` (or a ``with`` block). ``BaseLLMSDK`` derives it from
    :func:`complete`, for plugins written to the seed's contract.
    """
    raise NotImplementedError


@hookspec
def astream(request: Request) -> AsyncIterator[StreamItem]:
    """The async-iterator form of :func:`stream` (an async generator): chunks, then ``StreamEnd``.

    Never block the event loop. ``BaseLLMSDK`` runs ``stream`` in a worker thread.
    """
    raise NotImplementedError


#: The hooks of an SDK plugin, in the order of the contract.
SDK_HOOKS: tuple[str, ...] = (
    "get_name",
    "validate_config",
    "complete",
    "stream",
    "astream",
)


# -- observers ---------------------------------------------------------------------------


@hookspec
def metasync_llm_call_started(event: CallStarted) -> None:
    """A call began. Called in the caller's thread (or task), before any request is sent."""


@hookspec
def metasync_llm_call_first_chunk(event: FirstChunk) -> None:
    """A stream's first text chunk arrived."""


@hookspec
def metasync_llm_call_retry(event: CallRetry) -> None:
    """An attempt failed and the call will try again."""


@hookspec
def metasync_llm_call_content(event: CallContent) -> None:
    """The prompt and the answer, just before ``metasync_llm_call_ended``: implementing this
    hook is how an observer opts in to content; the others never receive it."""


@hookspec
def metasync_llm_call_ended(event: CallEnded) -> None:
    """A call ended: with a result, an error, or closed or cancelled before its end.

    Called in the caller's thread (or task). Keep it quick (queue slow work): an observer's
    time is the caller's. An observer that raises is logged once and never changes the call.
    """


@hookspec
def metasync_llm_route_started(event: RouteStarted) -> None:
    """A call through a router began; its tries follow as calls with its ``route_id``."""


@hookspec
def metasync_llm_route_ended(event: RouteEnded) -> None:
    """A call through a router ended, answered or not."""


#: The observer hooks, in the order of a call.
OBSERVER_HOOKS: tuple[str, ...] = (
    "metasync_llm_route_started",
    "metasync_llm_call_started",
    "metasync_llm_call_first_chunk",
    "metasync_llm_call_retry",
    "metasync_llm_call_content",
    "metasync_llm_call_ended",
    "metasync_llm_route_ended",
)
