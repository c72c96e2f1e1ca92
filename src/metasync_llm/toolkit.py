"""What an SDK plugin takes from the core, each name imported on its first use.

Discovery imports every plugin module at every process start. A plugin that imports its
helpers from their modules makes every start pay for them; one that writes
``from metasync_llm import toolkit`` and calls ``toolkit.check_config(...)`` pays when it
first answers a call, and nothing more afterwards (the name is then a module attribute).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from metasync_llm._lazy import lazy_attributes

if TYPE_CHECKING:
    from metasync_llm import errors
    from metasync_llm.chat import (
        chat_messages,
        connect_timeout_of,
        extra_body,
        require_text,
        sampling_options,
        timeout_of,
        total_of,
        usage_count,
    )
    from metasync_llm.clients import AsyncClientCache, ClientCache, client_key
    from metasync_llm.errors import sdk_errors
    from metasync_llm.model import check_config, is_number, require_fields
    from metasync_llm.result import Completion, StreamEnd

__all__ = [
    "AsyncClientCache",
    "ClientCache",
    "Completion",
    "StreamEnd",
    "chat_messages",
    "check_config",
    "client_key",
    "connect_timeout_of",
    "errors",
    "extra_body",
    "is_number",
    "require_fields",
    "require_text",
    "sampling_options",
    "sdk_errors",
    "timeout_of",
    "total_of",
    "usage_count",
]

# name -> the module that defines it ("errors" is that module itself)
_SOURCES = {
    "chat_messages": "metasync_llm.chat",
    "connect_timeout_of": "metasync_llm.chat",
    "extra_body": "metasync_llm.chat",
    "require_text": "metasync_llm.chat",
    "sampling_options": "metasync_llm.chat",
    "timeout_of": "metasync_llm.chat",
    "total_of": "metasync_llm.chat",
    "usage_count": "metasync_llm.chat",
    "AsyncClientCache": "metasync_llm.clients",
    "ClientCache": "metasync_llm.clients",
    "client_key": "metasync_llm.clients",
    "errors": "metasync_llm.errors",
    "sdk_errors": "metasync_llm.errors",
    "check_config": "metasync_llm.model",
    "is_number": "metasync_llm.model",
    "require_fields": "metasync_llm.model",
    "Completion": "metasync_llm.result",
    "StreamEnd": "metasync_llm.result",
}


__getattr__, __dir__ = lazy_attributes(globals(), _SOURCES)
