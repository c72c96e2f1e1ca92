"""``Request``: one completion request, as the connector hands it to a plugin's hooks."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Request:
    """Everything a plugin needs for one call, checked by the connector.

    ``config`` is the model document (already validated), ``temperature`` is clamped to
    its limits and ``max_tokens`` capped by its ``maxToken``; ``api_key`` is resolved
    (``None`` only for SDKs that need no key). ``stream`` says whether the caller reads the
    answer as it arrives: when it is false, a plugin may make a non-streamed call and yield
    the whole text as one chunk. New request parameters are added here, with defaults, so
    plugins that ignore them need no change.
    """

    config: Mapping[str, Any]
    system_prompt: str
    user_content: str
    temperature: float
    max_tokens: int
    api_key: str | None = field(default=None, repr=False)  # never in a repr
    stream: bool = True

    @property
    def model_name(self) -> str | None:
        """The document's ``name``, for messages."""
        name = self.config.get("name")
        return name if isinstance(name, str) else None
