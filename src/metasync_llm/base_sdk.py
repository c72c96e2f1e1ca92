"""``BaseLLMSDK``: the base class SDK plugins subclass; its methods are the hook implementations."""

from __future__ import annotations

import abc
from collections.abc import Mapping
from typing import Any, ClassVar

from metasync_llm.result import Completion


class BaseLLMSDK(abc.ABC):
    """Base class of an SDK plugin.

    Override :meth:`get_name`, :meth:`validate_config` and :meth:`complete`; the registry
    treats these methods as the pluggy hook implementations, so no ``@hookimpl`` marker is
    needed. Register the subclass under the ``metasync_llm.sdks`` entry-point group with
    the entry-point name equal to :meth:`get_name`. The registry creates one instance per
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

    def __repr__(self) -> str:
        return f"<{type(self).__name__} sdk={self.get_name()!r}>"
