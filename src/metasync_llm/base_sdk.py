"""``BaseLLMSDK``: the base class SDK plugins subclass; its methods are the hook implementations."""

from __future__ import annotations

import _thread  # threading's lock, without importing threading at every start
from collections.abc import AsyncIterator, Callable, Hashable, Iterator, Mapping
from types import FunctionType
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from metasync_llm.hookspecs import PROJECT_NAME, SDK_HOOKS, hookimpl

if TYPE_CHECKING:  # discovery imports this module at every start; these load with a call
    from metasync_llm._wire._clients import AsyncClientCache, ClientCache
    from metasync_llm.attachments import AttachmentRules
    from metasync_llm.request import Request
    from metasync_llm.result import Completion, StreamItem

_MARKER = PROJECT_NAME + "_impl"
_POOLS_LOCK = _thread.allocate_lock()
_Pool = TypeVar("_Pool")


class BaseLLMSDK:
    """Base class of an SDK plugin.

    Set :attr:`sdk_name` (or implement :meth:`get_name`), list the document fields the
    plugin needs in :attr:`required_fields` (or implement :meth:`validate_config`), and
    implement either the seed's one-shot :meth:`complete` or, to stream for real,
    :meth:`stream` and :meth:`astream` (the other hooks are derived). Every hook method
    of a subclass is a pluggy hook implementation without a marker: the base class marks
    them. Register the subclass under the
    ``metasync_llm.sdks`` entry-point group with the entry-point name equal to
    :meth:`get_name`. The registry creates one instance per process and calls it from many
    threads, so keep per-call state local.

    Import the provider's client library inside the methods (or in :meth:`create_client`),
    not at module level: discovering plugins must stay cheap. The core validates the
    document once before calling a hook, maps any exception the provider's library raises
    to the :mod:`metasync_llm.errors` hierarchy (by HTTP status, body and headers), and
    pools the clients :meth:`create_client` makes (:meth:`client_for`).
    """

    #: The SDK identifier: the ``sdk`` field of model documents, and the entry-point name.
    sdk_name: ClassVar[str]
    #: Document fields :meth:`validate_config` requires (non-empty strings).
    required_fields: ClassVar[tuple[str, ...]] = ()
    #: Whether the connector must resolve an API key before calling the plugin.
    requires_api_key: ClassVar[bool] = True
    #: Provider error codes the generic mapping cannot classify by HTTP status, as found
    #: in an error body's ``type`` or ``code``, to the name of a :mod:`metasync_llm.errors`
    #: class (e.g. ``{"overloaded_error": "ServerError"}``).
    error_codes: ClassVar[Mapping[str, str]] = {}
    #: The request features the plugin honours: ``"messages"`` (conversations sent as
    #: turns), ``"schema"`` (the provider enforces ``request.schema``), ``"stop"`` (stop
    #: sequences), ``"tools"`` (tool definitions, calls and results), ``"attachments"``
    #: (images and PDFs in turns, see :meth:`attachment_rules`) and ``"reasoning"``
    #: (see :meth:`reasoning_problem`). The connector refuses any of them to a plugin
    #: that does not declare it (never flattening a conversation into one prompt, never
    #: dropping tools or attachments), except a schema, which it puts into the system
    #: prompt instead (validating the answer either way).
    features: ClassVar[frozenset[str]] = frozenset()
    #: The most stop sequences the provider takes (``None``: no limit of its own).
    max_stop: ClassVar[int | None] = None

    #: With ``"reasoning"`` in :attr:`features`: the levels it maps (of ``"none"``,
    #: ``"low"``, ``"medium"``, ``"high"``) and whether it takes a token budget.
    reasoning_levels: ClassVar[frozenset[str]] = frozenset({"none", "low", "medium", "high"})
    reasoning_budget: ClassVar[bool] = False

    def stop_limit(self, config: Mapping[str, Any]) -> int | None:
        """The most stop sequences a call of ``config`` may send; ``None``: the server
        decides. By default :attr:`max_stop` (16 when ``None``)."""
        return self.max_stop if self.max_stop is not None else 16

    def attachment_rules(self, config: Mapping[str, Any]) -> AttachmentRules:
        """With ``"attachments"`` in :attr:`features`: what a call of ``config`` may attach
        (types, types that may go as URLs, the provider's size limits). By default every
        type, as bytes or URLs, with no limit of its own."""
        from metasync_llm.attachments import AttachmentRules  # noqa: PLC0415 - not at discovery

        return AttachmentRules()

    def reasoning_problem(
        self, config: Mapping[str, Any], reasoning: str | int, max_tokens: int
    ) -> str | None:
        """Why a call of ``config`` cannot honour ``reasoning`` (a level or a token budget),
        or ``None``; by default from :attr:`reasoning_levels` and :attr:`reasoning_budget`."""
        if isinstance(reasoning, int):
            if not self.reasoning_budget:
                return "it takes a level (" + ", ".join(sorted(self.reasoning_levels)) + ")"
            return None
        if reasoning not in self.reasoning_levels:
            takes = ", ".join(sorted(self.reasoning_levels))
            budget = " or a token budget" if self.reasoning_budget else ""
            return f"it takes {takes}{budget}"
        return None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # A subclass's hook methods are pluggy hook implementations without markers: mark
        # them, as pluggy would with @hookimpl, so plugin authors need not.
        for name in SDK_HOOKS:
            attr = cls.__dict__.get(name)
            function = attr.__func__ if isinstance(attr, (staticmethod, classmethod)) else attr
            if isinstance(function, FunctionType) and not hasattr(function, _MARKER):
                hookimpl(function)

    def __new__(cls, *args: Any, **kwargs: Any) -> BaseLLMSDK:
        missing = missing_hooks(cls)
        if missing:
            raise TypeError(f"Can't instantiate {cls.__name__}: implement {', '.join(missing)}")
        return super().__new__(cls)

    # -- the contract ------------------------------------------------------------------

    @hookimpl
    def get_name(self) -> str:
        """Return the SDK identifier used in the ``sdk`` field of model documents: by
        default :attr:`sdk_name`."""
        return self.sdk_name

    @hookimpl
    def validate_config(self, config: Mapping[str, Any]) -> None:
        """Raise ``ValueError`` naming every missing or invalid SDK-specific field.

        By default: each of :attr:`required_fields` must be a non-empty string, and the
        fields chat-style plugins share (``timeout``, ``extraBody``, ``messageFormat``...)
        must be valid where present.
        """
        from metasync_llm._plugin_fields import check_config  # noqa: PLC0415 - on first call

        check_config(config, sdk=self.get_name(), required=self.required_fields)

    @hookimpl
    def complete(
        self,
        config: Mapping[str, Any],
        system_prompt: str,
        user_content: str,
        temperature: float,
        max_tokens: int,
        api_key: str | None = None,
    ) -> Completion | tuple[str, int | None, int | None, int | None]:
        """The seed's one-shot call: checks ``config``, then collects :meth:`stream`.

        A plugin written to the seed's contract overrides it (the other hooks then build
        on it). Called directly, it validates the document first; the connector, which
        validates once itself, calls :meth:`stream`.
        """
        from metasync_llm._wire._answers import collect  # noqa: PLC0415 - loaded on first call
        from metasync_llm.request import Request  # noqa: PLC0415

        self.validate_config(config)
        request = Request(
            config=config,
            system_prompt=system_prompt,
            user_content=user_content,
            temperature=temperature,
            max_tokens=max_tokens,
            api_key=api_key,
            stream=False,
        )
        return collect(self.stream(request), sdk=self.get_name(), model=request.model_name)

    @hookimpl
    def stream(self, request: Request) -> Iterator[StreamItem]:
        """Yield text chunks, then a :class:`StreamEnd` with usage (see the hookspec).

        This default serves plugins written to the seed's contract: it yields the whole
        :meth:`complete` answer as one chunk.
        """
        from metasync_llm._wire._answers import seed_answer  # noqa: PLC0415 - loaded on first call
        from metasync_llm.result import StreamEnd  # noqa: PLC0415

        turns = request.turns()
        if len(turns) > 1 or (turns and turns[0].role != "user"):
            from metasync_llm.errors import ConfigurationError  # noqa: PLC0415

            raise ConfigurationError(
                f"SDK {self.get_name()} answers one user turn (the seed's complete), not a"
                f" conversation of {len(turns)} turns",
                fields=("messages",),
                sdk=self.get_name(),
            )
        answer = seed_answer(
            self.complete(
                config=request.config,
                system_prompt=request.system_prompt,
                user_content=turns[0].content if turns else "",
                temperature=request.temperature,
                max_tokens=request.max_tokens,
                api_key=request.api_key,
            ),
            sdk=self.get_name(),
        )
        if answer.text:
            yield answer.text
        yield StreamEnd(
            answer.prompt_tokens,
            answer.completion_tokens,
            answer.total_tokens,
            answer.finish_reason,
            answer.request_id,
        )

    @hookimpl
    async def astream(self, request: Request) -> AsyncIterator[StreamItem]:
        """The async-generator form of :meth:`stream`.

        This default iterates :meth:`stream` in a worker thread, so the event loop is never
        blocked; override it with the SDK's async client, so that closing the iterator
        closes the HTTP stream at once.
        """
        from metasync_llm._threads import iterate_in_thread  # noqa: PLC0415 - async use only

        async for item in iterate_in_thread(lambda: self.stream(request)):
            yield item

    # -- clients, pooled by the core ---------------------------------------------------

    def create_client(
        self, config: Mapping[str, Any], api_key: str | None, *, asynchronous: bool
    ) -> Any:
        """Create the provider's client for a document and key (an async one if asked).

        :meth:`client_for` and :meth:`async_client_for` call it once per
        :meth:`client_key` (and event loop) and reuse the client for every call and thread.
        Switch the client's own retries off: the connector retries.
        """
        raise NotImplementedError(f"{type(self).__name__} does not create clients")

    def client_key(self, config: Mapping[str, Any], api_key: str | None) -> Hashable:
        """What makes two calls share a client: endpoint, API version, key digest, timeouts."""
        from metasync_llm._wire._clients import client_key  # noqa: PLC0415 - loaded on first call

        return client_key(config, api_key)

    def client_for(self, request: Request) -> Any:
        """The pooled client for the request's document and key, created on first use."""
        from metasync_llm._wire._clients import ClientCache  # noqa: PLC0415

        clients: ClientCache[Any] = self._pool("_metasync_clients", ClientCache)
        config, key = request.config, request.api_key
        return clients.get(
            self.client_key(config, key),
            lambda: self.create_client(config, key, asynchronous=False),
        )

    async def async_client_for(self, request: Request) -> Any:
        """The pooled async client for the request's document, key and running event loop.

        A missing client is created in a worker thread (it imports the client library).
        """
        from metasync_llm._wire._clients import AsyncClientCache  # noqa: PLC0415

        clients: AsyncClientCache[Any] = self._pool("_metasync_async_clients", AsyncClientCache)
        config, key = request.config, request.api_key
        return await clients.get(
            self.client_key(config, key),
            lambda: self.create_client(config, key, asynchronous=True),
        )

    def _pool(self, attr: str, make: Callable[[], _Pool]) -> _Pool:
        # Made on first use (discovery instantiates every plugin at every process start)
        # and once, even when threads race for it.
        pool: _Pool | None = self.__dict__.get(attr)
        if pool is None:
            with _POOLS_LOCK:
                pool = self.__dict__.setdefault(attr, make())
        return pool

    def __repr__(self) -> str:
        return f"<{type(self).__name__} sdk={self.get_name()!r}>"


def missing_hooks(cls: type) -> list[str]:
    """What a plugin class lacks to be instantiated: a name, a call (empty when complete)."""
    missing = sorted(getattr(cls, "__abstractmethods__", ()))  # a subclass's own ABC rules
    if getattr(cls, "get_name", None) is BaseLLMSDK.get_name and not hasattr(cls, "sdk_name"):
        missing.append("get_name (or set sdk_name)")
    if not implements_a_call(cls):
        missing.append("complete (or stream and astream)")
    return missing


def implements_a_call(cls: type) -> bool:
    """Whether ``cls`` overrides the seed's ``complete`` or ``stream`` (the rest is derived)."""
    return (
        getattr(cls, "complete", None) is not BaseLLMSDK.complete
        or getattr(cls, "stream", None) is not BaseLLMSDK.stream
    )
