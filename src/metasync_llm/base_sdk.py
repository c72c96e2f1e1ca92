"""``BaseLLMSDK``: the base class SDK plugins subclass; its methods are the hook implementations."""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:  # discovery imports this module at every start; results come later
    from metasync_llm.result import Completion, StreamItem


class BaseLLMSDK(abc.ABC):
    """Base class of an SDK plugin.

    Override :meth:`get_name`, :meth:`validate_config` and :meth:`complete`, and to stream
    or be natively async also :meth:`stream`, :meth:`acomplete` and :meth:`astream` (their
    defaults build on :meth:`complete`). The registry treats these methods as the pluggy
    hook implementations, so no ``@hookimpl`` marker is needed. Register the subclass under
    the ``metasync_llm.sdks`` entry-point group with the entry-point name equal to
    :meth:`get_name`. The registry creates one instance per
    process and calls it from many threads, so keep per-call state local.

    Import the provider's client library inside the methods (or a helper they call), not
    at module level: discovering plugins must stay cheap.
    """

    #: Whether the connector must resolve an API key before calling :meth:`complete`.
    requires_api_key: ClassVar[bool] = True

    @abc.abstractmethod
    def get_name(self) -> str:
        """Return the SDK identifier used in the ``sdk`` field of model documents."""

    @abc.abstractmethod
    def validate_config(self, config: Mapping[str, Any]) -> None:
        """Raise ``ValueError`` naming every missing or invalid SDK-specific field."""

    @abc.abstractmethod
    def complete(
        self,
        config: Mapping[str, Any],
        system_prompt: str,
        user_content: str,
        temperature: float,
        max_tokens: int,
        api_key: str | None = None,
    ) -> Completion | tuple[str, int | None, int | None, int | None]:
        """Run one completion; see :func:`metasync_llm.hookspecs.complete`."""

    def stream(
        self,
        config: Mapping[str, Any],
        system_prompt: str,
        user_content: str,
        temperature: float,
        max_tokens: int,
        api_key: str | None = None,
    ) -> Iterator[StreamItem]:
        """Yield text chunks, then a :class:`StreamEnd` with usage.

        This default yields the whole :meth:`complete` answer as one chunk; override it to
        stream for real, closing the HTTP stream when the generator is closed.
        """
        from metasync_llm.result import Completion, StreamEnd  # noqa: PLC0415

        answer: Any = self.complete(
            config, system_prompt, user_content, temperature, max_tokens, api_key
        )
        if isinstance(answer, tuple) and len(answer) == 4:
            answer = Completion(*answer)
        if not isinstance(answer, Completion):
            yield answer  # malformed: the connector reports it with this plugin's name
            return
        if answer.text:
            yield answer.text
        yield StreamEnd(
            answer.prompt_tokens,
            answer.completion_tokens,
            answer.total_tokens,
            answer.finish_reason,
            answer.request_id,
        )

    async def acomplete(
        self,
        config: Mapping[str, Any],
        system_prompt: str,
        user_content: str,
        temperature: float,
        max_tokens: int,
        api_key: str | None = None,
    ) -> Completion | tuple[str, int | None, int | None, int | None]:
        """The coroutine form of :meth:`complete`.

        This default runs :meth:`complete` in a worker thread, so the event loop is never
        blocked; override it with the SDK's async client to avoid the thread.
        """
        import asyncio  # noqa: PLC0415 - loaded on first async use, not at import

        return await asyncio.to_thread(
            self.complete, config, system_prompt, user_content, temperature, max_tokens, api_key
        )

    async def astream(
        self,
        config: Mapping[str, Any],
        system_prompt: str,
        user_content: str,
        temperature: float,
        max_tokens: int,
        api_key: str | None = None,
    ) -> AsyncIterator[StreamItem]:
        """The async-generator form of :meth:`stream`.

        This default iterates :meth:`stream` in a worker thread; override it with the
        SDK's async streaming API so closing the iterator closes the HTTP stream at once.
        """

        def make() -> Iterator[StreamItem]:
            return self.stream(
                config, system_prompt, user_content, temperature, max_tokens, api_key
            )

        from metasync_llm._threads import iterate_in_thread  # noqa: PLC0415 - async use only

        async for item in iterate_in_thread(make):
            yield item

    def __repr__(self) -> str:
        return f"<{type(self).__name__} sdk={self.get_name()!r}>"
