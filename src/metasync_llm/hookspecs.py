"""The pluggy hook specifications of the SDK contract: three required hooks, three optional."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from metasync_llm.result import StreamItem

PROJECT_NAME = "metasync_llm"
#: The entry-point group plugins register under; the entry-point name is the SDK identifier.
ENTRY_POINT_GROUP = "metasync_llm.sdks"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec(firstresult=True)
def get_name() -> str:  # type: ignore[empty-body]
    """Return the SDK identifier: the ``sdk`` field of model documents and the entry-point name."""


@hookspec(firstresult=True)
def validate_config(config: Mapping[str, Any]) -> None:
    """Check the SDK-specific fields of a model document.

    Raise ``ValueError`` naming every missing or invalid field; return ``None`` when valid.
    The answer must depend on the document alone: the connector remembers a document that
    passed and checks it again only when its contents change.
    """


@hookspec(firstresult=True)
def complete(  # type: ignore[empty-body]
    config: Mapping[str, Any],
    system_prompt: str,
    user_content: str,
    temperature: float,
    max_tokens: int,
    api_key: str | None,
) -> tuple[str, int | None, int | None, int | None]:
    """Run one chat completion.

    Return ``(response_text, prompt_tokens, completion_tokens, total_tokens)``, or a
    :class:`metasync_llm.Completion`, which unpacks the same way and can also say why the
    answer stopped. A token count the provider did not report is ``None``. ``temperature``
    is already clamped to the document's limits. Raise ``ValueError`` for a bad
    configuration and ``RuntimeError`` (ideally a :mod:`metasync_llm.errors` class) when
    the call fails or the answer is empty.
    """


@hookspec
def stream(
    config: Mapping[str, Any],
    system_prompt: str,
    user_content: str,
    temperature: float,
    max_tokens: int,
    api_key: str | None,
) -> Iterator[StreamItem]:
    """Run one completion, yielding text chunks as they arrive, then one :class:`StreamEnd`.

    ``StreamEnd`` carries the usage and finish reason. The caller may stop iterating at
    any time and then closes the generator: release the HTTP stream in a ``finally`` (or a
    ``with`` block). ``BaseLLMSDK`` yields the whole ``complete`` answer as one chunk.
    """
    raise NotImplementedError


@hookspec
async def acomplete(
    config: Mapping[str, Any],
    system_prompt: str,
    user_content: str,
    temperature: float,
    max_tokens: int,
    api_key: str | None,
) -> tuple[str, int | None, int | None, int | None]:
    """The coroutine form of :func:`complete`; never blocks the event loop.

    ``BaseLLMSDK`` runs ``complete`` in a worker thread.
    """
    raise NotImplementedError


@hookspec
def astream(
    config: Mapping[str, Any],
    system_prompt: str,
    user_content: str,
    temperature: float,
    max_tokens: int,
    api_key: str | None,
) -> AsyncIterator[StreamItem]:
    """The async-iterator form of :func:`stream` (an async generator): chunks, then ``StreamEnd``.

    ``BaseLLMSDK`` runs ``stream`` in a worker thread.
    """
    raise NotImplementedError


#: The hooks every plugin must implement, in the order of the contract.
REQUIRED_HOOKS: tuple[str, ...] = ("get_name", "validate_config", "complete")
#: Hooks with defaults in ``BaseLLMSDK``, which a plugin overrides to stream or be async.
OPTIONAL_HOOKS: tuple[str, ...] = ("stream", "acomplete", "astream")
ALL_HOOKS: tuple[str, ...] = REQUIRED_HOOKS + OPTIONAL_HOOKS
