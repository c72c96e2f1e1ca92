"""Exceptions made safe to keep: the API key removed from every message, attribute and link.

A provider library's exception can hold the key where a user can print it: its message
("Incorrect API key provided: ..."), its ``.body``, the request it carries, its notes,
the exceptions it chains to. The connector never keeps such a live exception: the error
it raises chains to a :class:`ScrubbedException`, a copy of the facts (type, message,
HTTP status, body, request id, notes, traceback) with the key removed, link by link.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from metasync_llm._keys import redact
from metasync_llm.errors import MetasyncLLMError

#: Links of a chain copied at most (SDKs chain two or three).
MAX_LINKS = 8


class ScrubbedException(Exception):
    """What a provider library or a plugin raised, copied with the API key removed.

    ``kind`` is the original exception's qualified class name; ``message``, ``status``,
    ``body`` and ``request_id`` are its facts, scrubbed.
    """

    def __init__(
        self,
        kind: str,
        message: str,
        *,
        status: int | None = None,
        body: object = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(f"{kind}: {message}" if message else kind)
        self.kind = kind
        self.message = message
        self.status = status
        self.body = body
        self.request_id = request_id


def safe_str(exc: BaseException) -> str:
    """``str(exc)``, or a note that it failed (a plugin's exception may break ``__str__``)."""
    try:
        return str(exc)
    except Exception as broken:
        return f"<str() of {type(exc).__name__} raised {type(broken).__name__}>"


def scrubbed(exc: BaseException, secrets: Iterable[str | None], _links: int = 0) -> BaseException:
    """A copy of ``exc`` and its chain with ``secrets`` removed (see the module docstring).

    The connector's own errors are scrubbed in place (their message, arguments, partial
    text and notes), and their chain replaced by copies.
    """
    keys = tuple(s for s in secrets if s)
    if isinstance(exc, MetasyncLLMError):
        exc.message = redact(exc.message, keys)
        exc.args = (exc.message,)
        if exc.partial_text:
            exc.partial_text = redact(exc.partial_text, keys)
        copy: BaseException = exc
    else:
        copy = ScrubbedException(
            _qualified(type(exc)),
            redact(_describe(exc), keys),
            status=_int_attr(exc, "status_code") or _int_attr(exc, "status"),
            body=scrub_value(getattr(exc, "body", None), keys),
            request_id=redact(r, keys)
            if isinstance(r := getattr(exc, "request_id", None), str)
            else None,
        )
        copy.__traceback__ = exc.__traceback__
    notes = getattr(exc, "__notes__", None)
    if isinstance(notes, list):
        copy.__notes__ = [redact(n, keys) if isinstance(n, str) else "<note>" for n in notes]
    cause, context = exc.__cause__, exc.__context__
    copy.__suppress_context__ = exc.__suppress_context__
    more = _links + 1 < MAX_LINKS
    copy.__cause__ = scrubbed(cause, keys, _links + 1) if cause is not None and more else None
    copy.__context__ = scrubbed(context, keys, _links + 1) if context is not None and more else None
    return copy


def scrub_value(value: object, secrets: tuple[str, ...], depth: int = 0) -> Any:
    """A copy of a JSON-like value (a response body) with ``secrets`` removed from its text."""
    if isinstance(value, str):
        return redact(value, secrets)
    if isinstance(value, bytes | bytearray):
        return redact(bytes(value).decode("utf-8", "replace"), secrets)
    if depth >= 32:
        return "<nested too deeply>"
    if isinstance(value, Mapping):
        return {
            redact(str(k), secrets): scrub_value(v, secrets, depth + 1) for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [scrub_value(v, secrets, depth + 1) for v in value]
    if value is None or isinstance(value, bool | int | float):
        return value
    return redact(repr(value), secrets)


def _describe(exc: BaseException) -> str:
    text = safe_str(exc)
    if isinstance(exc, BaseExceptionGroup):  # each member's type and message
        members = "; ".join(
            f"{type(member).__name__}: {safe_str(member)}" for member in exc.exceptions[:10]
        )
        text = f"{text} [{members}]"
    return text


def _qualified(cls: type) -> str:
    module = cls.__module__
    return cls.__qualname__ if module == "builtins" else f"{module}.{cls.__qualname__}"


def _int_attr(exc: BaseException, name: str) -> int | None:
    value = getattr(exc, name, None)
    return value if isinstance(value, int) and not isinstance(value, bool) else None
