"""Attachments of a call, checked before any request: ``attachments=`` and the parts of turns.

``_prepare`` calls :func:`with_attachments` for ``attachments=`` (they join the user turn)
and :func:`check_attachments` when any turn holds attachments: the plugin must declare
``"attachments"``, and each one must be a type, form (bytes or URL) and size its
``attachment_rules`` accept for the document, as must their total.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from metasync_llm.attachments import Attachment
from metasync_llm.errors import ConfigurationError
from metasync_llm.request import Message

if TYPE_CHECKING:
    from metasync_llm._model import ModelSettings
    from metasync_llm.registry import LoadedSDK


def with_attachments(
    value: object, user: str, turns: tuple[Message, ...], settings: ModelSettings
) -> tuple[str, tuple[Message, ...]]:
    """The one-turn form: ``attachments`` join the user content (or the conversation's
    last user turn) as parts after its text."""
    if isinstance(value, Attachment | str | bytes) or not isinstance(value, Sequence):
        raise _error(
            f"attachments must be a list of Attachment values, got {type(value).__name__}", settings
        )
    attached = tuple(value)
    bad = [a for a in attached if not isinstance(a, Attachment)]
    if bad:
        raise _error(
            f"attachments holds a {type(bad[0]).__name__}: make each one with"
            " Attachment.from_path, from_bytes or from_url",
            settings,
        )
    if not attached:
        return user, turns
    if not turns:
        return "", (Message("user", user, parts=(*((user,) if user else ()), *attached)),)
    last = turns[-1]
    if last.role != "user":
        raise _error(
            "attachments go with a user turn: the conversation ends with another", settings
        )
    joined = Message("user", last.content, parts=(*last.items(), *attached))
    return user, (*turns[:-1], joined)


def check_attachments(
    turns: tuple[Message, ...],
    loaded: LoadedSDK,
    config: Mapping[str, Any],
    settings: ModelSettings,
) -> None:
    """Refuse what the plugin cannot send, naming the SDK and what it takes."""
    where = f"SDK {settings.sdk} ({loaded.info.origin})"
    if "attachments" not in loaded.sdk.features:
        raise _error(f"{where} does not declare attachments (images, PDFs)", settings)
    rules = loaded.sdk.attachment_rules(config)
    total = 0
    for attachment in (p for turn in turns for p in turn.parts if isinstance(p, Attachment)):
        problem = rules.problem(attachment)
        if problem is not None:
            raise _error(f"{where}: {problem}", settings)
        total += attachment.size or 0
    if rules.max_request_bytes is not None and total > rules.max_request_bytes:
        raise _error(
            f"{where}: the attachments hold {total} bytes; the limit is"
            f" {rules.max_request_bytes} bytes a request",
            settings,
        )


def _error(message: str, settings: ModelSettings) -> ConfigurationError:
    return ConfigurationError(
        message, fields=("attachments",), sdk=settings.sdk, model=settings.name
    )
