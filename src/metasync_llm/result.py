"""Result types: what a plugin returns (``Completion``) and what the connector returns."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from metasync_llm._record import Record
from metasync_llm._record import set_field as _set

Usage = tuple[int | None, int | None, int | None]


class _FourTuple(Record):
    """Makes a result unpack and index like ``(text, prompt, completion, total)``."""

    __slots__ = ()
    text: str
    prompt_tokens: int | None
    completion_tokens: int | None
    total_tokens: int | None

    def _as_tuple(self) -> tuple[str, int | None, int | None, int | None]:
        return (self.text, self.prompt_tokens, self.completion_tokens, self.total_tokens)

    def __iter__(self) -> Iterator[Any]:
        return iter(self._as_tuple())

    def __len__(self) -> int:
        return 4

    def __getitem__(self, index: int) -> Any:
        return self._as_tuple()[index]


class Completion(_FourTuple):
    """A plugin's answer; unpacks as ``(text, prompt_tokens, completion_tokens, total_tokens)``.

    A plain 4-tuple is an equally valid answer; this class can also carry why the answer
    stopped (``finish_reason``: ``"stop"``, ``"length"``, ``"content_filter"``, ...) and the
    provider's request id. A count the provider did not report is ``None``.
    """

    __slots__ = (
        "text",
        "prompt_tokens",
        "completion_tokens",
        "total_tokens",
        "finish_reason",
        "request_id",
    )
    finish_reason: str | None
    request_id: str | None

    def __init__(
        self,
        text: str,
        prompt_tokens: int | None = None,
        completion_tokens: int | None = None,
        total_tokens: int | None = None,
        finish_reason: str | None = None,
        request_id: str | None = None,
    ) -> None:
        _set(self, "text", text)
        _set(self, "prompt_tokens", prompt_tokens)
        _set(self, "completion_tokens", completion_tokens)
        _set(self, "total_tokens", total_tokens)
        _set(self, "finish_reason", finish_reason)
        _set(self, "request_id", request_id)


class StreamEnd(Record):
    """The last item a plugin's ``stream``/``astream`` yields: usage and why the answer stopped.

    The same shape for sync and async streams. A count the provider did not report is
    ``None``; a stream without a ``StreamEnd`` has unknown usage.
    """

    __slots__ = (
        "prompt_tokens",
        "completion_tokens",
        "total_tokens",
        "finish_reason",
        "request_id",
    )
    prompt_tokens: int | None
    completion_tokens: int | None
    total_tokens: int | None
    finish_reason: str | None
    request_id: str | None

    def __init__(
        self,
        prompt_tokens: int | None = None,
        completion_tokens: int | None = None,
        total_tokens: int | None = None,
        finish_reason: str | None = None,
        request_id: str | None = None,
    ) -> None:
        _set(self, "prompt_tokens", prompt_tokens)
        _set(self, "completion_tokens", completion_tokens)
        _set(self, "total_tokens", total_tokens)
        _set(self, "finish_reason", finish_reason)
        _set(self, "request_id", request_id)


#: What a plugin's ``stream`` and ``astream`` yield: text chunks, then one ``StreamEnd``.
StreamItem = str | StreamEnd


class Cost(Record):
    """Cost of one call from the model document's ``cost`` block; unknown parts are ``None``."""

    __slots__ = ("currency", "input", "output", "total")
    currency: str | None
    input: float | None
    output: float | None
    total: float | None

    def __init__(
        self, currency: str | None, input: float | None, output: float | None, total: float | None
    ) -> None:
        _set(self, "currency", currency)
        _set(self, "input", input)
        _set(self, "output", output)
        _set(self, "total", total)


class CompletionResult(_FourTuple):
    """What :func:`metasync_llm.complete_with_model` returns.

    Unpacks like the seed's 4-tuple (``text, p, c, t = result``) and carries the rest as
    attributes. ``raw_text`` is the answer exactly as the provider sent it; ``text`` is the
    same unless JSON repair changed it (then ``json_repaired`` is true).
    """

    __slots__ = (
        "text",
        "prompt_tokens",
        "completion_tokens",
        "total_tokens",
        "elapsed",
        "sdk",
        "model",
        "cost",
        "json_repaired",
        "raw_text",
        "finish_reason",
        "truncated",
        "request_id",
        "temperature",
        "max_tokens",
        "time_to_first_chunk",
        "attempts",
    )
    elapsed: float
    sdk: str
    model: str
    cost: Cost | None
    json_repaired: bool
    raw_text: str
    finish_reason: str | None
    truncated: bool
    request_id: str | None
    temperature: float | None
    max_tokens: int | None
    #: Seconds from the call to the first text chunk (streams only).
    time_to_first_chunk: float | None
    #: Attempts made, the successful one included (more than 1 after retries).
    attempts: int

    def __init__(
        self,
        text: str,
        prompt_tokens: int | None,
        completion_tokens: int | None,
        total_tokens: int | None,
        elapsed: float,
        sdk: str,
        model: str,
        cost: Cost | None,
        json_repaired: bool,
        raw_text: str,
        finish_reason: str | None = None,
        truncated: bool = False,
        request_id: str | None = None,
        temperature: float | None = None,
        max_tokens: int | None = None,
        time_to_first_chunk: float | None = None,
        attempts: int = 1,
    ) -> None:
        _set(self, "text", text)
        _set(self, "prompt_tokens", prompt_tokens)
        _set(self, "completion_tokens", completion_tokens)
        _set(self, "total_tokens", total_tokens)
        _set(self, "elapsed", elapsed)
        _set(self, "sdk", sdk)
        _set(self, "model", model)
        _set(self, "cost", cost)
        _set(self, "json_repaired", json_repaired)
        _set(self, "raw_text", raw_text)
        _set(self, "finish_reason", finish_reason)
        _set(self, "truncated", truncated)
        _set(self, "request_id", request_id)
        _set(self, "temperature", temperature)
        _set(self, "max_tokens", max_tokens)
        _set(self, "time_to_first_chunk", time_to_first_chunk)
        _set(self, "attempts", attempts)

    @property
    def usage(self) -> Usage:
        """``(prompt_tokens, completion_tokens, total_tokens)``."""
        return (self.prompt_tokens, self.completion_tokens, self.total_tokens)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of every field."""
        return self._asdict()
