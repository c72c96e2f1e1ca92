"""Endpoints that refuse a schema sent natively, remembered for the life of the process.

Servers that speak an API but not its ``json_schema`` response format (llama-cpp-python's
server answers HTTP 500 "Input should be 'text' or 'json_object'") refuse the request as it
stands, so retrying it cannot help. ``_run`` asks once more with the schema told to the
model in the system prompt (``_outcome.without_native_schema``), and ``_prepare`` tells
every later call to that endpoint the same way.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from metasync_llm._log import get_logger
from metasync_llm.errors import MetasyncLLMError

logger = get_logger("metasync_llm.connector")

#: Endpoints (SDK, URL) seen refusing a native schema.
_REFUSED: set[tuple[str, str]] = set()
_REFUSAL = re.compile(
    r"(?i)'text' or 'json_object'"
    r"|(json_schema|response_format).{0,80}(not supported|unsupported|not implemented)"
    r"|(not supported|unsupported|not implemented).{0,80}(json_schema|response_format)"
)


def _endpoint(sdk: str, config: Mapping[str, Any]) -> tuple[str, str]:
    return sdk, str(config.get("endpoint", ""))


def known_to_refuse(sdk: str, config: Mapping[str, Any]) -> bool:
    """Whether this endpoint was seen refusing a native schema."""
    return _endpoint(sdk, config) in _REFUSED


def is_refusal(error: MetasyncLLMError) -> bool:
    """Whether ``error`` (of a call that sent its schema natively) says the server does not
    take native schemas."""
    return error.status in (400, 422, 500, 501) and _REFUSAL.search(str(error)) is not None


def remember(sdk: str, model: str, config: Mapping[str, Any]) -> None:
    """This endpoint refuses native schemas: later calls tell the model instead."""
    key = _endpoint(sdk, config)
    if key not in _REFUSED:
        _REFUSED.add(key)
        logger.info(
            "%s model %r: the endpoint refuses native schemas; the schema goes in the prompt",
            sdk,
            model,
        )


def told(system: str, instruction: str) -> str:
    """The system prompt with the schema's instruction after it."""
    return f"{system}\n\n{instruction}" if system else instruction
