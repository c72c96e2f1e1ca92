"""What an SDK plugin takes from the core, each name imported on its first use.

Discovery imports every plugin module at every process start. A plugin that imports its
helpers from their modules makes every start pay for them; one that writes
``from metasync_llm import toolkit`` and calls ``toolkit.check_config(...)`` pays when it
first answers a call, and nothing more afterwards (the name is then a module attribute).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from metasync_llm._lazy import lazy_exports

# name -> the module that defines it ("errors" is that module itself); each name once.
_SOURCES = {
    "check_deadline": "metasync_llm._pipeline._attempt",
    **dict.fromkeys(
        ("AnswerReader", "aread_answer", "aread_events", "read_answer", "read_events"),
        "metasync_llm._wire._reader",
    ),
    **dict.fromkeys(
        (
            "aiohttp_session",
            "await_within_deadline",
            "httpx_client_args",
            "ssl_context",
            "within_deadline",
        ),
        "metasync_llm._wire._transport",
    ),
    **dict.fromkeys(("require_text", "total_of", "usage_count"), "metasync_llm._wire._answers"),
    **dict.fromkeys(
        ("AsyncClientCache", "ClientCache", "client_key", "client_loop"),
        "metasync_llm._wire._clients",
    ),
    "errors": "metasync_llm.errors",
    **dict.fromkeys(
        ("clip", "http_error", "provider_error", "sdk_errors"), "metasync_llm._wire._mapping"
    ),
    "is_number": "metasync_llm._model",
    **dict.fromkeys(
        (
            "check_config",
            "connect_timeout_of",
            "endpoint_of",
            "extra_body",
            "require_fields",
            "timeout_of",
        ),
        "metasync_llm._plugin_fields",
    ),
    **dict.fromkeys(("Message", "Request"), "metasync_llm.request"),
    **dict.fromkeys(
        (
            "StreamErrorEvent",
            "aread_json",
            "asse_events",
            "is_event_stream",
            "loads",
            "read_json",
            "sse_events",
        ),
        "metasync_llm._wire._sse",
    ),
    **dict.fromkeys(("Completion", "RawToolCall", "StreamEnd"), "metasync_llm.result"),
    "ToolCallAssembler": "metasync_llm._tools._calls",
    **dict.fromkeys(("Attachment", "AttachmentRules"), "metasync_llm.attachments"),
    "tool_result_object": "metasync_llm._tools._calls",
}

__all__ = [*_SOURCES]  # noqa: PLE0604 - the table is the one list of names

if TYPE_CHECKING:
    from metasync_llm import errors as errors  # noqa: PLC0414 - an explicit re-export
    from metasync_llm._model import is_number as is_number  # noqa: PLC0414
    from metasync_llm._pipeline._attempt import check_deadline as check_deadline  # noqa: PLC0414
    from metasync_llm._plugin_fields import *  # noqa: F403
    from metasync_llm._tools._calls import ToolCallAssembler as ToolCallAssembler  # noqa: PLC0414
    from metasync_llm._tools._calls import tool_result_object as tool_result_object  # noqa: PLC0414
    from metasync_llm._wire._answers import *  # noqa: F403
    from metasync_llm._wire._clients import *  # noqa: F403
    from metasync_llm._wire._mapping import clip as clip  # noqa: PLC0414
    from metasync_llm._wire._mapping import http_error as http_error  # noqa: PLC0414
    from metasync_llm._wire._mapping import provider_error as provider_error  # noqa: PLC0414
    from metasync_llm._wire._mapping import sdk_errors as sdk_errors  # noqa: PLC0414
    from metasync_llm._wire._reader import *  # noqa: F403
    from metasync_llm._wire._sse import *  # noqa: F403
    from metasync_llm._wire._transport import *  # noqa: F403
    from metasync_llm.attachments import Attachment as Attachment  # noqa: PLC0414
    from metasync_llm.attachments import AttachmentRules as AttachmentRules  # noqa: PLC0414
    from metasync_llm.request import *  # noqa: F403
    from metasync_llm.result import *  # noqa: F403

__getattr__, __dir__ = lazy_exports(globals(), _SOURCES)
