"""The pluggy hook specifications every SDK plugin implements."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pluggy

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


#: The hooks every plugin must implement, in the order of the contract.
REQUIRED_HOOKS: tuple[str, ...] = ("get_name", "validate_config", "complete")
